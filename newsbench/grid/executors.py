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


def _ray_task(dataset, cfg_dict: dict, features_info: dict, threads: int, run_fn, names: list[str], *arrays
              ) -> tuple[dict, dict]:
    # Feature arrays come as top-level arguments so Ray resolves their refs (zero-copy reads from the store).
    import torch

    torch.set_num_threads(max(1, threads))
    return call_run(run_fn, dataset, dict(zip(names, arrays)), RunConfig.from_dict(cfg_dict), progress=None,
                    features_info=features_info)


class RayExecutor:
    """One Ray task per run. Dataset and features travel through the object store (ray.put), results come back to
    the driver, which writes the records: workers need no shared disk."""

    def __init__(self, dataset, features: dict, address: str | None = None, cpus_per_run: float = 1.0,
                 gpus_per_run: float = 0.0, run_fn=None, max_in_flight: int | None = None,
                 features_info: dict | None = None):
        ray = self.ray = _import_ray()
        if not ray.is_initialized():
            try:
                ray.init(address=address, ignore_reinit_error=True, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise InputError(f"--ray-address {address}: cannot connect to Ray: {err}") from None
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
        ready, _ = self.ray.wait(order, num_returns=1)
        ref = ready[0]
        cfg = self.refs.pop(ref)
        record, arrays = self.ray.get(ref)
        return cfg, record, arrays

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for ref in self.refs:
                with contextlib.suppress(Exception):
                    self.ray.cancel(ref, force=True)
        self.refs.clear()
