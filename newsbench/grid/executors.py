"""Where runs are trained. An executor has submit(cfg) -> handle, wait() -> (cfg, record, arrays) and close(cancel),
and keeps at most `slots` runs in flight: LocalExecutor (here, one at a time), PoolExecutor (spawned processes on
this machine), RayExecutor (Ray tasks, on one machine or a cluster). Every one returns records to the driver, which
alone writes them."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from newsbench.config import RunConfig
from newsbench.errors import InputError
from newsbench.grid.features import features_for


def _default_run_fn():
    from newsbench.train import train_run

    return train_run


def call_run(run_fn: Callable | None, dataset, features: dict, cfg: RunConfig, progress=None,
             features_info: dict | None = None) -> tuple[dict, dict]:
    """Call train_run (or an injected stand-in) with this run's features (and their info, when it takes it)."""
    run_fn = run_fn or _default_run_fn()
    kwargs: dict[str, Any] = {"progress": progress}
    try:
        params = inspect.signature(run_fn).parameters
    except (TypeError, ValueError):
        params = {}
    if "features_info" in params:
        kwargs["features_info"] = features_for(features_info or {}, cfg)
    return run_fn(dataset, features_for(features, cfg), cfg, **kwargs)


class LocalExecutor:
    """Sequential, in this process; feeds the current-run progress bar."""

    slots = 1

    def __init__(self, dataset, features, run_fn=None, on_progress: Callable | None = None,
                 features_info: dict | None = None):
        self.dataset, self.features, self.run_fn, self.on_progress = dataset, features, run_fn, on_progress
        self.features_info = features_info or {}
        self.queue: list[RunConfig] = []

    def submit(self, cfg: RunConfig):
        self.queue.append(cfg)
        return cfg

    def wait(self):
        cfg = self.queue.pop(0)
        record, arrays = call_run(self.run_fn, self.dataset, self.features, cfg, progress=self.on_progress,
                                  features_info=self.features_info)
        return cfg, record, arrays

    def close(self, cancel: bool = False) -> None:
        self.queue.clear()


@dataclass(frozen=True)
class WorkerSpec:
    """What a pool worker needs to rebuild the driver's inputs from the cache (cheap: everything is cached)."""
    data_path: str | None
    cache_dir: str | None
    unknown_news: str = "error"
    threads: int = 1
    run_fn: Callable | None = None          # picklable stand-in for train_run (tests)
    load_fn: Callable | None = None         # picklable stand-in for (data_path, cache_dir, unknown_news) -> dataset
    features_fn: Callable | None = None     # picklable stand-in for (dataset, cfg, cache_dir) -> features


_WORKER: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    # A SIGKILLed driver cannot stop its pool; the workers notice they were orphaned and leave.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(1)


def _worker_init(spec: WorkerSpec, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)    # the driver decides what Ctrl-C does
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    import torch

    torch.set_num_threads(spec.threads)
    _WORKER["spec"] = spec


def _worker_dataset(spec: WorkerSpec):
    if "dataset" not in _WORKER:
        if spec.load_fn is not None:
            _WORKER["dataset"] = spec.load_fn(spec.data_path, spec.cache_dir, spec.unknown_news)
        else:
            from newsbench.data.load import load_dataset

            path = Path(spec.data_path) if spec.data_path else None
            _WORKER["dataset"] = load_dataset(path, cache_dir=spec.cache_dir, unknown_news=spec.unknown_news,
                                              progress=False)
    return _WORKER["dataset"]


def _worker_run(cfg_dict: dict, features_info: dict) -> tuple[dict, dict]:
    spec: WorkerSpec = _WORKER["spec"]
    cfg = RunConfig.from_dict(cfg_dict)
    dataset = _worker_dataset(spec)
    if spec.features_fn is not None:
        features = spec.features_fn(dataset, cfg, spec.cache_dir)
    else:
        from newsbench.features import load_features

        features = load_features(dataset, cfg, cache_dir=spec.cache_dir, progress=False)
    return call_run(spec.run_fn, dataset, features, cfg, progress=None, features_info=features_info)


