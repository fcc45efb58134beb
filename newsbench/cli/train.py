"""`newsbench train`: one seeded run -> a run record."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, ResultsOpt, UnknownNewsOpt, load_data, require_splits
from newsbench.cli.options import (check_plugins, check_writable_dir, device_option, fusion_option, make_config,
                                   run_option)
from newsbench.errors import InputError, warn
from newsbench.grid import parse_modalities
from newsbench.options import EXECUTION, MODEL

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
        mods = parse_modalities(modalities)
        if amp and not device.startswith("cuda") and device != "auto":
            raise InputError("--amp needs a CUDA device (see --device)")
        check_writable_dir(results, "--results")
        cfg = make_config(
            modalities=mods, fusion=fusion, seed=seed, epochs=epochs,
            batch_size=batch_size, lr=lr, negatives=negatives, history_len=history_len, id_dim=id_dim, dim=dim,
            user_hidden=user_hidden, id_dropout=id_dropout, frozen_init=frozen_init, frozen_lr=frozen_lr,
            dense_lr=dense_lr, news_dropout=news_dropout, warmup=warmup, lr_decay=lr_decay, fusion_init=fusion_init,
            text_encoder=text_encoder, text_fields=text_fields, graph=graph_mode, graph_model=graph_model,
            entity_vectors=entity_vectors, graph_dim=graph_dim, graph_layers=graph_layers, graph_epochs=graph_epochs,
            graph_seed=graph_seed, rand_dim=rand_dim, device="cpu", amp=amp, cpu_threads=cpu_threads,
        )
        check_plugins([cfg], "--fusion")

        from newsbench import store
        from newsbench.inputs import change_line, run_inputs, stale_records
        from newsbench.train import resolve_device, run_and_save

        console = Console()
        dev = resolve_device(device)
        if amp and not dev.startswith("cuda"):
            raise InputError("--amp needs a CUDA device (see --device)")
        cfg = dataclasses.replace(cfg, device=dev)
        dataset = load_data(data, cache_dir, unknown_news)
        require_splits(dataset, data)
        inputs = run_inputs(cfg, cache_dir=cache_dir)
        run_id = cfg.run_id(dataset.fingerprint, inputs)
        state = store.record_state(results, run_id)
        if state != "done" and inputs:         # a rerun over changed bytes: say so, as the new run starts
            for _, old_id, diff in stale_records(results, [cfg], dataset.fingerprint, lambda _: inputs):
                console.print(change_line(cfg, old_id, diff), markup=False, highlight=False, soft_wrap=True)
        if state == "done" and not force:
            console.print(f"{cfg.label} seed {seed}: already done ({store.record_paths(results, run_id)[0]}); "
                          "--force to run it again.")
            rec = store.load_record(results, run_id)
            console.print(summary_table(rec))
            return
        if state == "damaged":
            warn(f"the record of run {run_id} in {store.runs_dir(results)} is damaged "
                 f"({store.damage(results, run_id)}); training it again")
        features, info = {}, {}
        if {"llm", "gnn"} & set(cfg.modalities):
            from newsbench.features import feature_info, load_features

            features = load_features(dataset, cfg, cache_dir=cache_dir, progress=progress)
            info = feature_info(dataset, cfg, cache_dir=cache_dir)
        record = _run_with_progress(dataset, features, cfg, results, info, progress, console, run_and_save)
        console.print(summary_table(record))
        console.print(f"record: {store.record_paths(results, record['run_id'])[0]}")
        if record.get("command"):
            console.print(f"again: {record['command']}", markup=False, highlight=False, soft_wrap=True)


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
