"""Ray across nodes: a real two-node cluster on loopback whose worker node cannot see the results folder.

The head node (`ray start --head`, no CPUs, so it runs no task) and a worker node (`ray start --address`, 2 CPUs)
are two process trees on this machine (Ray binds to the machine's own address even when told 127.0.0.1, so both
use `ray.util.get_node_ip_address()`; nothing leaves the machine). The worker node runs in its own mount namespace with an empty tmpfs over the
driver's folder, so the results folder does not exist from where the runs are trained. The driver runs a small grid
through it (tiny data, hash text encoder, 1 epoch) and its records must equal a local run's: the tasks get dataset
and features through Ray's object store, and only the driver writes records.

Needs `unshare -m` (root, or a user namespace); skipped, saying so, where that is not available.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from newsbench import atomic, grid, store
from newsbench.config import RunConfig

sys.path.insert(0, str(Path(__file__).parent))
from test_ablate import assert_same_records  # noqa: E402

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow

BASE = RunConfig(epochs=1, dim=32, id_dim=16, user_hidden=16, history_len=10, graph_epochs=2, graph_dim=16,
                 text_encoder="hash", device="cpu")
START_TIMEOUT = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _can_hide_folders() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs none /mnt"], capture_output=True,
                           timeout=30)
    return probe.returncode == 0


def _ray_start(args: list[str], log: Path, temp_dir: str, hide: Path | None = None) -> subprocess.Popen:
    """`ray start --block ...` as its own process group (so teardown kills exactly what it started). A temp dir of
    its own: `ray start --head` records its address there, not in /tmp/ray, where any other `ray.init()` on this
    machine (another test, in parallel) would find and join this cluster."""
    ray_bin = str(Path(sys.executable).with_name("ray"))
    cmd = [ray_bin, "start", "--block", "--disable-usage-stats", f"--temp-dir={temp_dir}", *args]
    if hide is not None:
        # A private mount namespace: an empty tmpfs over `hide`, then ray start (its raylet and workers inherit it).
        cmd = ["unshare", "-m", "sh", "-c", f'mount -t tmpfs none "{hide}" && exec "$@"', "sh", *cmd]
    # A throwaway cluster on this machine: no token (this driver's Ray client runs with token auth disabled).
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled")
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass


def _wait_for_port(address: str, head: subprocess.Popen, log: Path) -> None:
    """Until the head's GCS accepts connections (the worker node's `ray start` needs it up)."""
    host, port = address.rsplit(":", 1)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
            return
        except OSError:
            if time.monotonic() > deadline or head.poll() is not None:
                pytest.fail("head node did not start:\n" + log.read_text()[-2000:])
            time.sleep(1.0)


# The driver runs in a fresh Python process with the cluster's auth mode. A process that has run ray.init() before
# (another test in the same pytest worker, e.g. test_ablate's one-node leg) carries RAY_AUTH_MODE=token in its
# environment afterwards (Ray sets it); a driver with token auth in a cluster without it serves its objects to no
# one, and the tasks fail with OwnerDiedError fetching them. Seen in full-suite runs, reproduced by running the two
# tests in one process.
DRIVER = """
import json, sys, time, os
import ray
from newsbench import grid
from newsbench.config import RunConfig
from newsbench.data.load import load_dataset

address, data, results, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
base = RunConfig(**json.loads(sys.argv[5]))
deadline = time.monotonic() + timeout
while True:
    try:
        ray.init(address=address, log_to_driver=False)
        break
    except (ConnectionError, RuntimeError):
        if time.monotonic() > deadline:
            sys.exit("head node did not start")
        time.sleep(1.0)
head_node = ray.get_runtime_context().get_node_id()
while ray.cluster_resources().get("CPU", 0) < 2:
    if time.monotonic() > deadline:
        sys.exit("worker node did not join in time")
    time.sleep(1.0)

@ray.remote(num_cpus=1)
def sees(path):
    return os.path.exists(path), ray.get_runtime_context().get_node_id()

seen, node = ray.get(sees.remote(results), timeout=timeout)
ds = load_dataset(data, progress=False)
configs = grid.expand_grid([("id",), ("id", "llm", "gnn")], ["attention"], [0], base)
features, info = grid.compute_features(ds, configs, progress=False)
ex = grid.RayExecutor(ds, features, address=address, cpus_per_run=1, features_info=info)
res = grid.run_grid(configs, ds, results, executor=ex)
print(json.dumps({"alive_nodes": len([n for n in ray.nodes() if n["Alive"]]), "worker_sees_results": seen,
                  "task_on_head": node == head_node, "ran": len(res.ran)}))
