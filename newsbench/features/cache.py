"""Cache of frozen feature matrices: `<cache>/features/<key>.npy` plus `<key>.json` (meta with a checksum).

A feature matrix is a pure function of its inputs, so its file is named by a hash of them (`feature_key`). Both files
are written atomically, the matrix first and the meta last: the meta is the commit marker, and a reader trusts a
matrix only when the meta exists and the matrix's shape, dtype and SHA-256 match it. Anything else (a truncated or
corrupt file, a missing meta, a checksum mismatch) is reported with a warning and treated as a miss, so the caller
rebuilds and overwrites it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import numpy as np

from newsbench import atomic
from newsbench.errors import warn
from newsbench.paths import cache_dir as resolve_cache_dir

SUBDIR = "features"


def feature_key(kind: str, parts: dict) -> str:
    """A short stable name for a matrix: `<kind>-<sha256 of the JSON of parts>`."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def array_digest(*arrays: np.ndarray) -> str:
    """SHA-256 of arrays' dtypes, shapes and bytes: a content hash for cache keys."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def paths(key: str, cache_dir: str | os.PathLike | None = None) -> tuple[Path, Path]:
    """(matrix path, meta path) of a key."""
    folder = resolve_cache_dir(cache_dir) / SUBDIR
    return folder / f"{key}.npy", folder / f"{key}.json"


def load(key: str, cache_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, dict] | None:
    """The cached (matrix, meta) of `key`, or None on a miss. A damaged entry warns and counts as a miss."""
    npy, meta_path = paths(key, cache_dir)
    if not meta_path.exists():
        return None  # never written, or killed before the commit marker: a plain miss
    try:
        meta = json.loads(meta_path.read_text())
        data = npy.read_bytes()
        if hashlib.sha256(data).hexdigest() != meta["sha256"]:
            raise ValueError("checksum mismatch")
        matrix = np.load(io.BytesIO(data), allow_pickle=False)
        if list(matrix.shape) != list(meta["shape"]) or matrix.dtype.name != meta["dtype"]:
            raise ValueError(f"shape/dtype {matrix.shape}/{matrix.dtype} differ from meta")
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as err:
        warn(f"feature cache entry {npy} is damaged ({err}); rebuilding it")
        return None
    return matrix, meta


def save(key: str, matrix: np.ndarray, meta: dict, cache_dir: str | os.PathLike | None = None) -> Path:
    """Write the matrix then its meta (with shape, dtype and checksum added). Returns the matrix path."""
    npy, meta_path = paths(key, cache_dir)
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(matrix), allow_pickle=False)
    data = buf.getvalue()
    atomic.write_bytes(npy, data)
    full = dict(meta)
    full.update(key=key, shape=list(matrix.shape), dtype=matrix.dtype.name, sha256=hashlib.sha256(data).hexdigest())
    atomic.write_json(meta_path, full)
    return npy


def read_meta(key: str, cache_dir: str | os.PathLike | None = None) -> dict | None:
    """The meta of a cached entry without reading (or verifying) the matrix; None when absent or unreadable."""
    _, meta_path = paths(key, cache_dir)
    try:
        return json.loads(meta_path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
