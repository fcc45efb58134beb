"""`newsbench tune` as library steps: check a request, carve the validation split, run each configuration's trials
to an equal budget, then train each configuration's best settings on the full train split with the usual seeds as
ordinary runs. The CLI (newsbench.cli.tune) draws progress around these steps; the Python API (newsbench.api.tune)
calls them too.

A trial trains on the carved split's train days and is scored on its validation day (newsbench.tuning.split): it
never sees the dev split. The final runs go through the grid (claims, records), so they are the runs `ablate` would
make with those options: their run ids hold the tuned settings, beside the untuned records of the same
configuration, and `newsbench train` reproduces each from its record's command.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable, Optional

from newsbench import ablation, grid
from newsbench.config import PLACEBO, RunConfig, code_versions
from newsbench.errors import InputError
from newsbench.options import OTHER
from newsbench.tuning import space as spaces
from newsbench.tuning import split, study as studies

DEFAULT_TRIALS = 8


@dataclass(frozen=True)
class Request:
    """A checked tuning request: one base RunConfig per configuration (seed = the tuning seed), the final seeds."""
    configs: list[RunConfig]
    seeds: list[int]
    space: tuple
    trials: int
    metric: str
    seed: int                   # seeds TPE and every trial's model
    validation_days: int = 1    # the last train days carved off as the validation split


@dataclass
class Config:
    """One configuration of a tuning: its study, searched parameters and budget state."""
    base: RunConfig
    params: tuple
    name: str
    results: object
    study: object = None

    @property
    def label(self) -> str:
        return self.base.label


def make_request(*, results, trials: int = DEFAULT_TRIALS, seeds: Optional[str] = None,
                 n_seeds: Optional[int] = None, subsets: Optional[str] = None, fusions: Optional[str] = None,
                 space=None, metric: str = "auc", tune_seed: int = 0, validation_days: int = 1,
                 device: str = "auto", **options) -> Request:
    """Every check that needs no data: the grid options as `ablate` checks them, the budget, the metric and the
    search-space file (one error line naming it, before any trial)."""
    OTHER["trials"].check(trials)
    OTHER["tune_seed"].check(tune_seed)
    OTHER["validation_days"].check(validation_days)
    from newsbench import stats

    try:
        metric = stats.metric_name(metric)
    except ValueError as err:
        raise InputError(f"--metric: {err}") from None
    params = spaces.load_space(space)
    _require_optuna()
    req = ablation.make_request(results=results, seeds=seeds, n_seeds=n_seeds, subsets=subsets, fusions=fusions,
                                device=device, report=False, **options)
    configs = []
    for c in req.configs:
        if subsets is None and PLACEBO in c.modalities:
            continue            # the default subsets without the placebo: a control, tuned only when named
        one = dataclasses.replace(c, seed=tune_seed)
        if one not in configs:
            configs.append(one)
    for c in configs:
        if not spaces.for_modalities(params, c.modalities):
            raise InputError(f"{c.label}: no parameter of the search space applies to it "
                             f"({', '.join(p.name for p in params)}); add one with --space")
    seed_list = list(dict.fromkeys(c.seed for c in req.configs))
    return Request(configs, seed_list, params, trials, metric, tune_seed, validation_days)


def _require_optuna() -> None:
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise InputError("newsbench tune needs Optuna: pip install 'newsbench[tune]'") from None


def plan(req: Request, dataset, results) -> list[Config]:
    """One Config per configuration of a request, its study named but not opened (`open_studies` opens them)."""
    out = []
    for base in req.configs:
        params = spaces.for_modalities(req.space, base.modalities)
        out.append(Config(base, params, studies.study_name(base.label, dataset.fingerprint,
                                                           study_key(req, base, params)), results))
    return out


def study_key(req: Request, base: RunConfig, params) -> str:
    """What a configuration's trials depend on beyond its label and dataset: its other options (the searched ones
    aside), the space, the metric, the split rule, the seed and the code versions."""
    ident = base.identity()
    for p in params:
        ident.pop(p.name, None)
    ident.pop("seed", None)
    parts = {"base": ident, "space": [dataclasses.asdict(p) for p in params], "metric": req.metric,
             "split": split.SPLIT_VERSION, "seed": req.seed, "code": code_versions(base.modalities)}
    if req.validation_days != 1:
        parts["validation_days"] = req.validation_days      # absent at 1: the studies made before it keep their names
    return studies.key_of(parts)


def load(req: Request, data, cache_dir, unknown_news: str = "error", dry_run: bool = False):
    """(the dataset, its tuning split, the split's description), checked before any trial."""
    from newsbench.ablation import check_inputs
    from newsbench.data.load import load_training_data

    dataset = load_training_data(data, cache_dir, unknown_news)
    check_inputs(dataset, req.configs, cache_dir, dry_run)
    carved, info = split.carve(dataset, req.validation_days)
    return dataset, carved, info


@dataclass
class Outcome:
    """What a tune did: its configurations (with their studies) and the final runs' grid result."""
    configs: list
    final: list
    grid: object

    def summary(self) -> list[dict]:
        """Per configuration: label, study, chosen settings, best validation value, counted trials, wall seconds."""
        out = []
        for c in self.configs:
            b = studies.best(c.study)
            out.append({"label": c.label, "study": c.name, "params": dict(b.params) if b else {},
                        "best_value": b.value if b else None, "trials": studies.tally(c.study)[0],
                        "wall_seconds": trial_seconds(c.study)})
        return out


def tune(req: Request, dataset, carved, info: dict, results, cache_dir=None, events: "TuneEvents | None" = None,
         final_events=None, progress: bool = False, say: Callable[[str], None] = lambda line: None) -> Outcome:
    """Every configuration's trials to the budget (features of the tuning split computed once, when a trial is
    pending), then the final runs of the best settings."""
    configs = plan(req, dataset, results)
    open_studies(configs, results, dataset, req, info)
    if any(progress_of(c)[0] < req.trials for c in configs):
        say(f"tune: {info['rule']} ({info['n_train_impressions']:,} / {info['n_validation_impressions']:,} "
            f"impressions)")
        features, _ = grid.compute_features(carved, req.configs, cache_dir=cache_dir, progress=progress)
        # first every trial this process can take, then the others' last ones (taken over if their process dies):
        # a second process moves on to the next configuration instead of waiting for the first one's last trial
        for wait in (False, True):
            for c in configs:
                run_trials(c, req, carved, features, events, wait=wait)
    if events is not None:
        events.trials_done()
    final = final_configs(configs, req.seeds)
    res = run_final(final, dataset, results, cache_dir, events=final_events, progress=progress)
    return Outcome(configs, final, res)


def open_studies(configs: list[Config], results, dataset, req: Request, info: dict) -> None:
    store_ = studies.storage(results)
    for c in configs:
        c.study = studies.open_study(results, store_, c.name, {
            "label": c.label, "fingerprint": dataset.fingerprint, "metric": req.metric,
            "space": [dataclasses.asdict(p) for p in c.params], "base": c.base.to_dict(), "split": info,
            "untuned_group": c.base.group_id(), "tuning_seed": req.seed})


def progress_of(c: Config) -> tuple[int, float | None]:
    """(counted trials, best value so far) of a configuration's study."""
    done, _ = studies.tally(c.study)
    b = studies.best(c.study)
    return done, (b.value if b is not None else None)


class TuneEvents:
    """Hooks the CLI draws progress with; the defaults do nothing."""

    def trial_started(self, c: Config, number: int, params: dict) -> None: ...
    def trial_finished(self, c: Config, number: int, value: float | None, seconds: float) -> None: ...
    def waiting(self, c: Config, running: int) -> None: ...
    def trials_done(self) -> None: ...


def run_trials(c: Config, req: Request, carved, features, events: TuneEvents | None = None,
               run_fn: Callable | None = None, wait: bool = True) -> None:
    """Run trials of one configuration until `req.trials` have been counted (by this process or others). A trial
    stopped by an exception (Ctrl-C included) is FAILed, so it does not count and a rerun draws it again.
    `wait` False: return as soon as no trial is left to ask, though another process may still be running some."""
    from optuna.trial import TrialState

    events = events or TuneEvents()
    dists = spaces.distributions(c.params)
    while True:
        trial = studies.ask(c.results, c.study, dists, req.trials, req.seed)
        if trial is None:
            if not wait:
                return
            studies.wait_for_others(c.study, on_wait=lambda n: events.waiting(c, n))
            if studies.tally(c.study)[0] >= req.trials:
                return
            continue            # a process we waited for died: its trial is failed (in `ask`) and run here
        params = dict(trial.params)
        t0 = time.perf_counter()
        try:            # from here to `tell`, a stop fails the trial: it is not left RUNNING for a rerun to clear
            grid.trace(f"trial-start {c.label} {trial.number}")
            events.trial_started(c, trial.number, params)
            value = trial_value(carved, features, dataclasses.replace(c.base, **params), req.metric, run_fn)
        except BaseException:
            c.study.tell(trial, state=TrialState.FAIL)
            raise
        if value is None or not math.isfinite(value):
            trial.set_user_attr(studies.DIVERGED, True)
            c.study.tell(trial, state=TrialState.FAIL)
        else:
            c.study.tell(trial, value)
        grid.trace(f"trial-done {c.label} {trial.number}")
        events.trial_finished(c, trial.number, value, time.perf_counter() - t0)


def trial_value(carved, features, cfg: RunConfig, metric: str, run_fn: Callable | None = None) -> float | None:
    """Train `cfg` on the carved split's train days and return its `metric` on the validation day."""
    record, _ = grid.call_run(run_fn, carved, features, cfg)
    return record["metrics"].get(metric)


def tuned_config(c: Config) -> RunConfig | None:
    """The configuration with its best trial's settings (seed: the tuning seed), or None without a COMPLETE trial."""
    b = studies.best(c.study)
    if b is None:
        return None
    return dataclasses.replace(c.base, **b.params)


def final_configs(configs: list[Config], seeds: list[int]) -> list[RunConfig]:
    """The final runs: each configuration's best settings with every seed, seed-major like `ablate`'s grid; each
    study records which group of runs is its tuned one (for `report --tuned`)."""
    out = []
    tuned = {c.name: tuned_config(c) for c in configs}
    for c in configs:
        if tuned[c.name] is None:
            raise InputError(f"{c.label}: no trial completed (every trial diverged); nothing to train")
        c.study.set_user_attr("tuned_group", tuned[c.name].group_id())
        c.study.set_user_attr("tuned_params", studies.best(c.study).params)
    for s in seeds:
        for c in configs:
            out.append(dataclasses.replace(tuned[c.name], seed=s))
    return out


def trial_seconds(study) -> float:
    """Wall seconds of a study's counted trials, as Optuna timed them (start to completion)."""
    total = 0.0
    for t in study.get_trials(deepcopy=False):
        if studies.counted(t) and t.datetime_start and t.datetime_complete:
            total += (t.datetime_complete - t.datetime_start).total_seconds()
    return total


def run_final(configs: list[RunConfig], dataset, results, cache_dir=None, events=None, progress: bool = False):
    """Train every final run not yet recorded, through the grid (claims: two tune processes train each once)."""
    features, info = grid.compute_features(dataset, configs, cache_dir=cache_dir, progress=progress)
    ex = grid.LocalExecutor(dataset, features, on_progress=getattr(events, "run_progress", None), features_info=info)
    return grid.run_grid(configs, dataset, results, executor=ex, events=events)


__all__ = ["Config", "DEFAULT_TRIALS", "Outcome", "Request", "TuneEvents", "final_configs", "load", "make_request",
           "open_studies", "plan", "progress_of", "run_final", "run_trials", "trial_seconds", "trial_value", "tune",
           "tuned_config"]
