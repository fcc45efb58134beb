"""The parsed-array cache: a Dataset stored as one .npz plus a JSON meta file, keyed by the input fingerprint.

Layout: `<cache>/datasets/<fingerprint>/<unknown_news>.npz` and `.json` (the unknown-news mode is part of the key
because 'drop' can give different arrays than a strict read of the same files). The meta file is written last and
holds the sha256 of the .npz, so a truncated or corrupted cache file is detected on load; the caller then warns and
rebuilds. Strings are stored as one UTF-8 buffer plus int64 offsets (Arrow's layout), so nothing needs pickle.

File fingerprints: each input file's sha256, memoised in `<cache>/datasets/file-hashes.json` under its absolute path,
size and mtime, so an unchanged multi-GB file is not re-read to find its cache entry; any change of size or mtime
rehashes the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa

from newsbench import atomic
from newsbench.data.dataset import Behaviors, Dataset, News
from newsbench.errors import InputError

FORMAT = 1
BEHAVIOR_FIELDS = ("impression_id", "user", "time", "hist_ptr", "hist", "cand_ptr", "cand", "label")
NEWS_ARRAYS = ("category", "subcategory", "entity_ptr", "entity_idx")
NEWS_STRINGS = ("ids", "title", "abstract", "categories", "subcategories", "entities")
MEMO_NAME = "file-hashes.json"


class CorruptCache(Exception):
    """A cache entry that can't be trusted (missing part, checksum mismatch, unreadable)."""


# ------------------------------------------------------------------------------------------------- fingerprints


def hash_file_into(h, path: Path) -> None:
    """Stream a file's bytes into a hashlib object, in blocks (inputs and model weights can be GBs)."""
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    hash_file_into(h, path)
    return h.hexdigest()


def file_hashes(files: dict[str, Path], cache_root: Path) -> tuple[dict[str, str], dict[str, list]]:
    """sha256 per input file, reusing the memo when a file's size and mtime are unchanged.

    Returns (hashes, new memo entries); pass the entries to `remember_hashes` once the data proved valid, so a
    failed validation leaves nothing in the cache.
    """
    memo = _read_memo(cache_root)
    out: dict[str, str] = {}
    fresh: dict[str, list] = {}
    for key, path in files.items():
        st = stat_file(path)
        full = str(Path(path).resolve())
        entry = memo.get(full)
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == [st.st_size, st.st_mtime_ns]:
            out[key] = entry[2]
            continue
        try:
            out[key] = sha256_file(path)
        except OSError as err:
            raise InputError(f"unreadable file ({err.strerror or err})", file=path) from None
        fresh[full] = [st.st_size, st.st_mtime_ns, out[key]]
    return out, fresh


def remember_hashes(cache_root: Path, fresh: dict[str, list]) -> None:
    if not fresh:
        return
    memo = _read_memo(cache_root)
    memo.update(fresh)
    try:
        atomic.write_json(Path(cache_root) / "datasets" / MEMO_NAME, memo)
    except OSError:
        pass  # the memo only saves time; a read-only cache still works


