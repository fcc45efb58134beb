"""The sha256 of input files and folders, memoised by (absolute path, size, mtime): in this process, and in the
cache's `datasets/file-hashes.json` beside the dataset files' (newsbench.data.arrays.file_hashes), so a multi-GB
vector file or model folder is read once, not on every command. What is digested, and why, is newsbench.inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from newsbench.data import arrays
from newsbench.paths import cache_dir as resolve_cache_dir

_MEMO: dict[tuple[str, int, int], str] = {}     # (absolute path, size, mtime_ns) -> sha256, this process


# -------------------------------------------------------------------------------------------------------- digests
def file_digests(files: dict[str, Path], cache_dir=None) -> dict[str, str]:
    """sha256 per file (keys kept), memoised by absolute path, size and mtime in this process and in the cache.

    Raises InputError (missing, a folder, unreadable) as the dataset reader does."""
    out: dict[str, str] = {}
    todo: dict[str, Path] = {}
    stamps: dict[str, tuple[str, int, int]] = {}
    for key, path in files.items():
        st = arrays.stat_file(Path(path))
        stamps[key] = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
        if stamps[key] in _MEMO:
            out[key] = _MEMO[stamps[key]]
        else:
            todo[key] = Path(path)
    if todo:
        root = resolve_cache_dir(cache_dir)
        hashes, fresh = arrays.file_hashes(todo, root)
        arrays.remember_hashes(root, fresh)
        for key in todo:
            _MEMO[stamps[key]] = out[key] = hashes[key]
    return out


def folder_files(folder: Path) -> dict[str, Path]:
    """The files of a folder by relative name (POSIX), sorted; hidden files and folders (.git, .cache) left out."""
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            files[rel.as_posix()] = p
    return files


def folder_digest(folder: Path, cache_dir=None) -> tuple[str, int]:
    """(sha256, total bytes) of a folder: a hash over each file's relative name and content hash, in name order."""
    files = folder_files(folder)
    digests = file_digests(files, cache_dir)
    h = hashlib.sha256()
    for rel in files:
        h.update(f"{rel}\0{digests[rel]}\n".encode())
    return h.hexdigest(), sum(p.stat().st_size for p in files.values())


def digests(inputs: dict[str, dict]) -> dict[str, str]:
    """{role: sha256}: what a run id holds of its inputs."""
    return {role: d["sha256"] for role, d in sorted(inputs.items())}


def combined_digest(inputs: dict[str, dict]) -> str:
    """One sha256 for all the inputs (the text feature cache key's `weights`)."""
    return hashlib.sha256(json.dumps(digests(inputs), sort_keys=True).encode()).hexdigest()
