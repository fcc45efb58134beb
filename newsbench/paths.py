"""Where newsbench keeps derived data: the cache folder, and the check that an output folder can be written."""

from __future__ import annotations

import os
from pathlib import Path

from newsbench.errors import InputError


def cache_dir(override: str | os.PathLike | None = None) -> Path:
    """The cache folder: `--cache-dir`, else $NEWSBENCH_CACHE, else the user's cache dir."""
    if override:
        path = Path(override)
    elif os.environ.get("NEWSBENCH_CACHE"):
        path = Path(os.environ["NEWSBENCH_CACHE"])
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        path = Path(base) / "newsbench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_writable_dir(path: Path | None, flag: str) -> None:
    """`path` is a folder we may create or write into: not a file, and its nearest existing parent is writable.
    Checked before any work so a long run does not end in a traceback at its last step. Writes nothing."""
    if path is None:
        return
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise InputError(f"{flag} {path}: is a file, not a folder; choose a folder")
    probe = p
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        raise InputError(f"{flag} {path}: {probe} is a file, so the folder cannot be created there")
    if not _can_create_in(probe):
        raise InputError(f"{flag} {path}: cannot write in {probe} (permission denied or read-only); choose another "
                         f"folder")


def _can_create_in(folder: Path) -> bool:
    # os.access says yes to root on read-only or virtual file systems (/proc): try it, with a name nobody uses.
    import tempfile

    try:
        fd, name = tempfile.mkstemp(prefix=".newsbench-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    os.unlink(name)
    return True