ray.shutdown()
from newsbench.cli import end_process
end_process(0)          # as the newsbench script ends: no native destructor can abort this process's exit
"""


def test_two_node_cluster_worker_without_results_folder_writes_the_same_records(tiny_dir, tmp_path):
    if not _can_hide_folders():
        pytest.skip("needs `unshare -m` to hide the results folder from the worker node")
    from newsbench.data.load import load_dataset

    ds = load_dataset(tiny_dir, progress=False)
    configs = grid.expand_grid([("id",), ("id", "llm", "gnn")], ["attention"], [0], BASE)
    features, info = grid.compute_features(ds, configs, progress=False)
    local = grid.run_grid(configs, ds, tmp_path / "local",
                          executor=grid.LocalExecutor(ds, features, features_info=info))
    assert len(local.ran) == 2

    driver_dir = tmp_path / "driver"            # the worker node sees an empty tmpfs here
    results = driver_dir / "results"
    results.mkdir(parents=True)
    port = _free_port()
    address = f"{ray.util.get_node_ip_address()}:{port}"
    logs = [tmp_path / "head.log", tmp_path / "worker.log"]
    temp_dir = tempfile.mkdtemp(prefix="nbray")       # short: Ray's socket paths must stay under 107 characters
    head = _ray_start(["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"], logs[0], temp_dir)
    worker = None
    try:
        _wait_for_port(address, head, logs[0])
        worker = _ray_start([f"--address={address}", "--num-cpus=2"], logs[1], temp_dir, hide=driver_dir)
        proc = subprocess.run([sys.executable, "-c", DRIVER, address, str(tiny_dir), str(results), str(START_TIMEOUT),
                               json.dumps(BASE.to_dict())], capture_output=True, text=True, timeout=4 * START_TIMEOUT,
                              env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled"))
        if proc.returncode != 0:
            pytest.fail(f"driver failed ({proc.returncode}):\n{proc.stderr[-3000:]}\n"
                        + "\n".join(p.read_text()[-2000:] for p in logs if p.exists()))
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        # The premise: where tasks run (not the head: it has no CPU), the results folder does not exist.
        assert got == {"alive_nodes": 2, "worker_sees_results": False, "task_on_head": False, "ran": 2}
        assert results.is_dir()
        assert_same_records(tmp_path / "local", results, 2)
    finally:
        if worker is not None:
            _stop(worker)
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)


# ---- a cluster that is wrong, too small or lost: one line, bounded time, finished records kept ----

SMALL = ["--text-encoder", "hash", "--epochs", "1", "--dim", "32", "--id-dim", "16", "--user-hidden", "16",
         "--history-len", "10", "--no-report"]
N_LOST_GRID = 4


def _ablate(tiny_dir, results, cache, *args, pause=None, **popen) -> subprocess.Popen:
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", NEWSBENCH_CACHE=str(cache),
               NEWSBENCH_TRACE="1", PYTHONUNBUFFERED="1")
    env.pop(grid.PAUSE_ENV, None)
    if pause:
        env[grid.PAUSE_ENV] = pause
    cmd = [sys.executable, "-m", "newsbench", "ablate", "-d", str(tiny_dir), "--results", str(results),
           "--executor", "ray", "--ray-timeout", "120", *SMALL, *args]     # connecting on a loaded machine
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("newsbench: error:")]


def _head(tmp_path, name: str, temp_dir: str) -> tuple[subprocess.Popen, str]:
    """A one-node cluster with 2 CPUs on this machine, in its own temp dir (no other ray.init finds it)."""
    port = _free_port()
    address = f"{ray.util.get_node_ip_address()}:{port}"
    log = tmp_path / f"{name}.log"
    head = _ray_start(["--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false"], log, temp_dir)
    _wait_for_port(address, head, log)
    return head, address


def test_an_address_where_nothing_listens_is_one_line_within_seconds(tmp_path, tiny_dir):
    port = _free_port()                 # free a moment ago: nothing listens there
    started = time.monotonic()
    proc = _ablate(tiny_dir, tmp_path / "r", tmp_path / "cache", "--ray-address", f"127.0.0.1:{port}", "--seeds", "0")
    err = proc.communicate(timeout=120)[1]
    took = time.monotonic() - started
    assert proc.returncode == 2, err[-3000:]
    assert _errors(err) == [f"newsbench: error: --ray-address 127.0.0.1:{port}: cannot connect to Ray: nothing "
                            f"listens there (connection refused)"], err[-3000:]
    assert "Traceback" not in err and took < 60
    assert not (tmp_path / "r" / "runs").exists()
    print(f"unreachable address: error line after {took:.1f} s")


def test_a_too_small_cluster_is_refused_and_a_lost_one_ends_the_grid_keeping_finished_records(tmp_path, tiny_dir):
    """Against a real cluster: --gpus-per-run 1 on a CPU-only cluster is one line before any run; the cluster
    stopped after the first record ends ablate with exit 1 within 60 s (the records that finished intact); a rerun
    against a new cluster finishes the grid without redoing them."""
    results, cache = tmp_path / "results", tmp_path / "cache"
    grid_args = ["--subsets", "id", "--seeds", ",".join(map(str, range(N_LOST_GRID)))]
    temp_dir = tempfile.mkdtemp(prefix="nbray")
    heads = []
    try:
        head, address = _head(tmp_path, "head1", temp_dir)
        heads.append(head)
        small = _ablate(tiny_dir, results, cache, "--ray-address", address, "--gpus-per-run", "1", *grid_args)
        err = small.communicate(timeout=180)[1]
        assert small.returncode == 2, err[-3000:]
        assert _errors(err) == [f"newsbench: error: --cpus-per-run 1 --gpus-per-run 1: no node of the Ray cluster "
                                f"at {address} has that much (1 node; the largest has 2 CPU, 0 GPU)"], err[-3000:]
        assert not (results / "runs").exists()

        # The driver stops after writing its first record until the head is gone (no race with a fast grid).
        release = tmp_path / "release"
        proc = _ablate(tiny_dir, results, cache, "--ray-address", address, *grid_args, pause=f"run-done:{release}")
        lines = []
        try:
            for line in proc.stderr:
                lines.append(line)
                if line.startswith("newsbench-trace: run-done"):
                    break
            _stop(head)
            stopped = time.monotonic()
            release.touch()
            lines.extend(proc.stderr.read().splitlines(keepends=True))
            proc.wait(timeout=120)
            took = time.monotonic() - stopped
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        err = "".join(lines)
        assert proc.returncode == 1, err[-3000:]
        assert "Traceback" not in err and took < 60, (took, err[-3000:])
        # newsbench's line, when it comes, is exact. It may not come: the driver's raylet is the head's here (one
        # machine), and in about one CI run in five Ray's core worker ends the driver from C++ (exit 1, no Python
        # runs) before newsbench's 10 s check can say why, with a Ray log line about the raylet or the lost objects,
        # or none (docs/ray.md). What newsbench owes then is checked all the same: status 1 within 60 s and no
        # traceback (above), the finished records intact and a rerun that completes the grid (below).
        for line in _errors(err):
            assert line.startswith(f"newsbench: error: lost the Ray cluster at {address}"), line
            assert line.endswith(f"of {N_LOST_GRID} runs done; rerun the same command to resume"), line
        assert len(_errors(err)) <= 1, err[-3000:]
        print(f"stopped cluster: exit {took:.1f} s after the stop")
        runs = results / "runs"
        finished = {p.name: p.read_bytes() for p in runs.iterdir() if p.suffix in (".json", ".npz")}
        kept = store.load_records(results)
        assert 1 <= len(kept) < N_LOST_GRID and len(finished) == 2 * len(kept), sorted(finished)  # .json + .npz
        assert [p.name for p in runs.iterdir() if p.name.startswith(atomic.TMP_PREFIX)] == []
        locks = [p for p in runs.iterdir() if p.suffix == ".lock"]
        if _errors(err):    # newsbench ended the grid itself: it released its claims
            assert locks == [], sorted(p.name for p in locks)
        # else Ray ended the driver from C++ and no Python ran to release the claims of runs in flight: such a lock
        # names a dead process, and the rerun below must reclaim it (newsbench.grid.claims), not wait on it

        head, address = _head(tmp_path, "head2", temp_dir)
        heads.append(head)
        again = _ablate(tiny_dir, results, cache, "--ray-address", address, *grid_args)
        err = again.communicate(timeout=300)[1]
        assert again.returncode == 0, err[-3000:]
        assert err.count("newsbench-trace: run-start") == N_LOST_GRID - len(kept)
        assert len(store.load_records(results)) == N_LOST_GRID
        assert all((results / "runs" / name).read_bytes() == data for name, data in finished.items())
        assert [p.name for p in runs.iterdir() if p.suffix == ".lock"] == []
    finally:
        for head in heads:
            _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)
