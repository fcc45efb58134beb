"""`newsbench ablate`: the resumable grid of modality subsets x fusions x seeds, then the report.

Only option parsing and rendering live here: the steps (checks, data, features, runs, baselines) are
newsbench.ablation, which the Python API calls too; the grid mechanics (expansion, claims, executors) newsbench.grid.
"""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from newsbench import ablation, grid, store
from newsbench.baselines import BASELINES_DIR
from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, ResultsOpt, UnknownNewsOpt, plural
from newsbench.cli.options import (FEATURE_OPTIONS, TRAINING_OPTIONS, choice_option, device_option, other_option,
                                   with_run_options)
from newsbench.options import EXECUTION

HELP = """Run the ablation grid: modality subsets x fusions x seeds, resumable, then print the report.

Default: the `demo` dataset, seeds 0,1,2 and the seed paper's table (id; id+llm, id+gnn with concat; id+llm+gnn \
with concat, gate, attention) plus the placebo id+rand with concat: 21 runs. --subsets and --fusions run their \
full cross product instead.

Each run is recorded once in RESULTS/runs/: after Ctrl-C or a kill, the same command resumes; two processes may \
share a results folder. More in docs/ablate.md.
"""
EPILOG = """Examples:
  newsbench ablate --dry-run
  newsbench ablate -d ../MIND --subsets all --fusions concat,gate --n-seeds 5
  newsbench ablate --subsets id,id+llm,id+llm+gnn --fusions gate,attention
  newsbench ablate -e hash --epochs 1 --seeds 0 --results /tmp/quick
  newsbench ablate --workers 2
  newsbench ablate --executor ray --ray-address auto --gpus-per-run 1"""
GRID, REPORT = "Grid", "Report"      # --help panels of ablate's own options (the others: newsbench.options)


def register(app: typer.Typer) -> None:
    app.command(name="ablate", help=HELP, epilog=EPILOG)(ablate)


