"""Loading a results folder into groups: runs that differ only by seed form one `Group` (the record's `group` key).

Runs from datasets with different fingerprints are never paired: `load_groups` refuses, or a `Selection` picks one
(and, if asked, some configurations and seeds). Groups that share a label are labelled by the options that differ.
"""

from __future__ import annotations

import json
import math
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsbench import stats, store
from newsbench.config import FUSIONS, MODALITIES, NO_FUSION
from newsbench.errors import InputError
from newsbench.inputs import content_identity
from newsbench.options import RUN_OPTIONS, SPECS, identity_fields


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


@dataclass(frozen=True)
class Selection:
    """Which records of a results folder a report covers (all by default).

    fingerprint: a dataset fingerprint or its prefix, or a dataset name; configs: configuration labels as the
    report prints them (`id+llm/gate`, or `id [epochs=2]` for one of several `id` rows); seeds: seeds to keep.
    """

    fingerprint: str | None = None
    configs: tuple[str, ...] = ()
    seeds: tuple[int, ...] = ()
    flag: str = ""                     # how messages name the option that set `fingerprint`
    groups: tuple[str, ...] = ()       # only these group keys (report --tuned: the tuned runs), labelled among them


def load_groups(results_dir, dataset: str | None = None,
                selection: Selection | None = None) -> tuple[list[Group], list[dict]]:
    """Complete records of one dataset grouped by configuration; refuses to mix dataset fingerprints.

    `dataset` (kept for callers of the former signature) is `selection.fingerprint`."""
    results_dir = Path(results_dir)
    sel = selection or Selection()
    if dataset and not sel.fingerprint:
        sel = Selection(dataset, sel.configs, sel.seeds, sel.flag, sel.groups)
    records = store.load_records(results_dir)
    if not records:
        raise InputError(f"no run records in {results_dir}")
    if sel.fingerprint:
        chosen = [r for r in records if r["dataset"]["fingerprint"].startswith(sel.fingerprint)
                  or r["dataset"].get("name") == sel.fingerprint]
        if not chosen:
            raise InputError(f"{sel.flag or '--fingerprint ' + sel.fingerprint}: no run records of this dataset in "
                             f"{results_dir}; present: {_datasets_summary(records)}")
        records = chosen
    fingerprints = {r["dataset"]["fingerprint"] for r in records}
    if len(fingerprints) > 1:
        raise InputError(
            f"refusing to pair runs on different datasets (fingerprints differ): {_datasets_summary(records)}; "
            f"choose one with -d DATA or --fingerprint FINGERPRINT", file=results_dir)
    if sel.seeds:
        present = sorted({r["config"]["seed"] for r in records})
        missing = [s for s in sel.seeds if s not in present]
        if missing:
            raise InputError(f"--seeds: no run of seed {', '.join(map(str, missing))} in {results_dir}; seeds "
                             f"present: {', '.join(map(str, present))}")
        records = [r for r in records if r["config"]["seed"] in sel.seeds]
    by_key: dict[str, list[dict]] = {}
    for r in records:
        if not sel.groups or r["group"] in sel.groups:
            by_key.setdefault(r["group"], []).append(r)
    if not by_key:
        raise InputError(f"none of the selected runs is in {results_dir}")
    records = [r for recs in by_key.values() for r in recs]
    labels = group_labels({key: recs[0] for key, recs in by_key.items()})
    if sel.configs:
        keep = select_configs(sel.configs, labels, {key: recs[0]["label"] for key, recs in by_key.items()})
        by_key = {key: recs for key, recs in by_key.items() if key in keep}
        records = [r for recs in by_key.values() for r in recs]
    groups = []
    for key, recs in by_key.items():
        recs = sorted(recs, key=lambda r: r["config"]["seed"])
        label = labels[key]
        runs = {}
        for r in recs:
            npz = store.record_paths(results_dir, r["run_id"])[1]
            if not npz.is_file():
                raise InputError("run record has no per-impression array file", file=npz)
            runs[r["config"]["seed"]] = _checked_arrays(
                lambda: store.load_arrays(results_dir, r["run_id"]), npz, "per-impression array file", "array file")
        groups.append(Group(key, label, recs, stats.RunGroup(label, runs)))
    records = sorted(records, key=lambda r: (r["label"], r["config"]["seed"], r["run_id"]))
    return sorted(groups, key=Group.sort_key), records


def group_labels(first: dict[str, dict]) -> dict[str, str]:
    """Group key -> the label the report prints. Configurations that share a label (same modalities and fusion,
    other settings) are told apart by the options that differ, as the command line spells them:
    `id [epochs=1]`, `id [epochs=2]`, or by the input whose bytes differ (`llm [emb.npy 1738f7cd]`); by the group
    key's first digits only when nothing recorded differs."""
    by_label: dict[str, list[str]] = {}
    for key, rec in first.items():
        by_label.setdefault(rec["label"], []).append(key)
    out = {}
    for label, keys in by_label.items():
        if len(keys) == 1:
            out[keys[0]] = label
            continue
        # By content: two runs of one `file:` path that read other bytes differ by their inputs (newsbench.inputs)
        fields = {k: content_identity(identity_fields(first[k]["config"]), first[k].get("inputs") or {})
                  for k in keys}
        names = sorted({f for d in fields.values() for f in d} - {"seed"}, key=_option_order)
        differ = [f for f in names if len({json.dumps(d.get(f), sort_keys=True) for d in fields.values()}) > 1]
        ins = {k: first[k].get("inputs") or {} for k in keys}
        roles = sorted(r for r in {r for d in ins.values() for r in d}
                       if len({(d.get(r) or {}).get("sha256") for d in ins.values()}) > 1)
        for k in keys:
            parts = [_inputs_text({r: ins[k][r] for r in roles if r in ins[k]}) if f == "inputs"
                     else f"{option_name(f)}={_option_value(fields[k].get(f))}" for f in differ]
            out[k] = f"{label} [{', '.join(parts)}]" if parts else f"{label} [{k[:6]}]"
        if len(set(out[k] for k in keys)) < len(keys):      # two settings that print alike: keep them apart
            for k in keys:
                out[k] = f"{out[k][:-1]}, {k[:6]}]"
    return out


def _inputs_text(inputs: dict[str, dict]) -> str:
    """`emb.npy 1738f7cd`: each input (of those that differ) by its file name and the head of its sha256, as the
    baselines' labels name it."""
    return ", ".join(f"{Path(d['path']).name} {d['sha256'][:8]}" for _, d in sorted(inputs.items())) or "no inputs"


def option_name(field: str) -> str:
    """The option's flag without dashes (`graph_mode` for the field `graph`), or the field's name."""
    spec = SPECS.get(field)
    return spec.flag.lstrip("-") if spec else field


def _option_order(field: str) -> tuple[int, str]:
    order = [s.field for s in RUN_OPTIONS]
    return (order.index(field) if field in order else len(order), field)


def _option_value(v) -> str:
    return "default" if v is None else str(v)


def select_configs(wanted: tuple[str, ...], labels: dict[str, str], base: dict[str, str]) -> set[str]:
    """Group keys named by `wanted`: a printed label (`id [epochs=2]`) picks one group, a plain label (`id`) every
    group of that label. InputError naming what the folder holds otherwise."""
    keep = set()
    for name in wanted:
        hit = {k for k, lab in labels.items() if lab == name} or {k for k, lab in base.items() if lab == name}
        if not hit:
            present = sorted(set(labels.values()), key=lambda s: (s.count("+"), s))
            raise InputError(f"--configs: no configuration {name!r} in the results; present: {', '.join(present)}")
        keep |= hit
    return keep


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
