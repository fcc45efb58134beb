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

from newsbench import grid
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


def _wait_for_cpus(n: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if ray.cluster_resources().get("CPU", 0) >= n:
            return
        time.sleep(1.0)
    pytest.fail("worker node did not join in time:\n" + "\n".join(p.read_text()[-2000:] for p in logs))


@ray.remote(num_cpus=1)
def _sees(path: str) -> tuple[bool, str]:
    return os.path.exists(path), ray.get_runtime_context().get_node_id()


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
    if ray.is_initialized():
        ray.shutdown()
    temp_dir = tempfile.mkdtemp(prefix="nbray")       # short: Ray's socket paths must stay under 107 characters
    head = _ray_start(["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"], logs[0], temp_dir)
    worker = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                ray.init(address=address, log_to_driver=False)
                break
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline or head.poll() is not None:
                    pytest.fail("head node did not start:\n" + logs[0].read_text()[-2000:])
                time.sleep(1.0)
        head_node = ray.get_runtime_context().get_node_id()
        worker = _ray_start([f"--address={address}", "--num-cpus=2"],
                            logs[1], temp_dir, hide=driver_dir)
        _wait_for_cpus(2, logs)
        assert len([n for n in ray.nodes() if n["Alive"]]) == 2

        # The premise: where tasks run (not the head: it has no CPU), the results folder does not exist.
        sees, node = ray.get(_sees.remote(str(results)), timeout=START_TIMEOUT)
        assert results.is_dir() and not sees and node != head_node

        ex = grid.RayExecutor(ds, features, address=address, cpus_per_run=1, features_info=info)
        res = grid.run_grid(configs, ds, results, executor=ex)
        assert len(res.ran) == 2
        assert_same_records(tmp_path / "local", results, 2)
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if worker is not None:
            _stop(worker)
        _stop(head)
        shutil.rmtree(temp_dir, ignore_errors=True)
