"""The user of each dev impression: the impression-level tests cluster on it (a user's impressions are not
independent).

Run records written since the user-clustered tests carry it: a `user` array (the dataset's user code of each dev
impression) beside `impression_id`. For older records the dataset itself is asked, by the records' fingerprint:
first the parsed-dataset cache (`<cache>/datasets/<fingerprint>/`), then, for generated data, the generator (the
name `<scale>-s<seed>-v<version>` and the fingerprint say exactly which folder, regenerated when absent). When none
of these has it, `impression_users` says why, and the report states that its impression level is not clustered.
"""

from __future__ import annotations

import re

import numpy as np

from newsbench.report.groups import Group

_GENERATED = re.compile(r"^(?P<scale>[a-z]+)-s(?P<seed>\d+)-v(?P<version>\d+)$")


def impression_users(groups: list[Group], records: list[dict],
                     cache_dir=None) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
    """((impression ids, user codes) of the dev split, where they came from) or (None, why not)."""
    runs = [arr for g in groups for arr in g.runs.runs.values()]
    if runs and all("user" in arr for arr in runs):
        ids = np.concatenate([np.asarray(a["impression_id"]) for a in runs])
        users = np.concatenate([np.asarray(a["user"]) for a in runs])
        ids, first = np.unique(ids, return_index=True)
        return (ids, users[first]), "run records"
    ds = records[0]["dataset"]
    fingerprint, name = ds["fingerprint"], str(ds.get("name") or "")
    found = _from_cache(fingerprint, cache_dir)
    if found is not None:
        return found, f"dataset cache ({fingerprint})"
    found = _from_generator(name, fingerprint, cache_dir)
    if found is not None:
        return found, f"generated dataset {name}"
    return None, (f"the run records have no user per impression and dataset {fingerprint} ({name or '?'}) is "
                  f"neither in the dataset cache nor reproducible by the generator")


def _dev_users(ds) -> tuple[np.ndarray, np.ndarray] | None:
    if ds is None or ds.dev is None:
        return None
    return np.asarray(ds.dev.impression_id, dtype=np.int64), np.asarray(ds.dev.user, dtype=np.int64)


def _from_cache(fingerprint: str, cache_dir) -> tuple[np.ndarray, np.ndarray] | None:
    from newsbench import paths
    from newsbench.data import arrays

    root = paths.cache_dir(cache_dir)
    folder = root / "datasets" / fingerprint
    if not folder.is_dir():
        return None
    # The unknown-news mode names the entry; every mode of one input holds the same dev users.
    for meta in sorted(folder.glob("*.json")):
        try:
            found = _dev_users(arrays.load(root, fingerprint, meta.stem))
        except arrays.CorruptCache:
            continue
        if found is not None:
            return found
    return None


def _from_generator(name: str, fingerprint: str, cache_dir) -> tuple[np.ndarray, np.ndarray] | None:
    from newsbench.data import synth
    from newsbench.data.load import load_dataset

    m = _GENERATED.match(name)
    if not m or m["scale"] not in synth.SCALES or int(m["version"]) != synth.GENERATOR_VERSION:
        return None
    path = synth.default_path(cache_dir, scale=m["scale"], seed=int(m["seed"]))
    ds = load_dataset(path, cache_dir, progress=False)
    # Only the very same data: a generator change that kept its version number would show here.
    return _dev_users(ds) if ds.fingerprint == fingerprint else None
