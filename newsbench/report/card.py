"""The dataset card of generated data, as the report reads it: planted per-category weights and oracle metrics."""

from __future__ import annotations

import json
from pathlib import Path

from newsbench import stats
from newsbench.config import REAL_MODALITIES
from newsbench.errors import InputError


_SIGNALS = (("popularity", "id"), ("pop", "id"), ("id", "id"), ("topic", "llm"), ("text", "llm"), ("llm", "llm"),
            ("semantic", "llm"), ("community", "gnn"), ("graph", "gnn"), ("entit", "gnn"), ("gnn", "gnn"))


def _signal_modality(name: str) -> str | None:
    name = name.lower()
    for prefix, mod in _SIGNALS:
        if name.startswith(prefix):
            return mod
    return None


def _parse_weight_map(obj, normalise: bool = True) -> dict[str, dict[str, float]]:
    if isinstance(obj, list):   # [{"category": c, "popularity": w, ...}, ...]
        obj = {d.get("category") or d.get("name"): d for d in obj if isinstance(d, dict)}
    if not isinstance(obj, dict):
        return {}
    out = {}
    for cat, w in obj.items():
        if isinstance(w, dict) and isinstance(w.get("weights"), (dict, list)):
            w = w["weights"]
        if isinstance(w, list) and len(w) == len(REAL_MODALITIES) and all(isinstance(x, (int, float)) for x in w):
            w = dict(zip(REAL_MODALITIES, w))      # planted signals: the real modalities (no placebo)
        if not isinstance(w, dict):
            continue
        mods = {}
        for k, v in w.items():
            mod = _signal_modality(str(k))
            if mod and isinstance(v, (int, float)) and mod not in mods:
                mods[mod] = float(v)
        if len(mods) >= 2 and cat is not None:
            total = sum(mods.values())
            out[str(cat)] = {m: v / total for m, v in mods.items()} if total > 0 and normalise else mods
    return out


def planted_weights(card: dict | None, normalise: bool = True) -> dict[str, dict[str, float]]:
    """Category -> {modality: planted weight, normalised to sum 1 unless `normalise` is False} from a dataset card;
    {} when absent. (Attribution is held against the weights as planted: dividing a row by its sum would reorder a
    modality's weight across categories.)

    The generator's signals map to the modality that can carry them: popularity -> id, topic -> llm (text),
    community -> gnn (graph). Accepts a few spellings, as the card format may evolve.
    """
    if not isinstance(card, dict):
        return {}
    keys = ("modality_weights", "category_weights", "signal_weights", "planted_weights", "weights", "categories",
            "signals")
    for k in keys:
        parsed = _parse_weight_map(card.get(k), normalise)
        if parsed:
            return parsed
    for v in card.values():
        if isinstance(v, dict):
            for k in keys:
                parsed = _parse_weight_map(v.get(k), normalise)
                if parsed:
                    return parsed
    return {}


_ORACLE_NAMES = {"utility": "oracle: true utility",
                 "utility_seen_popularity": "oracle: warm popularity only",
                 "random": "random ranking"}


_REFERENCE_ORDER = ("oracle", "oracle_global", "learnable_ceiling", "learnable_ceiling_global", "ceiling_topic",
                    "ceiling_community", "ceiling_popularity", "text_centroid", "graph_centroid", "random")


def _metric_dict(obj) -> dict[str, float]:
    out = {}
    for k, v in (obj or {}).items():
        try:
            out[stats.metric_name(str(k))] = float(v)
        except (ValueError, TypeError):
            pass
    return out