def _read_memo(cache_root: Path) -> dict:
    try:
        memo = json.loads((Path(cache_root) / "datasets" / MEMO_NAME).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def stat_file(path: Path) -> os.stat_result:
    """stat() with the same one-line errors as the reader, so a bad file fails the same way cached or not."""
    path = Path(path)
    if not path.exists():
        raise InputError("missing file", file=path)
    if path.is_dir():
        raise InputError("is a directory, expected a file", file=path)
    if not os.access(path, os.R_OK):
        raise InputError("unreadable file (permission denied)", file=path)
    return path.stat()


# ------------------------------------------------------------------------------------------------------ strings


def pack_strings(values) -> tuple[np.ndarray, np.ndarray]:
    """Strings -> (uint8 UTF-8 buffer, int64 offsets of length n+1), via Arrow's large_string layout."""
    arr = pa.array(np.asarray(values, dtype=object) if len(values) else [], type=pa.large_string())
    if arr.offset != 0:
        arr = pa.concat_arrays([arr])
    _, offsets, data = arr.buffers()
    offs = np.frombuffer(offsets, dtype=np.int64)[: len(arr) + 1].copy()
    buf = np.frombuffer(data, dtype=np.uint8)[: int(offs[-1])].copy() if data is not None else np.zeros(0, np.uint8)
    return buf, offs


def unpack_strings(buf: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of pack_strings: an object array of str."""
    n = len(offsets) - 1
    arr = pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets.astype(np.int64)), pa.py_buffer(buf.tobytes()))
    return np.asarray(arr.to_numpy(zero_copy_only=False), dtype=object)


# ------------------------------------------------------------------------------------------------ save and load


def entry_paths(cache_root: Path, fingerprint: str, unknown_news: str) -> tuple[Path, Path]:
    folder = Path(cache_root) / "datasets" / fingerprint
    return folder / f"{unknown_news}.npz", folder / f"{unknown_news}.json"


def dataset_arrays(ds: Dataset) -> dict[str, np.ndarray]:
    """Flatten a Dataset into named numpy arrays (no object arrays)."""
    out: dict[str, np.ndarray] = {}
    for name in NEWS_ARRAYS:
        out[f"news.{name}"] = np.asarray(getattr(ds.news, name))
    for name in NEWS_STRINGS:
        out[f"news.{name}.buf"], out[f"news.{name}.off"] = pack_strings(getattr(ds.news, name))
    out["users.buf"], out["users.off"] = pack_strings(ds.users)
    for split in ("train", "dev"):
        b = getattr(ds, split)
        if b is not None:
            for name in BEHAVIOR_FIELDS:
                out[f"{split}.{name}"] = np.asarray(getattr(b, name))
    if ds.entity_vectors is not None:
        out["entity_vectors"] = np.asarray(ds.entity_vectors, dtype=np.float32)
    return out


def dataset_from_arrays(arrays, meta: dict) -> Dataset:
    def strings(key: str) -> np.ndarray:
        return unpack_strings(arrays[f"{key}.buf"], arrays[f"{key}.off"])

    news = News(
        ids=strings("news.ids").astype(str),
        category=arrays["news.category"],
        subcategory=arrays["news.subcategory"],
        categories=strings("news.categories").tolist(),
        subcategories=strings("news.subcategories").tolist(),
        title=strings("news.title"),
        abstract=strings("news.abstract"),
        entity_ptr=arrays["news.entity_ptr"],
        entity_idx=arrays["news.entity_idx"],
        entities=strings("news.entities").tolist(),
    )
    splits = {}
    for split in ("train", "dev"):
        if f"{split}.impression_id" in arrays:
            splits[split] = Behaviors(*(arrays[f"{split}.{name}"] for name in BEHAVIOR_FIELDS))
    return Dataset(
        name=meta["name"], fingerprint=meta["fingerprint"], news=news, users=strings("users").astype(str),
        train=splits.get("train"), dev=splits.get("dev"),
        entity_vectors=arrays["entity_vectors"] if "entity_vectors" in arrays else None,
        card=meta.get("card"), source=meta.get("source", {}),
    )


def write_npz(path: Path, named: dict[str, np.ndarray]) -> None:
    """Like np.savez (uncompressed, loadable by np.load) but byte-identical for identical arrays: fixed zip
    timestamps. Two processes caching the same dataset at once then write the same bytes and the same checksum."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for key in sorted(named):
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asarray(named[key]), allow_pickle=False)


def save(ds: Dataset, cache_root: Path, unknown_news: str, file_info: dict | None = None) -> Path:
    """Write the cache entry atomically: the .npz first, then the meta (with the .npz checksum) that validates it."""
    npz_path, meta_path = entry_paths(cache_root, ds.fingerprint, unknown_news)
    with atomic.atomic_path(npz_path, suffix=".npz") as tmp:
        write_npz(tmp, dataset_arrays(ds))
    meta = {
        "format": FORMAT, "name": ds.name, "fingerprint": ds.fingerprint, "unknown_news": unknown_news,
        "card": ds.card, "source": ds.source, "files": file_info or {},
        "npz_bytes": npz_path.stat().st_size, "npz_sha256": sha256_file(npz_path),
    }
    atomic.write_json(meta_path, meta)
    return npz_path


def load(cache_root: Path, fingerprint: str, unknown_news: str) -> Dataset | None:
    """The cached Dataset, None when there is no entry; raises CorruptCache when an entry is damaged."""
    npz_path, meta_path = entry_paths(cache_root, fingerprint, unknown_news)
    if not meta_path.exists() and not npz_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text("utf-8"))
    except FileNotFoundError:
        raise CorruptCache(f"{meta_path} is missing") from None
    except (OSError, ValueError) as err:
        raise CorruptCache(f"{meta_path} is unreadable ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptCache(f"{meta_path} has an unknown format")
    try:
        size = npz_path.stat().st_size
    except OSError:
        raise CorruptCache(f"{npz_path} is missing") from None
    if size != meta.get("npz_bytes") or sha256_file(npz_path) != meta.get("npz_sha256"):
        raise CorruptCache(f"{npz_path} fails its checksum (truncated or modified)")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return dataset_from_arrays(arrays, meta)
    except Exception as err:  # a damaged file can raise anything from zipfile/numpy; all mean "rebuild"
        raise CorruptCache(f"{npz_path} is unreadable ({type(err).__name__}: {err})") from None


def remove(cache_root: Path, fingerprint: str, unknown_news: str) -> None:
    for p in entry_paths(cache_root, fingerprint, unknown_news):
        try:
            p.unlink()
        except FileNotFoundError:
            pass
