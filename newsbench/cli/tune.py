"""`newsbench tune`: every configuration tuned with the same trial budget on a validation day carved from train, then
its best settings trained with the usual seeds as ordinary runs. Option parsing and rendering only: the steps are
newsbench.tuning.driver."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, ResultsOpt, UnknownNewsOpt, paragraphs, plural
from newsbench.cli.options import FEATURE_OPTIONS, TRAINING_OPTIONS, device_option, other_option, with_run_options

HELP = paragraphs("""Tune each configuration with the same budget, then train its best settings.

For each configuration of the grid (the options of `ablate`: --subsets, --fusions, dataset, encoders; by default
the seed paper's six), --trials trials of a seeded TPE sampler (Optuna) draw the learning rate, dropout, ID
dropout and user-encoder width; each trial trains on the train split without its last day (or last
--validation-days) and is scored on that day. The dev split is never read while tuning. Trials live in
RESULTS/tuning.db, one Optuna study per configuration: a killed tune resumes with the same command, and two
processes may share a results folder.

Then each configuration's best settings are trained on the full train split with --seeds as ordinary runs;
`newsbench report --tuned` compares them with the same tests. More in docs/tuning.md.""")
EPILOG = """Examples:
  newsbench tune --dry-run
  newsbench tune --trials 8
  newsbench tune -e hash --epochs 1 --trials 3 --seeds 0 -r /tmp/t
  newsbench tune --subsets id+llm+gnn --fusions gate,attention --space space.toml
  newsbench tune --trials 16 --validation-days 2 -r results-tuned
  newsbench report --tuned"""
GRID, TUNING = "Grid", "Tuning"


def register(app: typer.Typer) -> None:
    app.command(name="tune", help=HELP, epilog=EPILOG)(tune)


@with_run_options(*TRAINING_OPTIONS, *FEATURE_OPTIONS, after="fusions")
@with_run_options("cpu_threads", after="device")
def tune(
    data: Optional[Path] = DataOpt,
    cache_dir: Optional[Path] = CacheOpt,
    unknown_news: str = UnknownNewsOpt,
    trials: int = other_option("trials", 8),
    space: Optional[Path] = typer.Option(None, "--space", rich_help_panel=TUNING,
                                         help="TOML file overriding the search space (docs/tuning.md)."),
    metric: str = typer.Option("auc", "--metric", rich_help_panel=TUNING, show_default=False,
                               help="Validation metric to maximise: auc | mrr | ndcg@5 | ndcg@10; default auc."),
    tune_seed: int = other_option("tune_seed", 0),
    validation_days: int = other_option("validation_days", 1),
    seeds: Optional[str] = typer.Option(None, "--seeds", rich_help_panel=GRID,
                                        help="Seeds of the final runs, e.g. 0,1,2 (the default)."),
    n_seeds: Optional[int] = other_option("n_seeds", None),
    subsets: Optional[str] = typer.Option(None, "--subsets", rich_help_panel=GRID,
                                          help="'all' or subsets as labels write them: 'id,id+llm'."),
    fusions: Optional[str] = typer.Option(None, "--fusions", rich_help_panel=GRID,
                                          help="Comma-separated fusions, e.g. gate,attention."),
    device: str = device_option(),
    results: Path = ResultsOpt,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and the search space; run nothing.",
                                 rich_help_panel=OUTPUT),
    **run_options,
) -> None:
    from newsbench.tuning import driver

    console, out = Console(stderr=True), Console()
    req = driver.make_request(
        results=results, trials=trials, seeds=seeds, n_seeds=n_seeds, subsets=subsets, fusions=fusions, space=space,
        metric=metric, tune_seed=tune_seed, validation_days=validation_days, device=device, **run_options)
    dataset, carved, info = driver.load(req, data, cache_dir, unknown_news, dry_run)
    if dry_run:
        _print_plan(out, req, driver.plan(req, dataset, results), dataset, info, results)
        return
    started = time.perf_counter()
    try:
        with _TuneProgress(console, req) as view:
            done = driver.tune(req, dataset, carved, info, results, cache_dir, events=view,
                               final_events=_FinalLines(console), progress=True,
                               say=lambda line: console.print(line, highlight=False))
    except KeyboardInterrupt:
        console.print("interrupted: finished trials and runs are kept; rerun the same command to resume")
        raise SystemExit(130)
    res, configs = done.grid, done.configs
    console.print(f"tune: {plural(len(res.ran), 'final run')} trained, {res.done_before} already recorded"
                  f"{f', {len(res.by_others)} by another process' if res.by_others else ''} in "
                  f"{time.perf_counter() - started:.1f} s", highlight=False)
    _print_summary(out, configs, req)
    console.print(f"tune: trials in {Path(results) / 'tuning.db'}; compare with `newsbench report -r {results} "
                  f"--tuned`", highlight=False, soft_wrap=True)


def _settings(params: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def _print_plan(out: Console, req, configs, dataset, info, results) -> None:
    from newsbench.tuning import study as studies

    db = studies.db_path(results)
    done = {}
    if db.is_file():
        store_ = studies.storage(results)
        for c in configs:
            s = studies.find_study(store_, c.name)
            done[c.name] = studies.tally(s)[0] if s is not None else 0
    table = Table(title=f"tuning plan on {dataset.name} ({dataset.fingerprint[:12]}) -> {db}")
    for col in ("configuration", "searched", "trials done", "study"):
        table.add_column(col)
    for c in configs:
        table.add_row(c.label, ", ".join(p.name for p in c.params), f"{done.get(c.name, 0)} of {req.trials}",
                      c.name.split(" #")[-1])
    out.print(table)
    space = Table(title="search space")
    for col in ("parameter", "range", "applies to"):
        space.add_column(col)
    for p in req.space:
        space.add_row(p.name, p.text(), "runs with id" if p.name == "id_dropout" else "every configuration")
    out.print(space)
    out.print(f"validation: {info['rule']} ({info['n_train_impressions']:,} train / "
              f"{info['n_validation_impressions']:,} validation impressions); metric {req.metric}; tuning seed "
              f"{req.seed}", highlight=False)
    out.print(f"then {plural(len(configs) * len(req.seeds), 'final run')}: each configuration's best settings "
              f"with seeds {','.join(map(str, req.seeds))} on the full train split", highlight=False)


def _print_summary(out: Console, configs, req) -> None:
    from newsbench.tuning import driver, study as studies

    table = Table(title=f"tuned settings (best validation {req.metric})")
    for col in ("configuration", "settings", req.metric, "trials", "wall s"):
        table.add_column(col, justify="right" if col in (req.metric, "trials", "wall s") else "left")
    for c in configs:
        b = studies.best(c.study)
        done, _ = studies.tally(c.study)
        table.add_row(c.label, _settings(b.params) if b else "", f"{b.value:.4f}" if b else "n/a", str(done),
                      f"{driver.trial_seconds(c.study):.0f}")
    out.print(table)


class _TuneProgress:
    """One bar per configuration: trials counted of the budget, the best validation value so far."""

    def __init__(self, console: Console, req):
        self.metric, self.trials = req.metric, req.trials
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("{task.fields[info]}"), console=console)
        self.tasks = {}

    def _task(self, c):
        """The configuration's bar, added when its first trial starts (resumed: at its count so far)."""
        if c.name not in self.tasks:
            if not self.tasks:
                self.progress.start()
            done, best = _progress(c)
            self.tasks[c.name] = self.progress.add_task(c.label, total=self.trials,
                                                        completed=min(done, self.trials), info=self._best(best))
        return self.tasks[c.name]

    def _best(self, best) -> str:
        return "" if best is None else f"best {self.metric} {best:.4f}"

    # The bars start with the first trial and stop after the last: the features before and the final runs after
    # draw progress of their own, and rich shows one live display at a time.
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.trials_done()

    def trials_done(self):
        if self.tasks:
            self.progress.stop()

    def trial_started(self, c, number, params):
        task = self._task(c)
        done, best = _progress(c)
        self.progress.update(task, info=f"{self._best(best)}  trial {number}: {_settings(params)}".strip()[:70])

    def trial_finished(self, c, number, value, seconds):
        done, best = _progress(c)
        self.progress.update(self._task(c), completed=done, info=self._best(best))

    def waiting(self, c, running):
        self.progress.update(self._task(c), info=f"waiting for {plural(running, 'trial')} of another process")


def _progress(c):
    from newsbench.tuning import driver

    return driver.progress_of(c)


class _FinalLines:
    """The final runs: one line each (the grid's events)."""

    def __init__(self, console: Console):
        self.console = console

    def run_started(self, cfg, run_id):
        pass

    def run_finished(self, cfg, run_id, record):
        auc = (record.get("metrics") or {}).get("auc")
        self.console.print(f"  tuned {cfg.label:<22} seed {cfg.seed}  AUC {auc:.4f}  [dim]{run_id}[/]")

    def run_skipped(self, cfg, run_id, why):
        pass

    def waiting(self, locked):
        pass
