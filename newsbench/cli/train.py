"""`newsbench train` (one seeded run -> a run record) and `newsbench params` (parameter and FLOP accounting)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from newsbench.cli.common import CacheOpt, DataOpt, UnknownNewsOpt, load_data
from newsbench.config import FUSIONS, RunConfig
from newsbench.grid import parse_modalities
from newsbench.errors import InputError

SEED_NOTE = (
    "The seed's own counts disagree with its formulas: the gate over three 256-d modalities is Linear(768, 3) = "
    "2,307 parameters (its table says 147K), and the attention gate is 256 + 65,792 = 66,048 parameters, about 28.6x "
    "the gate (not '55% smaller'). Its concat '524K' counts weights only (524,288); with biases it is 525,056."
)


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
    return t


def params_rows_table(rows: list[dict], title: str) -> Table:
    t = Table(title=title)
    cols = ["label", "id_embedding", "projections", "fusion", "user_encoder", "total", "flops_per_news"]
    heads = ["config", "ID emb", "proj", "fusion", "user enc", "total", "FLOPs/news"]
    for c, h in zip(cols, heads):
        t.add_column(h, justify="left" if c == "label" else "right", no_wrap=True)
    for r in rows:
        t.add_row(*[r[c] if c == "label" else f"{r[c]:,}" for c in cols])
    return t


def params_markdown(rows: list[dict]) -> str:
    cols = ["label", "id_embedding", "projections", "fusion", "user_encoder", "total", "flops_per_news"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(r[c] if c == "label" else f"{r[c]:,}" for c in cols) + " |")
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    @app.command()
    def train(
        data: Optional[Path] = DataOpt,
        cache_dir: Optional[Path] = CacheOpt,
        unknown_news: str = UnknownNewsOpt,
        modalities: str = typer.Option("id,llm,gnn", "--modalities", "-m", help="Comma-separated subset of id,llm,gnn."),
        fusion: str = typer.Option("attention", "--fusion", "-f", help=f"One of {', '.join(FUSIONS)} (ignored for one modality)."),
        seed: int = typer.Option(0, "--seed", "-s", help="Seed of the model init and the negative sampling."),
        epochs: int = typer.Option(RunConfig.epochs, help="Training epochs."),
        batch_size: int = typer.Option(RunConfig.batch_size, help="Samples (click + negatives) per step."),
        lr: float = typer.Option(RunConfig.lr, help="Adam learning rate."),
        negatives: int = typer.Option(RunConfig.negatives, help="K non-clicked candidates per click."),
        history_len: int = typer.Option(RunConfig.history_len, help="Most recent clicks seen by the user encoder."),
        dim: int = typer.Option(RunConfig.dim, help="Width every modality is projected to."),
        id_dropout: float = typer.Option(RunConfig.id_dropout, "--id-dropout",
                                         help="Share of training slots given the 'unknown' ID row, so it learns "
                                              "what news unseen in train are worth (0 disables it)."),
        text_encoder: str = typer.Option(RunConfig.text_encoder, help="llm features: minilm | hash | st:NAME | file:PATH."),
        text_fields: str = typer.Option(RunConfig.text_fields, help="title | title+abstract."),
        graph_mode: str = typer.Option(RunConfig.graph, "--graph-mode", help="gnn features: clicks | entities | both."),
        device: str = typer.Option("auto", help="auto | cpu | cuda[:N] (auto: cuda when available)."),
        amp: bool = typer.Option(False, "--amp", help="Mixed precision on CUDA (bfloat16 features and autocast)."),
        cpu_threads: int = typer.Option(RunConfig.cpu_threads, "--cpu-threads", min=1,
                                        help="torch CPU threads. Part of the run's identity: the thread count changes "
                                             "float summation order and so the metrics."),
        results: Path = typer.Option(Path("results"), "--results", "-r", help="Results folder for the run record."),
        force: bool = typer.Option(False, "--force", help="Run again even if this run's record exists."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars."),
    ):
        """Train and evaluate one seeded run; print a summary and write its record to the results folder.

        Example: newsbench train --modalities id,llm,gnn --fusion attention --seed 0 --epochs 3
        """
        from newsbench import store
        from newsbench.train import resolve_device, run_and_save

        console = Console()
        dev = resolve_device(device)
        if amp and not dev.startswith("cuda"):
            raise InputError("--amp needs a CUDA device (see --device)")
        try:
            cfg = RunConfig(
                modalities=parse_modalities(modalities), fusion=fusion, seed=seed, epochs=epochs,
                batch_size=batch_size, lr=lr, negatives=negatives, history_len=history_len, dim=dim,
                id_dropout=id_dropout,
                text_encoder=text_encoder, text_fields=text_fields, graph=graph_mode, device=dev, amp=amp,
                cpu_threads=cpu_threads,
            )
        except ValueError as err:
            raise InputError(str(err)) from None
        if min(epochs, batch_size, negatives, history_len, dim) < 1 or lr <= 0:
            raise InputError("--epochs, --batch-size, --negatives, --history-len and --dim must be >= 1, --lr > 0")

        dataset = load_data(data, cache_dir, unknown_news)
        run_id = cfg.run_id(dataset.fingerprint)
        if store.is_done(results, run_id) and not force:
            console.print(f"{cfg.label} seed {seed}: already done ({store.record_paths(results, run_id)[0]}); "
                          "--force to run it again.")
            rec = store.load_record(results, run_id)
            console.print(summary_table(rec))
            return
        features, info = {}, {}
        if {"llm", "gnn"} & set(cfg.modalities):
            from newsbench.features import feature_info, load_features

            features = load_features(dataset, cfg, cache_dir=cache_dir, progress=progress)
            info = feature_info(dataset, cfg, cache_dir=cache_dir)
        record = _run_with_progress(dataset, features, cfg, results, info, progress, console, run_and_save)
        console.print(summary_table(record))
        console.print(f"record: {store.record_paths(results, record['run_id'])[0]}")

    @app.command()
    def params(
        llm_dim: int = typer.Option(384, help="Width of the llm features (384 MiniLM, 1536 OpenAI-style)."),
        gnn_dim: int = typer.Option(128, help="Width of the gnn features."),
        n_news: int = typer.Option(51_282, help="News seen in train (ID rows = this + 1 'unknown'). Default: MIND-small."),
        markdown: bool = typer.Option(False, "--markdown", help="Print a markdown table instead."),
    ):
        """Exact trainable parameters per component and FLOPs per news, for every modality subset and fusion.

        Example: newsbench params --llm-dim 1536 --markdown
        """
        from newsbench.params import params_table

        rows = params_table(llm_dim=llm_dim, gnn_dim=gnn_dim, n_id_rows=n_news + 1)
        if markdown:
            print(params_markdown(rows))
            print()
            print(SEED_NOTE)
            return
        console = Console()
        console.print(params_rows_table(
            rows, f"trainable parameters (llm {llm_dim}-d, gnn {gnn_dim}-d, {n_news + 1:,} ID rows, d=256)"))
        console.print("FLOPs per news: news-encoder forward, counted by torch.utils.flop_counter.FlopCounterMode.")
        console.print(SEED_NOTE)


def _run_with_progress(dataset, features, cfg, results, info, show: bool, console, run_and_save):
    if not show:
        return run_and_save(dataset, features, cfg, results, features_info=info)
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeRemainingColumn(), console=console, transient=True) as bar:
        task = bar.add_task(f"{cfg.label} epoch 1/{cfg.epochs}", total=None)

        def on_event(ev: dict) -> None:
            if ev["event"] == "step":
                bar.update(task, completed=ev["step"], total=ev["steps"],
                           description=f"{cfg.label} epoch {ev['epoch'] + 1}/{ev['epochs']} loss {ev['loss']:.4f}")
            elif ev["event"] == "eval":
                bar.update(task, description=f"{cfg.label} evaluating on dev")

        return run_and_save(dataset, features, cfg, results, features_info=info, progress=on_event)