def oracle_rows(card: dict | None, part: str = "overall") -> list[tuple[str, dict[str, float]]]:
    """Reference rows from a dataset card as (name, {metric: value}); [] when absent.

    `part`: "overall", or "cold" / "warm" for the metrics over only the cold or warm candidates of each impression
    (a version-2 card's `reference_dev` only; an older card has no such part and gives []).

    A version-2 card's `reference_dev` gives every reference scorer (ceilings, single-signal references, floors), each named "kind: label"; an older card's `oracle_dev` gives the oracle ceilings (the true
    utility, with and without the popularity of cold news) and the random floor."""
    if not isinstance(card, dict):
        return []
    ref = card.get("reference_dev")
    if isinstance(ref, dict) and ref:
        rows = []
        # The card's JSON keys are sorted: put ceilings first, floors last, any unknown name after them.
        names = [n for n in _REFERENCE_ORDER if n in ref] + sorted(n for n in ref if n not in _REFERENCE_ORDER)
        for entry in (ref[n] for n in names):
            m = _metric_dict(entry.get(part)) if isinstance(entry, dict) else {}
            if m:
                rows.append((f"{entry.get('kind', 'reference')}: {entry.get('label', '?')}", m))
        if rows or part != "overall":
            return rows
    if part != "overall":
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


def adaptivity_note(card: dict | None) -> str | None:
    """One sentence with the card's value of adaptivity (per-category weights minus one global weight row, mean
    paired per-impression dev AUC difference +- its standard error); None when the card has none."""
    v = card.get("value_of_adaptivity") if isinstance(card, dict) else None
    if not isinstance(v, dict):
        return None
    parts = []
    for key, name in (("oracle", "the oracle"), ("learnable_ceiling", "the learnable ceiling")):
        e = v.get(key)
        if isinstance(e, dict) and isinstance(e.get("auc"), (int, float)) and isinstance(e.get("se"), (int, float)):
            parts.append(f"{name} {e['auc']:+.4f} AUC (SE {e['se']:.4f}, {e.get('n', '?')} impressions)")
    if not parts:
        return None
    return ("Value of adaptivity in the data (per-category planted weights minus the best single global weight row "
            "fitted on train, paired per impression): " + "; ".join(parts) + ".")


def oracle_metrics(card: dict | None) -> dict[str, float]:
    """The first oracle row's metrics (the ceiling); {} when the card has none."""
    rows = oracle_rows(card)
    return rows[0][1] if rows else {}


def read_card(path) -> dict:
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--card {path}: is a folder; give its dataset_card.json (or -d {path} for a data "
                         f"folder)")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("dataset card not found", file=path) from None
    except OSError as err:
        raise InputError(f"unreadable dataset card: {err.strerror or err}", file=path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not a JSON dataset card: {err}", file=path) from None


def folder_fingerprint(folder) -> str | None:
    """The dataset fingerprint of a MIND folder, as `load_dataset` computes it (file hashes reused from the cache's
    memo); None when `folder` is not a data folder."""
    from newsbench import paths
    from newsbench.data import arrays, mind

    try:
        files = mind.input_files(Path(folder))
        hashes, fresh = arrays.file_hashes(files, paths.cache_dir())
    except (InputError, OSError):
        return None
    arrays.remember_hashes(paths.cache_dir(), fresh)
    return mind.dataset_fingerprint(hashes)


def find_card(fingerprint: str, cache_dir=None) -> dict | None:
    """The dataset card of the data with this fingerprint, found where `ablate` gets it (`Dataset.card`): the
    dataset cache's entry for the fingerprint (written when the data was first read, by any command), else a
    generated dataset in the cache's synth/ folder (the demo data). None when neither holds it: a dataset without
    a card (MIND), or a cache that never saw the data (then -d DATA or --card PATH gives it)."""
    from newsbench import paths

    root = paths.cache_dir(cache_dir)
    for meta in sorted((root / "datasets" / fingerprint).glob("*.json")):
        try:
            entry = json.loads(meta.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(entry, dict) and entry.get("fingerprint") == fingerprint and "card" in entry:
            return entry["card"] if isinstance(entry["card"], dict) else None
    for card in sorted((root / "synth").glob("*/dataset_card.json")):
        if folder_fingerprint(card.parent) == fingerprint:
            return read_card(card)
    return None
