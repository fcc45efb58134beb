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
from newsbench.cli.options import device_option, fusion_option, run_option
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
    def train(
        data: Optional[Path] = DataOpt,
        cache_dir: Optional[Path] = CacheOpt,
        unknown_news: str = UnknownNewsOpt,
        modalities: str = typer.Option("id+llm+gnn", "--modalities", "-m", rich_help_panel=MODEL,
                                       show_default=False, help="Modalities joined by '+' (id, llm, gnn, rand: the "
                                       "placebo); default id+llm+gnn."),
        fusion: str = fusion_option(rich_help_panel=MODEL),
        seed: int = run_option("seed", 0),
        epochs: int = run_option("epochs"),
        batch_size: int = run_option("batch_size"),
        lr: float = run_option("lr"),
        negatives: int = run_option("negatives"),
        history_len: int = run_option("history_len"),
        id_dim: int = run_option("id_dim"),
        dim: int = run_option("dim"),
        user_hidden: int = run_option("user_hidden"),
        id_dropout: float = run_option("id_dropout"),
        frozen_init: str = run_option("frozen_init"),
        frozen_lr: float = run_option("frozen_lr"),
        dense_lr: float = run_option("dense_lr"),
        news_dropout: float = run_option("news_dropout"),
        warmup: float = run_option("warmup"),
        lr_decay: str = run_option("lr_decay"),
        fusion_init: str = run_option("fusion_init"),
        text_encoder: str = run_option("text_encoder"),
        text_fields: str = run_option("text_fields"),
        graph_mode: str = run_option("graph"),
        graph_model: str = run_option("graph_model"),
        entity_vectors: str = run_option("entity_vectors"),
        graph_dim: int = run_option("graph_dim"),
        graph_layers: int = run_option("graph_layers"),
        graph_epochs: int = run_option("graph_epochs"),
        graph_seed: int = run_option("graph_seed"),
        rand_dim: int = run_option("rand_dim"),
        device: str = device_option(),
        amp: bool = typer.Option(False, "--amp/--no-amp", help="Mixed precision on CUDA (bfloat16).",
                                 rich_help_panel=EXECUTION, show_default=False),
        cpu_threads: int = run_option("cpu_threads"),
        results: Path = ResultsOpt,
        force: bool = typer.Option(False, "--force", help="Run again even if its record exists.",
                                   rich_help_panel=OUTPUT),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars.",
                                      rich_help_panel=OUTPUT, show_default=False),
    ):
        """Train and evaluate one seeded run; print a summary and write its record to the results folder."""
        cfg = make_run_config(
            results=results, modalities=modalities, fusion=fusion, device=device, amp=amp, seed=seed, epochs=epochs,
            batch_size=batch_size, lr=lr, negatives=negatives, history_len=history_len, id_dim=id_dim, dim=dim,
            user_hidden=user_hidden, id_dropout=id_dropout, frozen_init=frozen_init, frozen_lr=frozen_lr,
            dense_lr=dense_lr, news_dropout=news_dropout, warmup=warmup, lr_decay=lr_decay, fusion_init=fusion_init,
            text_encoder=text_encoder, text_fields=text_fields, graph=graph_mode, graph_model=graph_model,
            entity_vectors=entity_vectors, graph_dim=graph_dim, graph_layers=graph_layers, graph_epochs=graph_epochs,
            graph_seed=graph_seed, rand_dim=rand_dim, cpu_threads=cpu_threads,
        )
        console = Console()
        with _progress_bar(cfg, progress, console) as on_event:
            done = train_one(cfg, results, data=data, cache_dir=cache_dir, unknown_news=unknown_news, force=force,
                             progress=progress, on_event=on_event,
                             say=lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        record = done.record
        where = store.record_paths(results, record["run_id"])[0]
        if done.reused:
            console.print(f"{cfg.label} seed {seed}: already done ({where}); --force to run it again.")
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