class PoolExecutor:
    """N spawned worker processes; each reloads dataset and features from the cache and splits the cores."""

    def __init__(self, workers: int, spec: WorkerSpec, features_info: dict | None = None):
        self.slots = workers
        self.features_info = features_info or {}
        ctx = multiprocessing.get_context("spawn")
        self.pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                           initargs=(spec, os.getpid()))
        self.futures: dict[cf.Future, RunConfig] = {}

    def submit(self, cfg: RunConfig):
        fut = self.pool.submit(_worker_run, cfg.to_dict(), features_for(self.features_info, cfg))
        self.futures[fut] = cfg
        return fut

    def wait(self):
        done, _ = cf.wait(list(self.futures), return_when=cf.FIRST_COMPLETED)
        fut = min(done, key=lambda f: list(self.futures).index(f))   # deterministic among simultaneous finishes
        cfg = self.futures.pop(fut)
        record, arrays = fut.result()
        return cfg, record, arrays

    def close(self, cancel: bool = False) -> None:
        if cancel:
            # Interrupted: do not wait for runs in flight; their claims are released by the caller.
            procs = list(getattr(self.pool, "_processes", {}).values())
            self.pool.shutdown(wait=False, cancel_futures=True)
            for p in procs:
                with contextlib.suppress(Exception):
                    p.terminate()
            for p in procs:
                with contextlib.suppress(Exception):
                    p.join(timeout=5)
        else:
            self.pool.shutdown(wait=True)
        self.futures.clear()


def _import_ray():
    try:
        import ray
    except ImportError:
        raise InputError("--executor ray needs Ray: pip install 'newsbench[ray]'") from None
    return ray


# How long connecting to a cluster may take (--ray-timeout). ray.init on an address where no Ray answers retries for
# minutes without a word, so the address is probed first and ray.init itself is bounded by this.
RAY_TIMEOUT = 30.0
LOCAL_START_TIMEOUT = 120.0
# While waiting for runs: how often the cluster's head (GCS) is probed, and for how long it may not answer before
# the cluster counts as lost. Short of Ray's own 60 s, after which Ray ends the driver process with no record of why.
RAY_POLL = 1.0
RAY_LOST_AFTER = 10.0


class ClusterLost(RuntimeError):
    """The Ray cluster went away during the grid. Records that finished are written; the CLI exits 1 with the
    resume hint."""


def ray_endpoint(address: str | None) -> tuple[str, int] | None:
    """(host, port) of 'host:port' or 'ray://host:port'; None for a local Ray, 'auto' or 'local' (Ray finds it)."""
    if not address or address in ("auto", "local"):
        return None
    rest = address.split("://", 1)[-1].rstrip("/")
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        raise InputError(f"--ray-address {address}: expected host:port, ray://host:port or auto")
    return host.strip("[]") or "127.0.0.1", int(port)


def probe(endpoint: tuple[str, int], timeout: float) -> str | None:
    """None when something accepts TCP connections at `endpoint` within `timeout`; else why not, in words."""
    try:
        socket.create_connection(endpoint, timeout=timeout).close()
        return None
    except ConnectionRefusedError:
        return "nothing listens there (connection refused)"
    except socket.timeout:
        return f"no answer within {timeout:g} s"
    except OSError as err:
        return err.strerror or str(err)


