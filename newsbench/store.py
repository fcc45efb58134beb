"""The results folder: one record per run, written atomically, loaded into pandas.

Layout: `<results>/runs/<run_id>.npz` (per-impression arrays) then `<results>/runs/<run_id>.json` (everything
else). The JSON is written last, so its presence means the run is complete; a run killed before that leaves at most
an orphan `.npz` or a `.tmp-*` file, both ignored and overwritten by the rerun.

Record JSON keys (schema 1): run_id, schema, config (RunConfig.to_dict()), label, group, inputs {role: {path, size,
sha256}} (what the run read beyond its dataset, newsbench.inputs; {} for most runs, absent in older records), dataset
{name, fingerprint,
n_train_impressions, n_dev_impressions, n_news}, metrics {auc, mrr, ndcg@5, ndcg@10} (means over dev impressions),
metrics_by {category: {name: {auc, mrr, ndcg@5, ndcg@10, n}}, cold: {auc, n}, warm: {auc, n}}, beyond {k, metrics
{ild-cat@5, ..., coverage@10}, embedding, coverage_resamples, coverage_seed} (newsbench.beyond; absent in older
records), params {...},
flops_per_news, timings {epoch_seconds [..], seconds_per_epoch, samples_per_second, eval_seconds, peak_rss_mb,
cuda_max_allocated_mb, attribution_seconds, beyond_seconds},
train_loss [..], features {...}, weights {modalities [..], categories
[..]} (gate/attention only), attribution {modalities, all, cold, warm, category {cat: {modality: AUC lost}}, n} (runs
of 2+ modalities, newsbench.attribution; else null), environment {newsbench, torch, numpy, python, platform,
device}, created.

Data-derived baselines (newsbench.baselines) live beside the runs in `<results>/baselines/<baseline_id>.json|.npz`,
same writing order, same per-impression array names.

Record arrays (npz): impression_id, user (the dataset's user code of the impression; absent in older records), auc,
mrr, ndcg5, ndcg10 (float64, one per dev impression, NaN where a metric is undefined), auc_cold, auc_warm (per
impression over cold / warm candidates only), the beyond-accuracy arrays ild_cat5, ild_emb5, novelty5, unexp5,
calib5, ild_cat_norm5, novelty_norm5, unexp_norm5 and the same with 10 (per impression; the normalised ones absent
in records of the first version, ild_cat_norm in those of the second too), coverage5/10 (1,) and coverage5/10_boot
(replicates; all absent in older records), and for gate/attention weights_by_category (n_categories x k),
weights_count (n_categories,), weights_cold_warm (2 x k).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from newsbench import atomic
from newsbench.errors import InputError

RUNS = "runs"


def runs_dir(results: str | os.PathLike) -> Path:
    return Path(results) / RUNS


def record_paths(results: str | os.PathLike, run_id: str) -> tuple[Path, Path]:
    d = runs_dir(results)
    return d / f"{run_id}.json", d / f"{run_id}.npz"


def is_done(results: str | os.PathLike, run_id: str) -> bool:
    """A complete, readable record: its JSON parses and names this run, and its array file opens."""
    return record_state(results, run_id) == "done"


def record_state(results: str | os.PathLike, run_id: str) -> str:
    """'done', 'missing' (no JSON), or 'damaged' (a JSON that does not parse, or no readable .npz beside it: edited,
    truncated by a full disk, or half-copied). A damaged run counts as not done, so ablate and train redo it."""
    if not record_paths(results, run_id)[0].is_file():
        return "missing"
    return "done" if damage(results, run_id) is None else "damaged"


def damage(results: str | os.PathLike, run_id: str) -> str | None:
    """What is wrong with a run's record, in a few words; None when it is complete."""
    json_path, npz_path = record_paths(results, run_id)
    try:
        record = json.loads(json_path.read_text())
    except FileNotFoundError:
        return "no .json"
    except (OSError, ValueError, UnicodeDecodeError):
        return "the .json does not parse"
    if not isinstance(record, dict) or record.get("run_id") != run_id:
        return "the .json is not this run's record"
    try:
        # Reads the zip's directory only: cheap, and it fails for a truncated file.
        with zipfile.ZipFile(npz_path) as z:
            if "auc.npy" not in z.namelist():
                return "the .npz lacks the per-impression arrays"
    except FileNotFoundError:
        return "no .npz"
    except (OSError, zipfile.BadZipFile):
        return "the .npz does not open"
    return None


