"""`newsbench train`: one seeded run -> a run record. Parsing and printing; the steps are newsbench.runner."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from newsbench import store
from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, ResultsOpt, UnknownNewsOpt
from newsbench.cli.options import FEATURE_OPTIONS, TRAINING_OPTIONS, device_option, fusion_option, with_run_options
from newsbench.options import EXECUTION, MODEL
from newsbench.runner import make_run_config, train_one


def _fmt(x, digits: int = 4) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return f"{x:,}" if isinstance(x, int) else str(x)


def summary_table(record: dict) -> Table:
    t = Table(title=f"{record['label']}  seed {record['config']['seed']}  on {record['dataset']['name']}")
    t.add_column("what")
    t.add_column("value", justify="right")
    for k, v in record["metrics"].items():
        t.add_row(k, _fmt(v))
    for side in ("cold", "warm"):
        c = record["metrics_by"][side]
        t.add_row(f"auc ({side} candidates)", f"{_fmt(c['auc'])}  (n={c['n']:,})")
    p = record["params"]
    t.add_row("params total / fusion", f"{p['total']:,} / {p['fusion']:,}")
    t.add_row("FLOPs per news", f"{record['flops_per_news']:,}")
    tm = record["timings"]
    t.add_row("s/epoch", _fmt(tm["seconds_per_epoch"], 2))
    t.add_row("samples/s", _fmt(tm["samples_per_second"], 0))
    t.add_row("eval s", _fmt(tm["eval_seconds"], 2))
    t.add_row("peak RSS MB", _fmt(tm["peak_rss_mb"], 0))
    if tm.get("cuda_max_allocated_mb") is not None:
        t.add_row("CUDA max allocated MB", _fmt(tm["cuda_max_allocated_mb"], 0))
    t.add_row("train loss", " ".join(f"{x:.4f}" for x in record["train_loss"]))
    if record.get("weights"):
        w = record["weights"]
        t.add_row("mean modality weights", "  ".join(f"{m}={x:.3f}" for m, x in zip(w["modalities"], w["mean"])))
    if record.get("attribution"):
        a = record["attribution"]["all"]
        t.add_row("AUC lost without", "  ".join(f"{m}={_fmt(v)}" for m, v in a.items()))
    return t


EPILOG = """Every run `ablate` makes can be made again with one `train` command: its record stores it (`command`).

Examples:
  newsbench train --modalities id+llm+gnn --fusion attention --seed 0
  newsbench train -d ../MIND -m id+llm -f gate -e hash --epochs 1"""


def register(app: typer.Typer) -> None:
    @app.command(epilog=EPILOG)
    @with_run_options("seed", *TRAINING_OPTIONS, *FEATURE_OPTIONS, "rand_dim", after="fusion")
    @with_run_options("cpu_threads", after="amp")
    def train(
        data: Optional[Path] = DataOpt,
        cache_dir: Optional[Path] = CacheOpt,
        unknown_news: str = UnknownNewsOpt,
        modalities: str = typer.Option("id+llm+gnn", "--modalities", "-m", rich_help_panel=MODEL,
                                       show_default=False, help="Modalities joined by '+' (id, llm, gnn, rand: the "
                                       "placebo); default id+llm+gnn."),
        fusion: str = fusion_option(rich_help_panel=MODEL),
        device: str = device_option(),
        amp: bool = typer.Option(False, "--amp/--no-amp", help="Mixed precision on CUDA (bfloat16).",
                                 rich_help_panel=EXECUTION, show_default=False),
        results: Path = ResultsOpt,
        force: bool = typer.Option(False, "--force", help="Run again even if its record exists.",
                                   rich_help_panel=OUTPUT),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars.",
                                      rich_help_panel=OUTPUT, show_default=False),
        **run_options,
    ):
        """Train and evaluate one seeded run; print a summary and write its record to the results folder."""
        cfg = make_run_config(results=results, modalities=modalities, fusion=fusion, device=device, amp=amp,
                              **run_options)
        console = Console()
        with _progress_bar(cfg, progress, console) as on_event:
            done = train_one(cfg, results, data=data, cache_dir=cache_dir, unknown_news=unknown_news, force=force,
                             progress=progress, on_event=on_event,
                             say=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        record = done.record
        where = store.record_paths(results, record["run_id"])[0]
        if done.reused:
            console.print(f"{cfg.label} seed {cfg.seed}: already done ({where}); --force to run it again.")
            console.print(summary_table(record))
            return
        console.print(summary_table(record))
        console.print(f"record: {where}")
        if record.get("command"):
            console.print(f"again: {record['command']}", markup=False, highlight=False, soft_wrap=True)


@contextmanager
def _progress_bar(cfg, show: bool, console):
    """train_run's progress callback drawing one transient bar (None when not shown). The bar starts when the first
    step is reported, so loading the data and the features draws nothing of it."""
    if not show:
        yield None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                   TimeRemainingColumn(), console=console, transient=True)
    task = None

    def on_event(ev: dict) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(f"{cfg.label} epoch 1/{cfg.epochs}", total=None)
        if ev["event"] == "step":
            bar.update(task, completed=ev["step"], total=ev["steps"],
                       description=f"{cfg.label} epoch {ev['epoch'] + 1}/{ev['epochs']} loss {ev['loss']:.4f}")
        elif ev["event"] == "eval":
            bar.update(task, description=f"{cfg.label} evaluating on dev")

    try:
        yield on_event
    finally:
        bar.stop()
