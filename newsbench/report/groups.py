"""Loading a results folder into groups: runs that differ only by seed form one `Group` (the record's `group` key).

Runs from datasets with different fingerprints are never paired: `load_groups` refuses, or `dataset=` picks one.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsbench import stats, store
from newsbench.config import FUSIONS, MODALITIES, NO_FUSION
from newsbench.errors import InputError


@dataclass
class Group:
    """Runs of one configuration over seeds."""

    key: str
    label: str
    records: list[dict]
    runs: stats.RunGroup

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.records[0]["config"]["modalities"])

    @property
    def fusion(self) -> str:
        return self.records[0]["config"]["fusion"]

    @property
    def seeds(self) -> list[int]:
        return [r["config"]["seed"] for r in self.records]

    def values(self, path: tuple[str, ...]) -> np.ndarray:
        """One number per seed found at `path` in each record (NaN where absent)."""
        out = []
        for r in self.records:
            v = r
            for k in path:
                v = v.get(k) if isinstance(v, dict) else None
            out.append(math.nan if v is None else float(v))
        return np.asarray(out, dtype=np.float64)

    def sort_key(self):
        mods = tuple(MODALITIES.index(m) for m in self.modalities)
        fus = -1 if self.fusion == NO_FUSION else (FUSIONS.index(self.fusion) if self.fusion in FUSIONS else 99)
        return (len(mods), mods, fus, self.label)


def load_groups(results_dir, dataset: str | None = None) -> tuple[list[Group], list[dict]]:
    """Complete records of one dataset grouped by configuration; refuses to mix dataset fingerprints."""
    results_dir = Path(results_dir)
    records = store.load_records(results_dir)
    if not records:
        raise InputError(f"no run records in {results_dir}")
    if dataset:
        chosen = [r for r in records if r["dataset"]["fingerprint"].startswith(dataset)
                  or r["dataset"].get("name") == dataset]
        if not chosen:
            raise InputError(f"no run records of dataset {dataset!r}; present: {_datasets_summary(records)}",
                             file=results_dir)
        records = chosen
    fingerprints = {r["dataset"]["fingerprint"] for r in records}
    if len(fingerprints) > 1:
        raise InputError(
            f"refusing to pair runs on different datasets (fingerprints differ): {_datasets_summary(records)}; "
            f"choose one with --dataset FINGERPRINT or NAME", file=results_dir)
    by_key: dict[str, list[dict]] = {}
    for r in records:
        by_key.setdefault(r["group"], []).append(r)
    label_count: dict[str, int] = {}
    for recs in by_key.values():
        label_count[recs[0]["label"]] = label_count.get(recs[0]["label"], 0) + 1
    groups = []
    for key, recs in by_key.items():
        recs = sorted(recs, key=lambda r: r["config"]["seed"])
        label = recs[0]["label"]
        if label_count[label] > 1:
            # Two configurations with the same modalities and fusion but other hyper-parameters: keep them apart.
            label = f"{label} [{key[:6]}]"
        runs = {}
        for r in recs:
            npz = store.record_paths(results_dir, r["run_id"])[1]
            if not npz.is_file():
                raise InputError("run record has no per-impression array file", file=npz)
            runs[r["config"]["seed"]] = _checked_arrays(
                lambda: store.load_arrays(results_dir, r["run_id"]), npz, "per-impression array file", "array file")
        groups.append(Group(key, label, recs, stats.RunGroup(label, runs)))
    return sorted(groups, key=Group.sort_key), records


def _datasets_summary(records: list[dict]) -> str:
    seen: dict[str, list] = {}
    for r in records:
        fp = r["dataset"]["fingerprint"]
        seen.setdefault(fp, [r["dataset"].get("name", "?"), 0])[1] += 1
    return ", ".join(f"{fp} ({name}, {n} runs)" for fp, (name, n) in sorted(seen.items()))


@dataclass
class Reference:
    """A data-derived baseline of the same dataset (newsbench.baselines): one deterministic scoring, no seeds."""

    label: str
    record: dict
    runs: stats.RunGroup


# A baseline is one deterministic scoring: it goes into the tests as a one-run group under a seed no model has, so
# the impression level pairs it with every model and the seed level, which pairs by seed, has no pairs (n/a).
REFERENCE_SEED = -1


def load_references(results_dir, fingerprint: str) -> list[Reference]:
    """The baselines recorded in RESULTS/baselines/ for this dataset fingerprint (by `newsbench baselines --results`
    or `ablate`), labelled "baseline: <name>"; duplicate labels (other feature settings) get their id appended."""
    from newsbench import baselines

    results_dir = Path(results_dir)
    recs = baselines.load_baselines(results_dir, fingerprint)
    count: dict[str, int] = {}
    for r in recs:
        count[r["label"]] = count.get(r["label"], 0) + 1
    out = []
    for r in recs:
        label = f"baseline: {r['label']}" + (f" [{r['baseline_id'][:6]}]" if count[r["label"]] > 1 else "")
        npz = baselines.baseline_paths(results_dir, r["baseline_id"])[1]
        arrays = _checked_arrays(lambda: baselines.load_baseline_arrays(results_dir, r["baseline_id"]), npz,
                                 "baseline array file", "baseline array file")
        out.append(Reference(label, r, stats.RunGroup(label, {REFERENCE_SEED: arrays})))
    return out


def _checked_arrays(load, npz, name: str, short: str) -> dict:
    """`load()`'s per-impression arrays (run record or baseline), with an unreadable file or a missing array named
    as one InputError on `npz`."""
    try:
        arrays = load()
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise InputError(f"unreadable {name}: {err}", file=npz) from None
    missing = [k for k in ("impression_id", *stats.METRIC_ARRAYS.values()) if k not in arrays]
    if missing:
        raise InputError(f"{short} lacks {', '.join(missing)}", file=npz)
    return arrays
