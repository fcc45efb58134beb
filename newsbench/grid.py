"""The ablation grid: which runs to make, who makes each one, and where the results go.

A grid is a list of RunConfigs (modality subsets x fusions x seeds over one base config). Running it:

1. load the dataset and compute every feature matrix the grid needs, once (they are cached on disk);
2. for each config not yet recorded, claim it with a lock file, train it (here, in a process pool, or as a Ray
   task), write its record from this process (the driver), release the lock.

Resume is free: a run whose record exists is skipped. Concurrency is by claim: `runs/<run_id>.lock` is created with
O_CREAT|O_EXCL, so exactly one process trains a run; a lock whose owner died (same host, dead pid, or any host and
no heartbeat for LOCK_STALE_SECONDS) is reclaimed. Stale-lock reclamation happens under a folder-wide flock so two
processes cannot both reclaim the same lock.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import inspect
import json
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from newsbench import atomic, store
from newsbench.config import FUSIONS, MODALITIES, NO_FUSION, RunConfig
from newsbench.errors import InputError

# The seed paper's ablation table: (subset, fusion). Seeds 0, 1, 2.
DEFAULT_TABLE: tuple[tuple[tuple[str, ...], str], ...] = (
    (("id",), NO_FUSION),
    (("id", "llm"), "concat"),
    (("id", "gnn"), "concat"),
    (("id", "llm", "gnn"), "concat"),
    (("id", "llm", "gnn"), "gate"),
    (("id", "llm", "gnn"), "attention"),
)
DEFAULT_SEEDS = (0, 1, 2)
DEFAULT_SUBSETS = tuple(dict.fromkeys(s for s, _ in DEFAULT_TABLE))   # used when only --fusions is given
DEFAULT_FUSIONS = ("concat", "gate", "attention")                    # used when only --subsets is given

LOCK_SUFFIX = ".lock"
LOCK_STALE_SECONDS = 600.0        # a lock from another host with no heartbeat for this long is abandoned
HEARTBEAT_SECONDS = 30.0
POLL_SECONDS = 1.0
TRACE_ENV = "NEWSBENCH_TRACE"     # when set, ablate prints `newsbench-trace: <event>` lines on stderr (for tests)


# ----------------------------------------------------------------------------------------------------------------
# Parsing and expansion

def all_subsets() -> list[tuple[str, ...]]:
    """The 7 non-empty subsets of MODALITIES: singletons first, then pairs, then all three, canonical order."""
    from itertools import combinations

    return [c for k in range(1, len(MODALITIES) + 1) for c in combinations(MODALITIES, k)]


def parse_modalities(text: str, option: str = "--modalities") -> tuple[str, ...]:
    """One modality subset, 'llm,id' -> ('id', 'llm') in canonical order; errors name `option` (the user's words)."""
    mods = [m.strip().lower() for m in (text or "").split(",")]
    if any(not m for m in mods):
        raise InputError(f"{option}: empty modality (separate modalities with ',')")
    bad = [m for m in mods if m not in MODALITIES]
    if bad:
        raise InputError(f"{option}: unknown modality {bad[0]!r}; choose from {', '.join(MODALITIES)}")
    if len(set(mods)) != len(mods):
        raise InputError(f"{option}: modality repeated in {text!r}")
    return tuple(m for m in MODALITIES if m in mods)


def parse_subsets(text: str) -> list[tuple[str, ...]]:
    """'all' or subsets separated by '+', modalities within one by ',': 'id,llm+id,gnn' -> [(id,llm), (id,gnn)]."""
    text = (text or "").strip()
    if text.lower() == "all":
        return all_subsets()
    if not text:
        raise InputError("--subsets is empty; give 'all' or e.g. 'id+id,llm+id,llm,gnn'")
    out: list[tuple[str, ...]] = []
    for part in text.split("+"):
        if not part.strip():
            raise InputError(f"--subsets {text!r}: empty subset (separate subsets with '+', modalities with ',')")
        subset = parse_modalities(part, option=f"--subsets {text!r}")
        if subset not in out:
            out.append(subset)
    return out


def parse_fusions(text: str) -> list[str]:
    """'concat,gate,attention' -> ['concat', 'gate', 'attention'] (deduplicated, order kept)."""
    names = [f.strip().lower() for f in (text or "").split(",")]
    if not names or any(not f for f in names):
        raise InputError(f"--fusions {text!r}: empty name; choose from {', '.join(FUSIONS)}")
    bad = [f for f in names if f not in FUSIONS]
    if bad:
        raise InputError(f"--fusions {text!r}: unknown fusion {bad[0]!r}; choose from {', '.join(FUSIONS)}")
    return list(dict.fromkeys(names))


def parse_seeds(text: str | None = None, n_seeds: int | None = None) -> list[int]:
    """'0,1,2' -> [0, 1, 2]; or n_seeds=N -> [0..N-1]. Exactly one may be given; neither -> DEFAULT_SEEDS."""
    if text is not None and n_seeds is not None:
        raise InputError("give --seeds or --n-seeds, not both")
    if n_seeds is not None:
        if n_seeds < 1:
            raise InputError(f"--n-seeds must be >= 1, got {n_seeds}")
        return list(range(n_seeds))
    if text is None:
        return list(DEFAULT_SEEDS)
    seeds = []
    for part in text.split(","):
        part = part.strip()
        try:
            seed = int(part)
        except ValueError:
            raise InputError(f"--seeds {text!r}: {part!r} is not an integer") from None
        if seed < 0:
            raise InputError(f"--seeds {text!r}: seeds must be >= 0")
        seeds.append(seed)
    return list(dict.fromkeys(seeds))


def expand_grid(subsets: Iterable[Sequence[str]], fusions: Iterable[str], seeds: Iterable[int],
                base: RunConfig) -> list[RunConfig]:
    """Cross product subsets x fusions x seeds on top of `base`, seed-major (all of seed 0 first, so a partial grid
    already holds one complete table). A single-modality subset runs once per seed, with no fusion. No duplicates."""
    fusions = list(fusions)
    out: dict[RunConfig, None] = {}
    for seed in seeds:
        for subset in subsets:
            for fusion in (fusions if len(subset) > 1 else [NO_FUSION]):
                out[dataclasses.replace(base, modalities=tuple(subset), fusion=fusion, seed=int(seed))] = None
    return list(out)


def default_grid(base: RunConfig, seeds: Iterable[int] = DEFAULT_SEEDS) -> list[RunConfig]:
    """The seed paper's table (DEFAULT_TABLE) for each seed, seed-major."""
    return [dataclasses.replace(base, modalities=s, fusion=f, seed=int(seed))
            for seed in seeds for s, f in DEFAULT_TABLE]


def needed_modalities(configs: Iterable[RunConfig]) -> tuple[str, ...]:
    mods = {m for c in configs for m in c.modalities}
    return tuple(m for m in MODALITIES if m in mods)


# ----------------------------------------------------------------------------------------------------------------
# Claims: one lock file per run

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


@contextlib.contextmanager
def _folder_mutex(results: str | os.PathLike):
    """Serialise claims within a results folder (flock: released by the kernel if the holder dies)."""
    d = store.runs_dir(results)
    d.mkdir(parents=True, exist_ok=True)
    fd = os.open(d / ".claims.mutex", os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            import fcntl
        except ImportError:     # not POSIX: O_EXCL alone still gives one winner per fresh lock
            yield
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


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


# ----------------------------------------------------------------------------------------------------------------
# Shared work and one run

def trace(event: str) -> None:
    """A machine-readable progress line on stderr, only when $NEWSBENCH_TRACE is set (tests pick kill points)."""
    if os.environ.get(TRACE_ENV):
        # Straight to fd 2: rich's live display redirects sys.stderr and prints it at its next refresh, which under
        # load can come after the event (a test would then signal a process that has already moved on).
        os.write(2, f"newsbench-trace: {event}\n".encode())


def feature_config(configs: Sequence[RunConfig]) -> RunConfig | None:
    """One config asking for every feature modality of the grid (None when the grid needs only `id`)."""
    mods = tuple(m for m in needed_modalities(configs) if m != "id")
    if not mods:
        return None
    device = configs[0].device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            device = "cpu"      # a Ray driver without a GPU computes the features its GPU workers will use
    return dataclasses.replace(configs[0], modalities=("id",) + mods, fusion="concat", device=device)


def compute_features(dataset, configs: Sequence[RunConfig], cache_dir=None, progress: bool = True
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every feature matrix the grid needs ({"llm": (N, D), "gnn": (N, 128)}), computed or read from the cache, and
    their descriptions for records ({"llm": {...}, "gnn": {...}}, newsbench.features.feature_info)."""
    fcfg = feature_config(configs)
    if fcfg is None:
        return {}, {}
    from newsbench.features import feature_info, load_features

    features = dict(load_features(dataset, fcfg, cache_dir=cache_dir, progress=progress))
    return features, dict(feature_info(dataset, fcfg, cache_dir=cache_dir, progress=False))


def features_for(features: dict[str, Any], cfg: RunConfig) -> dict[str, Any]:
    return {m: features[m] for m in cfg.modalities if m in features}


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


# ----------------------------------------------------------------------------------------------------------------
# Executors: submit(cfg) -> handle; wait() -> (handle, record, arrays); each keeps at most `slots` runs in flight.

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


# ----------------------------------------------------------------------------------------------------------------
# The driver loop

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