@with_run_options(*TRAINING_OPTIONS, *FEATURE_OPTIONS, "rand_dim", after="fusions")
@with_run_options("cpu_threads", after="amp")
def ablate(
    data: Optional[Path] = DataOpt,
    cache_dir: Optional[Path] = CacheOpt,
    unknown_news: str = UnknownNewsOpt,
    seeds: Optional[str] = typer.Option(None, "--seeds", rich_help_panel=GRID,
                                        help="Comma-separated seeds, e.g. 0,1,2 (the default)."),
    n_seeds: Optional[int] = other_option("n_seeds", None),
    subsets: Optional[str] = typer.Option(
        None, "--subsets", rich_help_panel=GRID,
        help="'all' or subsets as labels write them: 'id,id+llm,id+rand'."),
    fusions: Optional[str] = typer.Option(
        None, "--fusions", rich_help_panel=GRID, help="Comma-separated fusions, e.g. gate,film or pkg.mod:Class."),
    device: str = device_option(),
    amp: bool = typer.Option(False, "--amp/--no-amp", help="Mixed precision on CUDA.", rich_help_panel=EXECUTION,
                             show_default=False),
    results: Path = ResultsOpt,
    executor: str = choice_option("local", ("--executor",), ("local", "ray"), "local | ray (a Ray cluster).",
                                  rich_help_panel=EXECUTION),
    workers: int = other_option("workers", 1),
    ray_address: Optional[str] = typer.Option(
        None, "--ray-address", rich_help_panel=EXECUTION,
        help="Ray: cluster address (auto, ray://host:10001); default a local Ray."),
    cpus_per_run: float = other_option("cpus_per_run", 1.0),
    gpus_per_run: float = other_option("gpus_per_run", 0.0),
    ray_timeout: float = other_option("ray_timeout", grid.RAY_TIMEOUT),
    dry_run: bool = typer.Option(False, "--dry-run", help="List the runs, done or pending; run nothing.",
                                 rich_help_panel=OUTPUT),
    report: bool = typer.Option(True, "--report/--no-report", help="Print the report, write RESULTS/report/.",
                                rich_help_panel=OUTPUT, show_default=False),
    plots: bool = typer.Option(False, "--plots", rich_help_panel=OUTPUT,
                               help="Also draw the report's figures (as `newsbench report --plots`: PNG, PDF and "
                               "CSV in RESULTS/report/figures; needs newsbench\\[plots])."),
    alpha: float = other_option("alpha", 0.05, help="Significance level.", rich_help_panel=REPORT),
    test: str = choice_option("permutation", ("--test",), ("ttest", "wilcoxon", "permutation"),
                              "Paired test: ttest | wilcoxon | permutation.", rich_help_panel=REPORT),
    **run_options,
) -> None:
    console = Console(stderr=True)
    out = Console()
    from newsbench.report.figures import check_plots_before_a_grid

    check_plots_before_a_grid(plots, report)
    req = ablation.make_request(
        results=results, seeds=seeds, n_seeds=n_seeds, subsets=subsets, fusions=fusions, device=device, amp=amp,
        report=report, executor=executor, workers=workers, ray_address=ray_address, cpus_per_run=cpus_per_run,
        gpus_per_run=gpus_per_run, ray_timeout=ray_timeout, dry_run=dry_run, **run_options)
    configs = req.configs

    from newsbench.timing import StageClock

    done, dataset, clock = 0, None, StageClock()
    previous_term = _terminate_as_interrupt()
    try:
        dataset = ablation.load(req, data, cache_dir, unknown_news, results, dry_run, clock,
                                say=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        if dry_run:
            _print_plan(out, configs, dataset, results)
            return
        grid.clean_stale_files(results)
        done = grid.count_done(configs, results, dataset.fingerprint)
        started = time.perf_counter()
        shared = ablation.shared_features(req, dataset, results, cache_dir, progress=True, clock=clock)
        if shared is not None:
            one_at_a_time = req.executor == "local" and req.workers == 1
            with _GridProgress(console, configs, done, run_bar=one_at_a_time) as view:
                res = ablation.run_pending(req, dataset, results, shared, data=data, cache_dir=cache_dir,
                                           unknown_news=unknown_news, events=view, clock=clock)
            done = res.done
            console.print(f"ablate: {plural(len(res.ran), 'run')} trained, {res.done_before} already done"
                          + (f", {len(res.by_others)} by another process" if res.by_others else "")
                          + f"; {res.done} of {res.total} recorded in {store.runs_dir(results)} "
                          f"({time.perf_counter() - started:.1f} s)")
        else:
            console.print(f"ablate: {'the' if len(configs) == 1 else 'all'} {plural(len(configs), 'run')} already "
                          f"recorded in {store.runs_dir(results)}")
        # Baselines and report are inside the Ctrl-C path too: a stop there says so like a stop in training.
        grid.trace("baselines-start")
        names = ablation.record_baselines(req, dataset, results, cache_dir)
        console.print(f"ablate: {plural(len(names), 'data-derived baseline')} recorded in "
                      f"{Path(results) / BASELINES_DIR}")
        if report:
            grid.trace("report-start")
            with clock("report"):
                _report(results, dataset, out, console, alpha, test, plots)
    except KeyboardInterrupt as stop:
        done = ablation.tidy_after_stop(configs, results, dataset, done)
        console.print(f"interrupted: {done} of {plural(len(configs), 'run')} done; rerun the same command to resume")
        # SystemExit, not typer.Exit: the line above says it all, so newsbench.cli.main adds no "interrupted" line
        raise SystemExit(143 if isinstance(stop, _Terminated) else 130)
    except grid.ClusterLost as lost:
        done = ablation.tidy_after_stop(configs, results, dataset, done)
        _exit_after_lost_cluster(f"{lost}; {done} of {plural(len(configs), 'run')} done; rerun the same command to "
                                 f"resume")
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
    console.print(f"ablate: {clock.line()}", soft_wrap=True, highlight=False)


def _exit_after_lost_cluster(message: str) -> None:
    """One line and exit status 1, now. Not through sys.exit: that runs Ray's exit hook (ray.shutdown), which talks
    to the dead cluster, and Ray itself ends a driver whose head has been gone for 60 s, with a log of its own. The
    records are on disk already; nothing else needs flushing."""
    import os
    import sys

    print(f"newsbench: error: {message}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(1)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler, `kill`, `timeout`): stop as cleanly as on Ctrl-C."""


def _raise_terminated(signum, frame):
    raise _Terminated()


def _terminate_as_interrupt():
    """Route SIGTERM through the Ctrl-C path; returns the previous handler (None when not in the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _print_plan(out: Console, configs, dataset, results: Path) -> None:
    table = Table(title=f"ablation grid on {dataset.name} ({dataset.fingerprint[:12]}) -> {store.runs_dir(results)}")
    for col in ("#", "run", "seed", "run id", "status"):
        table.add_column(col, justify="right" if col in ("#", "seed") else "left")
    counts = {"done": 0, "pending": 0, "locked": 0}
    style = {"done": "green", "pending": "yellow", "locked": "cyan"}
    for i, row in enumerate(ablation.plan(configs, dataset, results), 1):
        status = row["status"]
        counts[status] += 1
        table.add_row(str(i), row["label"], str(row["seed"]), row["run_id"], f"[{style[status]}]{status}[/]")
    out.print(table)
    out.print(f"{plural(len(configs), 'run')}: {counts['done']} done, {counts['pending']} pending, "
              f"{counts['locked']} locked (being trained by another process)")


def _report(results: Path, dataset, out: Console, console: Console, alpha: float, test: str, plots: bool) -> None:
    try:
        from newsbench.report import print_and_write
    except ImportError:
        console.print("ablate: the report module is not available; run `newsbench report` later")
        return
    # Only this dataset's runs (a results folder may hold others), with its card's planted signals when generated.
    data = print_and_write(Path(results), Path(results) / "report", out, alpha=alpha, test=test,
                           card=dataset.card, dataset=dataset.fingerprint, plots=plots, bars=plots)
    if data.get("written"):
        console.print(f"ablate: report tables written to {Path(results) / 'report'}")


class _GridProgress(ablation.Tally):
    """Two bars: the grid (runs done/total, ETA) and the current run (epoch, step, loss)."""

    def __init__(self, console: Console, configs, done: int, run_bar: bool = True):
        super().__init__()
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
            console=console, transient=False)
        self.total = len(configs)
        self.grid_task = self.progress.add_task("grid", total=self.total, completed=done, info="")
        self.run_task = None
        self.run_bar = run_bar          # parallel executors: no per-step progress, list the runs in flight instead
        self.in_flight: dict[str, str] = {}
        self._waiting_shown = False

    def __enter__(self):
        self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        return self.progress.__exit__(*exc)

    def _show_in_flight(self):
        names = list(self.in_flight.values())
        info = f"running {len(names)}: " + ", ".join(names) if names else ""
        self.progress.update(self.grid_task, info=info[:80])

    def run_started(self, cfg, run_id):
        if not self.run_bar:
            self.in_flight[run_id] = f"{cfg.label} s{cfg.seed}"
            self._show_in_flight()
            return
        if self.run_task is None:
            self.run_task = self.progress.add_task("run", total=None, info="")
        self.progress.reset(self.run_task, total=None, description=f"{cfg.label} s{cfg.seed}", info="")

    def run_finished(self, cfg, run_id, record):
        super().run_finished(cfg, run_id, record)       # the timings of the stage clock
        self.progress.advance(self.grid_task)
        if self.in_flight.pop(run_id, None) is not None:
            self._show_in_flight()
        auc = (record.get("metrics") or {}).get("auc")
        if auc is not None:
            self.progress.console.print(f"  {cfg.label:<24} seed {cfg.seed}  AUC {auc:.4f}  [dim]{run_id}[/]")

    def run_skipped(self, cfg, run_id, why):
        if why != "done":
            self.progress.advance(self.grid_task)

    def waiting(self, locked):
        if not self._waiting_shown:
            self._waiting_shown = True
            owners = {f"{o.get('pid')}@{o.get('host')}" for _, _, o in locked if o}
            self.progress.console.print(f"  waiting for {plural(len(locked), 'run')} claimed by another process "
                                        f"({', '.join(sorted(owners)) or 'unknown'})")

    def run_progress(self, event: dict) -> None:
        """train_run's progress callback: {"event": "step"|"epoch"|"eval", "epoch" (0-based), "epochs", "step",
        "steps", "loss"}."""
        kind = event.get("event")
        grid.trace(f"progress {kind} epoch={event.get('epoch')} step={event.get('step')}")
        if self.run_task is None:
            return
        parts = []
        if event.get("epoch") is not None:
            parts.append(f"epoch {event['epoch'] + 1}/{event.get('epochs', '?')}")
        if event.get("loss") is not None:
            parts.append(f"loss {float(event['loss']):.4f}")
        if kind == "eval":
            parts = ["evaluating on dev"]
        upd: dict[str, Any] = {"info": " ".join(parts)}
        if kind == "step" and event.get("steps"):
            upd["total"] = event["steps"]
            upd["completed"] = event.get("step", 0)
        self.progress.update(self.run_task, **upd)
