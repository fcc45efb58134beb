"""Interruption, concurrency and determinism of `newsbench ablate`, as a user meets them: real subprocesses on the
tiny dataset, killed with SIGKILL at chosen points (found from `newsbench-trace:` lines on stderr), interrupted with
Ctrl-C (SIGINT), and run twice at once on one results folder.

No test races the child: at the chosen event the child waits (NEWSBENCH_TEST_PAUSE) until the test has sent its
signal and created the release file, so the signal lands at that point whatever the load or the cache state."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from newsbench import atomic, grid, store

pytestmark = pytest.mark.slow

METRIC_ARRAYS = ("impression_id", "auc", "mrr", "ndcg5", "ndcg10", "auc_cold", "auc_warm")
# Small model and graph so each run takes about a second; two runs: `id` and `id+llm+gnn/gate`.
GRID_ARGS = ["--text-encoder", "hash", "--epochs", "1", "--subsets", "id,id+llm+gnn", "--fusions", "gate",
             "--seeds", "0", "--dim", "32", "--id-dim", "16", "--user-hidden", "16", "--history-len", "10",
             "--graph-epochs", "2", "--graph-dim", "16", "--no-report"]
N_RUNS = 2


# The child starts with Ctrl-C at its default: a shell without job control (a CI script, `make test &`) starts
# background jobs with SIGINT ignored, every descendant inherits that, and Python then installs no KeyboardInterrupt
# handler, so the Ctrl-C test would see a clean exit 0 (as it did under a backgrounded `make test`). A tiny Python
# resets it and execs ablate (no preexec_fn: not safe with threads).
DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])")


def ablate_cmd(data: Path, results: Path) -> list[str]:
    return [sys.executable, "-c", DEFAULT_SIGINT, sys.executable, "-m", "newsbench", "ablate", "-d", str(data),
            "--results", str(results), *GRID_ARGS]


def env_for(cache: Path, pause: str | None = None) -> dict:
    env = {**os.environ, "NEWSBENCH_CACHE": str(cache), "NEWSBENCH_TRACE": "1", "HF_HUB_OFFLINE": "1",
           "PYTHONUNBUFFERED": "1"}
    env.pop(grid.PAUSE_ENV, None)
    if pause is not None:
        env[grid.PAUSE_ENV] = pause
    return env


def run_to_end(data, results, cache) -> subprocess.CompletedProcess:
    proc = subprocess.run(ablate_cmd(data, results), env=env_for(cache), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_until(data, results, cache, event: str, sig=signal.SIGKILL) -> tuple[int, str]:
    """Start ablate, which stops at the first trace `event` (a prefix, e.g. "progress step") until released; send
    `sig` there, then release it; return (status, stderr)."""
    release = results.parent / f"release-{results.name}-{event.replace(' ', '_')}"
    release.unlink(missing_ok=True)
    return signal_at(ablate_cmd(data, results), env_for(cache, pause=f"{event}:{release}"), event, sig, release)


def signal_at(cmd: list[str], env: dict, event: str, sig, release: Path) -> tuple[int, str]:
    """Start `cmd`, whose env pauses it at the first trace `event` until `release` exists (grid.PAUSE_ENV); send
    `sig` there, then release it; return (status, stderr). Race-free: the signal lands at that point, every time."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marker, seen, lines = f"newsbench-trace: {event}", False, []
    try:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(marker):
                seen = True
                proc.send_signal(sig)
                break
        release.touch()           # only now may the child move on (a SIGKILLed one never does)
        lines.extend(proc.stderr.read().splitlines(keepends=True))
        status = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        release.unlink(missing_ok=True)
    assert seen, f"never reached {marker!r}:\n{''.join(lines)[-3000:]}"
    return status, "".join(lines)


def leftovers(*folders: Path) -> list[str]:
    """Temporary files, locks and orphan arrays anywhere under the folders."""
    out = []
    for folder in folders:
        for p in folder.rglob("*"):
            if p.name.startswith(atomic.TMP_PREFIX) or p.suffix == ".lock":
                out.append(str(p))
            elif p.suffix == ".npz" and p.parent.name == store.RUNS and not p.with_suffix(".json").exists():
                out.append(str(p))
    return out


def assert_identical(a: Path, b: Path) -> None:
    ra, rb = store.load_records(a), store.load_records(b)
    assert len(ra) == N_RUNS and [r["run_id"] for r in ra] == [r["run_id"] for r in rb]
    assert len(list(store.runs_dir(b).glob("*.json"))) == N_RUNS          # no duplicate or stray record
    for x, y in zip(ra, rb):
        assert x["metrics"] == y["metrics"] and x["metrics_by"] == y["metrics_by"], x["label"]
        xa, ya = store.load_arrays(a, x["run_id"]), store.load_arrays(b, y["run_id"])
        for k in METRIC_ARRAYS:
            assert xa[k].tobytes() == ya[k].tobytes(), f"{x['label']} {k}"


@pytest.fixture(scope="module")
def baseline(tiny_dir, tmp_path_factory):
    """One uninterrupted grid; its cache is reused (warm) by the concurrency test."""
    root = tmp_path_factory.mktemp("baseline")
    run_to_end(tiny_dir, root / "results", root / "cache")
    return root


def test_sigkill_at_every_stage_then_resume_gives_the_uninterrupted_records(tiny_dir, tmp_path, baseline):
    results, cache = tmp_path / "results", tmp_path / "cache"      # cold cache: the first kill lands in features
    run_until(tiny_dir, results, cache, "features-start")
    assert store.load_records(results) == []
    # Between runs: right after the first record is written.
    run_until(tiny_dir, results, cache, "run-done")
    assert len(store.load_records(results)) == 1
    # Mid-run: during the second run's training steps (its lock and maybe temporary files are left behind).
    run_until(tiny_dir, results, cache, "progress step")
    assert len(store.load_records(results)) == 1
    done = run_to_end(tiny_dir, results, cache)
    assert done.stderr.count("newsbench-trace: run-start") == 1              # the recorded run was not redone
    # This cache was filled by the interrupted processes, the baseline's by an uninterrupted one: same features
    # first (else the difference below comes from feature computation, not from the grid).
    ours = {p.name: p.read_bytes() for p in (cache / "features").glob("*.npy")}
    theirs = {p.name: p.read_bytes() for p in (baseline / "cache" / "features").glob("*.npy")}
    assert ours.keys() == theirs.keys() and ours, sorted(ours)
    assert [k for k in ours if ours[k] != theirs[k]] == [], "feature matrices differ between two computations"
    assert_identical(baseline / "results", results)
    assert leftovers(results, cache) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_exits_cleanly_with_a_resume_hint(tiny_dir, tmp_path, baseline, sig, code):
    results = tmp_path / "results"
    status, err = run_until(tiny_dir, results, baseline / "cache", "progress step", sig=sig)
    assert status == code, err[-3000:]
    assert f"interrupted: 0 of {N_RUNS} runs done; rerun the same command to resume" in err
    assert "Traceback" not in err
    assert leftovers(results) == []


def test_two_processes_on_one_results_folder_train_each_run_once(tiny_dir, tmp_path, baseline):
    results = tmp_path / "results"
    env = env_for(baseline / "cache")
    procs = [subprocess.Popen(ablate_cmd(tiny_dir, results), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    started = [line.split()[2] for e in errs for line in e.splitlines() if "newsbench-trace: run-start" in line]
    assert sorted(started) == sorted(r["run_id"] for r in store.load_records(baseline / "results"))
    assert_identical(baseline / "results", results)
    assert leftovers(results) == []
