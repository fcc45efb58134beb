"""Where newsbench keeps derived data: the cache folder and the default results folder."""

from __future__ import annotations

import os
from pathlib import Path


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
