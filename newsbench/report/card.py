"""The dataset card of generated data, as the report reads it: planted per-category weights and oracle metrics."""

from __future__ import annotations

import json
from pathlib import Path

from newsbench import stats
from newsbench.config import MODALITIES
from newsbench.errors import InputError


_SIGNALS = (("popularity", "id"), ("pop", "id"), ("id", "id"), ("topic", "llm"), ("text", "llm"), ("llm", "llm"),
            ("semantic", "llm"), ("community", "gnn"), ("graph", "gnn"), ("entit", "gnn"), ("gnn", "gnn"))


def _signal_modality(name: str) -> str | None:
    name = name.lower()
    for prefix, mod in _SIGNALS:
        if name.startswith(prefix):
            return mod
    return None


def _parse_weight_map(obj) -> dict[str, dict[str, float]]:
    if isinstance(obj, list):   # [{"category": c, "popularity": w, ...}, ...]
        obj = {d.get("category") or d.get("name"): d for d in obj if isinstance(d, dict)}
    if not isinstance(obj, dict):
        return {}
    out = {}
    for cat, w in obj.items():
        if isinstance(w, dict) and isinstance(w.get("weights"), (dict, list)):
            w = w["weights"]
        if isinstance(w, list) and len(w) == len(MODALITIES) and all(isinstance(x, (int, float)) for x in w):
            w = dict(zip(MODALITIES, w))
        if not isinstance(w, dict):
            continue
        mods = {}
        for k, v in w.items():
            mod = _signal_modality(str(k))
            if mod and isinstance(v, (int, float)) and mod not in mods:
                mods[mod] = float(v)
        if len(mods) >= 2 and cat is not None:
            total = sum(mods.values())
            out[str(cat)] = {m: v / total for m, v in mods.items()} if total > 0 else mods
    return out


def planted_weights(card: dict | None) -> dict[str, dict[str, float]]:
    """Category -> {modality: planted weight, normalised to sum 1} from a dataset card; {} when absent.

    The generator's signals map to the modality that can carry them: popularity -> id, topic -> llm (text),
    community -> gnn (graph). Accepts a few spellings, as the card format may evolve.
    """
    if not isinstance(card, dict):
        return {}
    keys = ("modality_weights", "category_weights", "signal_weights", "planted_weights", "weights", "categories",
            "signals")
    for k in keys:
        parsed = _parse_weight_map(card.get(k))
        if parsed:
            return parsed
    for v in card.values():
        if isinstance(v, dict):
            for k in keys:
                parsed = _parse_weight_map(v.get(k))
                if parsed:
                    return parsed
    return {}


_ORACLE_NAMES = {"utility": "oracle: true utility",
                 "utility_seen_popularity": "oracle: warm popularity only",
                 "random": "random ranking"}


def _metric_dict(obj) -> dict[str, float]:
    out = {}
    for k, v in (obj or {}).items():
        try:
            out[stats.metric_name(str(k))] = float(v)
        except (ValueError, TypeError):
            pass
    return out


def oracle_rows(card: dict | None) -> list[tuple[str, dict[str, float]]]:
    """Reference rows from a dataset card: the oracle ceilings (ranking by the true utility, with and without the
    popularity of cold news) and the random floor, as (name, {metric: value}); [] when absent."""
    if not isinstance(card, dict):
        return []
    obj = card.get("oracle_dev") or card.get("oracle") or card.get("oracle_metrics")
    if not isinstance(obj, dict):
        return []
    if isinstance(obj.get("dev"), dict):
        obj = obj["dev"]
    flat = _metric_dict(obj)
    if flat:
        return [("oracle (dataset card)", flat)]
    rows = []
    for key, name in _ORACLE_NAMES.items():
        m = _metric_dict(obj.get(key)) if isinstance(obj.get(key), dict) else {}
        if m:
            rows.append((name, m))
    return rows


def oracle_metrics(card: dict | None) -> dict[str, float]:
    """The first oracle row's metrics (the ceiling); {} when the card has none."""
    rows = oracle_rows(card)
    return rows[0][1] if rows else {}


def read_card(path) -> dict:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("dataset card not found", file=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not a JSON dataset card: {err}", file=path) from None
