"""The driver loop: train every config of a grid not yet recorded, through an executor, writing each record here."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from newsbench import store
from newsbench.config import RunConfig
from newsbench.grid.claims import Claims, clean_run_leftovers, lock_path, read_lock

POLL_SECONDS = 1.0
TRACE_ENV = "NEWSBENCH_TRACE"     # when set, ablate prints `newsbench-trace: <event>` lines on stderr (for tests)
# Test-only: `<event prefix>:<file>`. After tracing an event that starts with the prefix, wait until <file> exists
# (the test creates it once it has signalled us) or PAUSE_LIMIT seconds pass. A test that kills or interrupts ablate
# at an event then always lands there, however fast the grid or slow the machine: without it a tiny grid can end
# before the signal arrives.
PAUSE_ENV = "NEWSBENCH_TEST_PAUSE"
PAUSE_LIMIT = 120.0
PAUSE_POLL = 0.02


def trace(event: str) -> None:
    """A machine-readable progress line on stderr, only when $NEWSBENCH_TRACE is set (tests pick kill points)."""
    if os.environ.get(TRACE_ENV):
        # Straight to fd 2: rich's live display redirects sys.stderr and prints it at its next refresh, which under
        # load can come after the event (a test would then signal a process that has already moved on).
        os.write(2, f"newsbench-trace: {event}\n".encode())
        _test_pause(event)


def _test_pause(event: str) -> None:
    spec = os.environ.get(PAUSE_ENV)
    if not spec:
        return
    prefix, _, release = spec.partition(":")
    if not release or not event.startswith(prefix):
        return
    # A polling sleep, not a blocking wait: a signal's handler runs within PAUSE_POLL, and the KeyboardInterrupt
    # it raises (Ctrl-C, or SIGTERM routed through it) leaves from here like from any other point of the run.
    deadline = time.monotonic() + PAUSE_LIMIT
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(PAUSE_POLL)


@dataclass
class GridResult:
    total: int
    done_before: int = 0                     # already recorded when we started
    ran: list[str] = field(default_factory=list)         # run ids this process trained and recorded
    by_others: list[str] = field(default_factory=list)   # run ids another process recorded while we waited

    @property
    def done(self) -> int:
        return self.done_before + len(self.ran) + len(self.by_others)


class GridEvents:
    """Hooks the CLI uses to draw progress; the defaults do nothing."""

    def run_started(self, cfg: RunConfig, run_id: str) -> None: ...
    def run_finished(self, cfg: RunConfig, run_id: str, record: dict) -> None: ...
    def run_skipped(self, cfg: RunConfig, run_id: str, why: str) -> None: ...
    def waiting(self, locked: list[tuple[RunConfig, str, dict | None]]) -> None: ...


def count_done(configs: Sequence[RunConfig], results, fingerprint: str) -> int:
    return sum(store.is_done(results, c.run_id(fingerprint)) for c in configs)


def run_grid(configs: Sequence[RunConfig], dataset, results: str | os.PathLike, *, executor=None,
             events: GridEvents | None = None, poll: float = POLL_SECONDS) -> GridResult:
    """Train every config of the grid not yet recorded in `results`, writing each record from this process.

    `executor` has submit/wait/close (LocalExecutor, PoolExecutor, RayExecutor). Runs held by another live process
    are skipped and waited for at the end; if that process dies or gives up, we take them over. On any exception
    (KeyboardInterrupt included) our claims are released and our leftovers removed before it propagates.
    """
    events = events or GridEvents()
    results = Path(results)
    store.runs_dir(results).mkdir(parents=True, exist_ok=True)
    fp = dataset.fingerprint
    ids = {c: c.run_id(fp) for c in configs}
    res = GridResult(total=len(ids))
    pending: list[RunConfig] = []
    for c in ids:
        if store.is_done(results, ids[c]):
            res.done_before += 1
            events.run_skipped(c, ids[c], "done")
        else:
            pending.append(c)
    claims = Claims(results)
    in_flight = 0
    try:
        while pending or in_flight:
            # Fill free slots in grid order.
            for c in list(pending):
                if in_flight >= executor.slots:
                    break
                state = claims.claim(ids[c])
                if state == "done":
                    pending.remove(c)
                    res.by_others.append(ids[c])
                    events.run_skipped(c, ids[c], "done by another process")
                elif state == "claimed":
                    pending.remove(c)
                    clean_run_leftovers(results, ids[c])
                    trace(f"run-start {ids[c]} {c.label} seed={c.seed}")
                    events.run_started(c, ids[c])
                    executor.submit(c)
                    in_flight += 1
            if in_flight:
                cfg, record, arrays = executor.wait()
                in_flight -= 1
                rid = ids[cfg]
                if record.get("run_id") != rid:
                    raise RuntimeError(f"train_run returned run_id {record.get('run_id')!r}, expected {rid!r} "
                                       f"(RunConfig.run_id(dataset.fingerprint))")
                store.save_record(results, record, arrays)
                claims.release(rid)
                res.ran.append(rid)
                trace(f"run-done {rid}")
                events.run_finished(cfg, rid, record)
            elif pending:
                # Everything left is being trained by other processes: wait for them, or take over if they die.
                events.waiting([(c, ids[c], read_lock(lock_path(results, ids[c]))) for c in pending])
                time.sleep(poll)
    except BaseException:
        executor.close(cancel=True)
        held = list(claims.held)
        claims.release_all()
        for rid in held:
            clean_run_leftovers(results, rid)
        raise
    else:
        executor.close()
        claims.release_all()
    return res
