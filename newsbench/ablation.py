"""The ablation grid end to end, as library steps: check a request, load and check its data, train what is pending,
record the baselines. `newsbench ablate` (newsbench.cli.ablate) draws progress and prints around these steps; the
Python API (newsbench.api.ablate) calls the same steps, so one request makes the same runs and records either way.

The steps, in the order both callers take them: `make_request` (every check that needs no data: a typo costs
nothing), `load` (the dataset, its splits and the inputs the grid reads), `shared_features` (once, for every pending
run), `run_pending` (the runs an executor makes), `record_baselines`. The grid's mechanics (expansion, claims,
executors) are newsbench.grid.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from newsbench import grid, store
from newsbench.config import RunConfig, make_config
from newsbench.errors import InputError, warn
from newsbench.options import OTHER, SEED_MAX, check_device
from newsbench.paths import check_writable_dir

EXECUTORS = ("local", "ray")


@dataclass(frozen=True)
class Request:
    """A checked ablation request: the runs (one RunConfig each) and where they are made."""
    configs: list[RunConfig]
    base: RunConfig                      # the options every run shares (seed, subset and fusion aside)
    executor: str = "local"
    workers: int = 1
    ray_address: Optional[str] = None
    cpus_per_run: float = 1.0
    gpus_per_run: float = 0.0
    ray_timeout: float = grid.RAY_TIMEOUT


def make_request(*, results, seeds: Optional[str] = None, n_seeds: Optional[int] = None,
                 subsets: Optional[str] = None, fusions: Optional[str] = None, device: str = "auto",
                 amp: bool = False, report: bool = True, executor: str = "local", workers: int = 1,
                 ray_address: Optional[str] = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
                 ray_timeout: float = grid.RAY_TIMEOUT, dry_run: bool = False, **options) -> Request:
    """Every check that needs no data, in the command line's order (the device, which imports torch, last); the
    run options (`options`: RunConfig's fields) are checked by the option table, as the command line checks them.
    With Ray, it is imported and (unless `dry_run`) connected here, so a wrong address is one line now."""
    for name, value in (("n_seeds", n_seeds), ("workers", workers), ("cpus_per_run", cpus_per_run),
                        ("gpus_per_run", gpus_per_run), ("ray_timeout", ray_timeout)):
        OTHER[name].check(value)
    executor = str(executor).strip().lower()
    if executor not in EXECUTORS:
        raise InputError(f"--executor {executor!r}: choose one of {', '.join(EXECUTORS)}")
    if executor == "ray" and workers != 1:
        raise InputError("--workers is for --executor local; with ray use --cpus-per-run/--gpus-per-run")
    seed_list = parse_seeds(seeds, n_seeds)
    fus = parse_fusions(fusions) if fusions is not None else None
    sub = parse_subsets(subsets, fus) if subsets is not None else None
    check_writable_dir(results, "--results")
    if report:
        check_writable_dir(Path(results) / "report", "--results")
    base = make_config(**options, device="cpu", amp=amp)
    dev = resolve_device(check_device(device), gpus_per_run if executor == "ray" else 0.0)
    if amp and not dev.startswith("cuda"):
        raise InputError("--amp needs a CUDA device (see --device)")
    base = dataclasses.replace(base, device=dev)
    if sub is None and fus is None:
        configs = grid.default_grid(base, seed_list)
    else:
        configs = grid.expand_grid(sub or list(grid.DEFAULT_SUBSETS), fus or list(grid.DEFAULT_FUSIONS), seed_list,
                                   base)
    from newsbench.runner import check_plugins

    check_plugins(configs, "--fusions")
    if executor == "ray":
        grid._import_ray()          # fail fast, before any work, when Ray is missing
        if not dry_run:
            # A wrong address or a cluster too small for one run: one line now, not a silent wait after the
            # features are computed.
            grid.connect_ray(ray_address, ray_timeout, cpus_per_run, gpus_per_run)
    return Request(configs, base, executor, workers, ray_address, cpus_per_run, gpus_per_run, ray_timeout)


def parse_seeds(text: Optional[str], n_seeds: Optional[int]) -> list[int]:
    seeds = grid.parse_seeds(text, n_seeds)
    too_big = [s for s in seeds if s > SEED_MAX]
    if too_big:
        raise InputError(f"--seeds {text!r}: {too_big[0]} is out of range; seeds are integers in 0..{SEED_MAX:,}")
    if text is not None and len(seeds) < len(text.split(",")):
        warn(f"--seeds {text!r}: repeated seeds are run once; kept {','.join(map(str, seeds))}")
    return seeds


def parse_subsets(text: str, fusions: Optional[list[str]]) -> list[tuple[str, ...]]:
    subsets = grid.parse_subsets(text)
    if fusions is not None:
        _check_fusions_apply(text, subsets, fusions)
    if text.strip().lower() != "all" and len(subsets) < len(text.split(grid.SUBSET_SEP)):
        warn(f"--subsets {text!r}: repeated subsets are run once; kept {grid.subsets_text(subsets)}")
    old = grid.changed_meaning(text)
    if old is not None:
        # Valid in both syntaxes: it reads the new way, but say so, since the former reading fused modalities.
        labels = [grid.subset_label(s) for s in subsets]
        warn(f"--subsets {text!r} means the subsets {' and '.join(labels)} (',' separates subsets, '+' joins "
             f"modalities, as in the labels); for the former reading write --subsets {grid.subsets_text(old)}")
    return subsets


def _check_fusions_apply(subsets_text: str, subsets: list[tuple[str, ...]], fusions: list[str]) -> None:
    """--fusions with only single-modality subsets would silently run no fusion at all: refuse it."""
    if all(len(s) == 1 for s in subsets):
        raise InputError(f"--fusions {','.join(fusions)}: no subset of --subsets {subsets_text!r} has two "
                         f"modalities, so no fusion would run; {grid.SUBSETS_RULE}")


def parse_fusions(text: str) -> list[str]:
    fusions = grid.parse_fusions(text)
    if len(fusions) < len(text.split(",")):
        warn(f"--fusions {text!r}: repeated fusions are run once; kept {','.join(fusions)}")
    return fusions


def resolve_device(device: str, gpus_per_run: float) -> str:
    if device == "auto" and gpus_per_run > 0:
        return "cuda"               # the Ray workers have the GPU, perhaps not this driver
    if device.startswith("cuda") and gpus_per_run > 0:
        return device
    from newsbench.train import resolve_device as local_device     # here: it imports torch

    return local_device(device)


# ------------------------------------------------------------------------------------------------ data


def load(req: Request, data, cache_dir, unknown_news: str, results, dry_run: bool = False, clock=None,
         say: Callable[[str], None] = lambda line: None):
    """The dataset, checked for what the grid needs before any run id is made or any feature computed; warns of
    damaged records and `say`s one line per pending run whose inputs changed. `clock`: a StageClock ('data')."""
    from contextlib import nullcontext

    from newsbench.data.load import load_training_data

    with clock("data") if clock is not None else nullcontext():
        # the splits are checked before the dry run's "pending", and before any feature work
        dataset = load_training_data(data, cache_dir, unknown_news)
    check_inputs(dataset, req.configs, cache_dir, dry_run)
    warn_damaged(req.configs, results, dataset.fingerprint)
    for line in changed_lines(req.configs, results, dataset.fingerprint, cache_dir, dry_run):
        say(line)
    return dataset


def check_inputs(dataset, configs, cache_dir, dry_run: bool) -> None:
    """What the grid reads beyond the dataset (newsbench.inputs), checked and digested once, before any run id is
    made: a missing vector file, ids file or model folder is the real run's one-line error, dry run or not. The dry
    run also makes the checks the features would (a vector file that parses and covers every news), since it
    computes none."""
    from newsbench.inputs import run_inputs

    fcfg = grid.feature_config(configs)
    if fcfg is None or "llm" not in fcfg.modalities:
        return
    run_inputs(fcfg, cache_dir)          # memoised: every run id below reuses these digests
    if dry_run:
        from newsbench.features.text import check_text_inputs

        check_text_inputs(dataset, fcfg.text_encoder, fcfg.text_fields, cache_dir)


def changed_lines(configs, results, fingerprint: str, cache_dir, dry_run: bool) -> list[str]:
    """One line per pending run whose options and seed were recorded over inputs with other bytes (an edited
    vector file): that record is not reused, and the user hears why."""
    from newsbench.inputs import change_line, run_inputs, stale_records

    pending = [c for c in configs if run_inputs(c, cache_dir) and not store.is_done(results, c.run_id(fingerprint))]
    then = "a new run (pending)" if dry_run else "training a new run"
    return [change_line(cfg, old_id, diff, then)
            for cfg, old_id, diff in stale_records(results, pending, fingerprint, lambda c: run_inputs(c, cache_dir))]


def warn_damaged(configs, results, fingerprint: str) -> None:
    """A damaged record (truncated .json, missing .npz) counts as pending: say which, once, before redoing it."""
    for cfg in configs:
        rid = cfg.run_id(fingerprint)
        if store.record_state(results, rid) == "damaged":
            warn(f"run {rid} ({cfg.label} seed {cfg.seed}) has a damaged record in {store.runs_dir(results)} "
                 f"({store.damage(results, rid)}); it counts as pending and is trained again")


def plan(configs, dataset, results) -> list[dict]:
    """The dry run: each run's label, seed, run id and status (done | pending | locked), in grid order."""
    rows = []
    for cfg in configs:
        rid = cfg.run_id(dataset.fingerprint)
        rows.append({"label": cfg.label, "seed": cfg.seed, "run_id": rid, "status": grid.run_status(results, rid)})
    return rows


# ------------------------------------------------------------------------------------------------ runs


class Tally(grid.GridEvents):
    """Grid events that sum the training and evaluation seconds of the runs this process recorded (for the stage
    clock); `run_progress` is train_run's per-step callback. Drawing subclasses (the CLI's bars) extend it."""

    def __init__(self):
        self.train_seconds = self.eval_seconds = 0.0

    def run_finished(self, cfg, run_id, record):
        timings = record.get("timings") or {}
        self.train_seconds += sum(timings.get("epoch_seconds") or [])
        # evaluation includes the attribution passes (timed apart in the record)
        self.eval_seconds += (timings.get("eval_seconds") or 0.0) + (timings.get("attribution_seconds") or 0.0)

    def run_progress(self, event: dict) -> None:
        pass


def pending(configs, dataset, results) -> list[RunConfig]:
    return [c for c in configs if not store.is_done(results, c.run_id(dataset.fingerprint))]


def shared_features(req: Request, dataset, results, cache_dir=None, progress: bool = False, clock=None):
    """Shared work, once, before the first run: every feature matrix the pending runs need and their descriptions
    ((features, info), as newsbench.grid.compute_features); None when no run is pending."""
    todo = pending(req.configs, dataset, results)
    if not todo:
        return None
    grid.trace("features-start")
    out = grid.compute_features(dataset, todo, cache_dir=cache_dir, progress=progress, clock=clock)
    grid.trace("features-done")
    return out


def run_pending(req: Request, dataset, results, shared, *, data=None, cache_dir=None, unknown_news: str = "error",
                events: Tally | None = None, clock=None):
    """Make every pending run with the request's executor over the `shared` features, recording each from this
    process; newsbench.grid's GridResult. `events` sees each run; its Tally of timings goes to `clock`."""
    events = events if events is not None else Tally()
    started = time.perf_counter()
    features, info = shared
    ex = make_executor(req, dataset, features, info, data, cache_dir, unknown_news, events.run_progress)
    res = grid.run_grid(req.configs, dataset, results, executor=ex, events=events)
    if clock is not None:
        clock.add_runs(time.perf_counter() - started, events.train_seconds, events.eval_seconds)
    return res


def make_executor(req: Request, dataset, features, info, data, cache_dir, unknown_news, on_progress):
    if req.executor == "ray":
        return grid.RayExecutor(dataset, features, address=req.ray_address, cpus_per_run=req.cpus_per_run,
                                gpus_per_run=req.gpus_per_run, features_info=info, timeout=req.ray_timeout)
    if req.workers > 1:
        from newsbench.paths import cache_dir as resolve_cache

        spec = grid.WorkerSpec(data_path=str(data) if data else None, cache_dir=str(resolve_cache(cache_dir)),
                               unknown_news=unknown_news, threads=max(1, (os.cpu_count() or 1) // req.workers))
        return grid.PoolExecutor(req.workers, spec, features_info=info)
    return grid.LocalExecutor(dataset, features, on_progress=on_progress, features_info=info)


def tidy_after_stop(configs, results, dataset, done: int) -> int:
    """After an interrupted grid: remove its leftovers; the number of runs recorded."""
    grid.clean_stale_files(results)
    return grid.count_done(configs, results, dataset.fingerprint) if dataset is not None else done


def record_baselines(req: Request, dataset, results, cache_dir=None, progress: bool = False) -> list[str]:
    """Record the data-derived baselines beside the runs (RESULTS/baselines/), for the report's reference rows:
    popularity and recent popularity always, the centroid scores of the features the grid used (from the cache).
    Returns their names."""
    from newsbench import baselines as bl

    mods = grid.needed_modalities(req.configs)
    names = [n for n in bl.BASELINES if n not in bl.FEATURE_OF or bl.FEATURE_OF[n] in mods]
    base = req.base
    fcfg = grid.feature_config(req.configs)
    if fcfg is not None:        # the device the grid's features were computed on (a GPU-less Ray driver: cpu)
        base = dataclasses.replace(base, device=fcfg.device)
    bl.score_baselines(dataset, base, names, cache_dir=cache_dir, results=results, progress=progress)
    return names