def write_pair(json_path: Path, npz_path: Path, record: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Arrays first, JSON last, each atomically: a JSON present means a complete record. Returns the JSON path."""
    with atomic.atomic_path(npz_path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    atomic.write_json(json_path, record)
    return json_path


def save_record(results: str | os.PathLike, record: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Write one run (`write_pair`). Returns the JSON path."""
    return write_pair(*record_paths(results, record["run_id"]), record, arrays)


def load_record(results: str | os.PathLike, run_id: str) -> dict:
    return _read_json(record_paths(results, run_id)[0])


def load_arrays(results: str | os.PathLike, run_id: str) -> dict[str, np.ndarray]:
    with np.load(record_paths(results, run_id)[1]) as z:
        return {k: z[k] for k in z.files}


def load_records(results: str | os.PathLike) -> list[dict]:
    """Every complete record in the results folder `results` (the one holding runs/), sorted by (label, seed).

    [] when there is no runs/ folder yet; InputError when `results` is a runs/ folder itself (its records would
    otherwise be silently missed)."""
    d = runs_dir(results)
    if not d.is_dir():
        if _holds_records(Path(results)):
            raise InputError(f"{results}: holds run records itself, as a runs/ folder does; give the results folder "
                             f"that holds runs/ ({Path(results).parent})")
        return []
    recs = [_read_json(p) for p in sorted(d.glob("*.json")) if not p.name.startswith(atomic.TMP_PREFIX)]
    return sorted(recs, key=lambda r: (r["label"], r["config"]["seed"], r["run_id"]))


def _holds_records(folder: Path) -> bool:
    """A folder with run records directly in it (a runs/ folder given in place of its results folder)."""
    if not folder.is_dir():
        return False
    return any(p.with_suffix(".npz").is_file() for p in folder.glob("*.json")
               if not p.name.startswith(atomic.TMP_PREFIX))


def _read_json(path: Path) -> dict:
    # Records are written atomically, so a bad one was edited or damaged by hand: name it rather than crash.
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"corrupt run record ({err}); delete it and rerun to redo that run", file=path) from None


def varying_fields(records: list[dict]) -> list[str]:
    """The configuration fields whose values differ between `records` (seed, modalities and fusion aside: the
    label and the seed column show them), in the order of RunConfig's fields."""
    from newsbench.options import identity_fields

    # A field a run ignores (the text encoder of an id-only run) is not in its identity and does not count.
    idents = [identity_fields(r["config"]) for r in records]
    names = list(dict.fromkeys(f for d in idents for f in d))
    return [f for f in names if f not in ("seed", "modalities", "fusion")
            and len({json.dumps(d[f], sort_keys=True) for d in idents if f in d}) > 1]


def records_frame(records: list[dict]) -> pd.DataFrame:
    """One row per run: run_id, label, group, seed, modalities, fusion, dataset fingerprint, the configuration
    fields that vary between the records, the four metrics, params, FLOPs and timings.

    `records_frame(load_records("results"))` is the per-run table of `newsbench report --table runs` as a pandas
    DataFrame (the report's `runs.csv` holds the same numbers)."""
    from newsbench.options import identity_fields

    varying = varying_fields(records)
    rows = []
    for r in records:
        timings = r.get("timings") or {}
        rows.append({
            "run_id": r["run_id"],
            "label": r["label"],
            "group": r["group"],
            "seed": r["config"]["seed"],
            "modalities": "+".join(r["config"]["modalities"]),
            "fusion": r["config"]["fusion"],
            "fingerprint": r["dataset"]["fingerprint"],
            **{f: identity_fields(r["config"]).get(f) for f in varying},     # None: a field this run ignores
            **{k: v for k, v in r["metrics"].items()},
            "params_total": r["params"].get("total"),
            "params_fusion": r["params"].get("fusion"),
            "flops_per_news": r.get("flops_per_news"),
            "seconds_per_epoch": timings.get("seconds_per_epoch"),
            "eval_seconds": timings.get("eval_seconds"),
            "samples_per_second": timings.get("samples_per_second"),
            "peak_rss_mb": timings.get("peak_rss_mb"),
        })
    return pd.DataFrame(rows)
