"""Who runs each config: one lock file per run in `<results>/runs`, so concurrent ablate processes share a grid.

A claim is `runs/<run_id>.lock` created with O_CREAT|O_EXCL, so exactly one process trains a run; a lock whose
owner died (same host, dead pid, or any host and no heartbeat for LOCK_STALE_SECONDS) is reclaimed. Stale-lock
reclamation happens under a folder-wide flock so two processes cannot both reclaim the same lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path

from newsbench import atomic, store

LOCK_SUFFIX = ".lock"
LOCK_STALE_SECONDS = 600.0        # a lock from another host with no heartbeat for this long is abandoned
HEARTBEAT_SECONDS = 30.0


def lock_path(results: str | os.PathLike, run_id: str) -> Path:
    return store.runs_dir(results) / f"{run_id}{LOCK_SUFFIX}"


def read_lock(path: Path) -> dict | None:
    """The lock's owner {pid, host, created} and its age, or None when there is no lock."""
    try:
        text = path.read_text()
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(text)
    except ValueError:
        owner = {}
    owner["age"] = time.time() - mtime
    return owner


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True           # exists, owned by someone else
    return True


def lock_is_stale(owner: dict) -> bool:
    """Dead owner on this host, or no heartbeat for LOCK_STALE_SECONDS (another host, or a reused pid), or no
    owner at all (its creator died between creating and filling it: both happen under the folder mutex)."""
    if not isinstance(owner.get("pid"), int) or "host" not in owner:
        return True
    if owner["host"] == socket.gethostname() and not _pid_alive(owner["pid"]):
        return True
    return owner.get("age", 0.0) > LOCK_STALE_SECONDS


def _folder_mutex(results: str | os.PathLike):
    """Serialise claims within a results folder. Not POSIX: O_EXCL alone still gives one winner per fresh lock."""
    return atomic.folder_lock(store.runs_dir(results) / ".claims.mutex")


class Claims:
    """The runs this process holds. `claim` returns 'claimed', 'done' or 'locked' (held by a live process)."""

    def __init__(self, results: str | os.PathLike):
        self.results = Path(results)
        self.held: set[str] = set()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def claim(self, run_id: str) -> str:
        path = lock_path(self.results, run_id)
        with _folder_mutex(self.results):
            if store.is_done(self.results, run_id):
                return "done"
            if not self._create(path):
                owner = read_lock(path)
                if owner is not None and not lock_is_stale(owner):
                    return "locked"
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                if not self._create(path):
                    return "locked"
            # A finisher writes its record before removing its lock: re-check now that the lock is ours.
            if store.is_done(self.results, run_id):
                path.unlink()
                return "done"
        self.held.add(run_id)
        self._start_heartbeat()
        return "claimed"

    def _create(self, path: Path) -> bool:
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "created": time.time()}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return True

    def release(self, run_id: str) -> None:
        if run_id in self.held:
            with contextlib.suppress(FileNotFoundError):
                lock_path(self.results, run_id).unlink()
            self.held.discard(run_id)

    def release_all(self) -> None:
        for run_id in list(self.held):
            self.release(run_id)
        self._stop.set()

    def _start_heartbeat(self) -> None:
        # Other hosts judge our locks by mtime; touch them while we live.
        if self._beat is None:
            self._beat = threading.Thread(target=self._heartbeat, name="newsbench-lock-heartbeat", daemon=True)
            self._beat.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            for run_id in list(self.held):
                with contextlib.suppress(OSError):
                    os.utime(lock_path(self.results, run_id))


def run_status(results: str | os.PathLike, run_id: str) -> str:
    """'done', 'locked' (a live process is training it) or 'pending'."""
    if store.is_done(results, run_id):
        return "done"
    owner = read_lock(lock_path(results, run_id))
    if owner is not None and not lock_is_stale(owner):
        return "locked"
    return "pending"


def clean_run_leftovers(results: str | os.PathLike, run_id: str) -> int:
    """Remove what a killed writer of `run_id` left: `.tmp-<run_id>.*` files and an .npz without its .json.
    Only call while holding the run's claim (or when no live process holds it)."""
    d = store.runs_dir(results)
    n = 0
    for p in d.glob(f"{atomic.TMP_PREFIX}{run_id}.*"):
        with contextlib.suppress(OSError):
            p.unlink()
            n += 1
    json_path, npz_path = store.record_paths(results, run_id)
    if npz_path.exists() and not json_path.exists():
        with contextlib.suppress(OSError):
            npz_path.unlink()
            n += 1
    return n


def clean_stale_files(results: str | os.PathLike) -> int:
    """Remove leftovers of dead writers in `<results>/runs`: stale locks, and tmp files / orphan .npz of runs that no
    live process holds. Safe while other ablate processes run on the same folder."""
    d = store.runs_dir(results)
    if not d.is_dir():
        return 0
    n = 0
    with _folder_mutex(results):
        run_ids = {p.name[len(atomic.TMP_PREFIX):].split(".")[0] for p in d.glob(atomic.TMP_PREFIX + "*")}
        run_ids |= {p.stem for p in d.glob("*.npz")}
        run_ids |= {p.name[:-len(LOCK_SUFFIX)] for p in d.glob("*" + LOCK_SUFFIX)}
        for run_id in sorted(run_ids):
            lp = lock_path(results, run_id)
            owner = read_lock(lp)
            if owner is not None and not lock_is_stale(owner):
                continue
            if owner is not None:
                with contextlib.suppress(FileNotFoundError):
                    lp.unlink()
                    n += 1
            n += clean_run_leftovers(results, run_id)
    return n