def _init_within(ray, address: str | None, timeout: float) -> None:
    """ray.init, given `timeout` seconds (in a daemon thread: a hung init cannot be cancelled, only left behind)."""
    outcome: dict[str, BaseException | None] = {}

    def init():
        try:
            ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
            outcome["error"] = None
        except BaseException as err:          # handed to the caller's thread
            outcome["error"] = err

    thread = threading.Thread(target=init, name="ray-init", daemon=True)
    thread.start()
    # Starting a local Ray (no address) spawns its processes here, slow on a loaded machine: not a connection.
    thread.join(timeout if address else max(timeout, LOCAL_START_TIMEOUT))
    where = f"--ray-address {address}" if address else "--executor ray"
    if "error" not in outcome:
        waited = timeout if address else max(timeout, LOCAL_START_TIMEOUT)
        raise InputError(f"{where}: no Ray cluster answered within {waited:g} s (--ray-timeout)")
    err = outcome["error"]
    if isinstance(err, (ConnectionError, RuntimeError, ValueError)):
        raise InputError(f"{where}: cannot connect to Ray: {' '.join(str(err).split())}")
    if err is not None:
        raise err


def check_cluster_resources(ray, cpus_per_run: float, gpus_per_run: float, address: str | None = None) -> None:
    """A run must fit on one node of the cluster, else Ray keeps it pending for ever: refuse such a grid now."""
    nodes = [n.get("Resources") or {} for n in ray.nodes() if n.get("Alive")]
    if any(n.get("CPU", 0.0) >= cpus_per_run and n.get("GPU", 0.0) >= gpus_per_run for n in nodes):
        return
    biggest = max(nodes, key=lambda n: (n.get("GPU", 0.0), n.get("CPU", 0.0)), default={})
    asked = f"--cpus-per-run {cpus_per_run:g}" + (f" --gpus-per-run {gpus_per_run:g}" if gpus_per_run else "")
    raise InputError(f"{asked}: no node of the Ray cluster{' at ' + address if address else ''} has that much "
                     f"({len(nodes)} node{'s' if len(nodes) != 1 else ''}; the largest has "
                     f"{biggest.get('CPU', 0.0):g} CPU, {biggest.get('GPU', 0.0):g} GPU)")


def connect_ray(address: str | None = None, timeout: float = RAY_TIMEOUT, cpus_per_run: float = 1.0,
                gpus_per_run: float = 0.0):
    """Join (or start) Ray within `timeout` seconds and check that one run fits on a node; InputError otherwise.
    Returns the ray module."""
    ray = _import_ray()
    if not ray.is_initialized():
        endpoint = ray_endpoint(address)
        why = probe(endpoint, timeout) if endpoint else None
        if why:
            raise InputError(f"--ray-address {address}: cannot connect to Ray: {why}")
        _init_within(ray, address, timeout)
    check_cluster_resources(ray, cpus_per_run, gpus_per_run, address)
    return ray


def _gcs_endpoint(ray, address: str | None) -> tuple[str, int] | None:
    """Where to ask whether the cluster still lives: its GCS (the head), or the client server for ray://."""
    if address and address.startswith("ray://"):
        return ray_endpoint(address)
    try:
        return ray_endpoint(ray.get_runtime_context().gcs_address)
    except Exception:           # no GCS address known (an old Ray): the health check is off
        return None


# Ray errors that mean the cluster (a node, a worker process, the object owner) failed rather than the run itself.
_SYSTEM_ERRORS = ("NodeDiedError", "WorkerCrashedError", "LocalRayletDiedError", "OwnerDiedError", "ObjectLostError",
                  "ObjectFetchTimedOutError", "RaySystemError", "TaskUnschedulableError",
                  "ObjectReconstructionFailedError")


def _ray_task(dataset, cfg_dict: dict, features_info: dict, threads: int, run_fn, names: list[str], *arrays
              ) -> tuple[dict, dict]:
    # Feature arrays come as top-level arguments so Ray resolves their refs (zero-copy reads from the store).
    import torch

    torch.set_num_threads(max(1, threads))
    return call_run(run_fn, dataset, dict(zip(names, arrays)), RunConfig.from_dict(cfg_dict), progress=None,
                    features_info=features_info)


class RayExecutor:
    """One Ray task per run. Dataset and features travel through the object store (ray.put), results come back to
    the driver, which writes the records: workers need no shared disk.

    Connecting is bounded (`timeout`), a grid whose runs fit on no node is refused before any is submitted, and a
    cluster whose head stops answering for `lost_after` seconds while runs are in flight raises ClusterLost."""

    def __init__(self, dataset, features: dict, address: str | None = None, cpus_per_run: float = 1.0,
                 gpus_per_run: float = 0.0, run_fn=None, max_in_flight: int | None = None,
                 features_info: dict | None = None, timeout: float = RAY_TIMEOUT, poll: float = RAY_POLL,
                 lost_after: float = RAY_LOST_AFTER):
        ray = self.ray = connect_ray(address, timeout, cpus_per_run, gpus_per_run)
        self.address, self.poll, self.lost_after = address, poll, lost_after
        self.gcs = _gcs_endpoint(ray, address)
        self.lost: str | None = None
        self.dataset_ref = ray.put(dataset)
        self.feature_refs = {k: ray.put(v) for k, v in features.items()}
        self.task = ray.remote(_ray_task).options(num_cpus=cpus_per_run, num_gpus=gpus_per_run, max_retries=0)
        self.threads = max(1, int(cpus_per_run))
        self.run_fn = run_fn
        self.features_info = features_info or {}
        if max_in_flight is None:
            res = ray.cluster_resources()
            cap = int(res.get("CPU", 1) // cpus_per_run) if cpus_per_run > 0 else 1
            if gpus_per_run > 0:
                cap = min(cap, int(res.get("GPU", 0) // gpus_per_run))
            max_in_flight = max(1, cap)
        self.slots = max_in_flight
        self.refs: dict[Any, RunConfig] = {}

    def submit(self, cfg: RunConfig):
        names = [m for m in cfg.modalities if m in self.feature_refs]
        ref = self.task.remote(self.dataset_ref, cfg.to_dict(), features_for(self.features_info, cfg), self.threads,
                               self.run_fn, names,
                               *[self.feature_refs[m] for m in names])
        self.refs[ref] = cfg
        return ref

    def wait(self):
        order = list(self.refs)
        silent_since = None
        while True:
            ready, _ = self.ray.wait(order, num_returns=1, timeout=self.poll)
            if ready:
                break
            silent_since = self._check_alive(silent_since)
        ref = ready[0]
        cfg = self.refs.pop(ref)
        record, arrays = self._fetch(ref, cfg)
        return cfg, record, arrays

    def _fetch(self, ref, cfg: RunConfig):
        """ray.get of a finished run, in bounded steps: a result held on a node that just died could block it."""
        silent_since = None
        while True:
            try:
                return self.ray.get(ref, timeout=max(self.poll, 5.0))
            except Exception as err:
                name = type(err).__name__
                if name in _SYSTEM_ERRORS:
                    self._lose(f"{name} while running {cfg.label} seed {cfg.seed}")
                if name != "GetTimeoutError":
                    raise
            silent_since = self._check_alive(silent_since)

    def _check_alive(self, silent_since: float | None) -> float | None:
        """Probe the head; returns since when it has not answered (None: it answers). ClusterLost after lost_after."""
        if self.gcs is None:
            return None
        why = probe(self.gcs, min(2.0, self.lost_after))
        if why is None:
            return None
        now = time.monotonic()
        silent_since = now if silent_since is None else silent_since
        if now - silent_since >= self.lost_after:
            self._lose(f"its head has not answered for {now - silent_since:.0f} s: {why}")
        return silent_since

    def _lose(self, why: str):
        self.lost = why
        raise ClusterLost(f"lost the Ray cluster{' at ' + self.address if self.address else ''} ({why})")

    def close(self, cancel: bool = False) -> None:
        # After a loss every Ray call may block until Ray gives up (a minute): cancel nothing, just forget.
        if cancel and not self.lost:
            for ref in self.refs:
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
        self.refs.clear()
