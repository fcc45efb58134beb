"""`newsbench embed text|graph`: compute the frozen feature matrices explicitly and cache them.

`train` and `ablate` compute the same matrices on demand through the same cache, so running these first only moves
the cost (e.g. onto a GPU machine) and shows what was computed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from newsbench.cli import common
from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, paragraphs
from newsbench.cli.options import device_option, other_option, run_option

app = typer.Typer(
    help="Compute the frozen news features (text `llm`, graph `gnn`) and cache them; train and ablate reuse them.",
    no_args_is_help=True,
)


def resolve_device(device: str) -> str:
    """'auto' -> 'cuda' when torch sees a GPU, else 'cpu'; 'cuda[:N]' without a GPU is a user error (as in train)."""
    from newsbench.train import resolve_device as _resolve

    return _resolve(device)


def _summary(title: str, rows: list[tuple[str, str]]) -> None:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in rows:
        table.add_row(k, v)
    Console().print(table)


def _timing(meta: dict, wall: float) -> str:
    if meta.get("cache_hit"):
        return f"cache hit ({wall:.2f} s); computed earlier in {meta.get('seconds', float('nan')):.2f} s"
    return f"{meta['seconds']:.2f} s computing, {wall:.2f} s in all (imports and hashing included)"


TEXT_EPILOG = """Examples:
newsbench embed text
newsbench embed text -d ../MIND --text-fields title+abstract --device cuda
newsbench embed text --text-encoder file:openai.parquet"""
GRAPH_EPILOG = """Examples:
newsbench embed graph
newsbench embed graph --graph-model lightgcn
newsbench embed graph -d ../MIND --device cuda"""


TEXT_HELP = """Embed every news item's text with a frozen encoder and cache the (news x dim) matrix.

minilm is all-MiniLM-L6-v2 (384-d, offline); hash and hash:DIM are model-free; file:PATH reads .npy (+ PATH.ids),
.parquet or .vec vectors. More in docs/features.md."""
GRAPH_HELP = """Train the graph model on the TRAIN split and cache the (news x dim) news embeddings; print diagnostics.

Dev behaviours never enter. inductive (the default): a news vector is a function of its entities, so news unseen in
train get one too; lightgcn: the seed's LightGCN. Diagnostics: cold/warm norms, cold news near warm ones and, on
generated data, neighbours in the planted community. More in docs/features.md."""


@app.command(help=paragraphs(TEXT_HELP), epilog=TEXT_EPILOG)
def text(
    data: Optional[Path] = DataOpt,
    cache_dir: Optional[Path] = CacheOpt,
    text_encoder: str = run_option("text_encoder", "minilm"),
    text_fields: str = run_option("text_fields", "title"),
    device: str = device_option(),
    batch_size: Optional[int] = other_option("text_batch_size", None),
    fp16: bool = typer.Option(False, "--fp16", help="Store float16 (a cache entry of its own).",
                              rich_help_panel=OUTPUT),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars.",
                                  rich_help_panel=OUTPUT, show_default=False),
):
    from newsbench.features.text import parse_encoder, text_features_with_meta

    parse_encoder(text_encoder)          # a bad spec stops before the data is loaded
    dev = resolve_device(device)
    t0 = time.perf_counter()
    dataset = common.load_data(data, cache_dir)
    t1 = time.perf_counter()
    matrix, meta = text_features_with_meta(dataset, text_encoder, text_fields, dev, cache_dir, progress,
                                           batch_size, "float16" if fp16 else "float32")
    wall = time.perf_counter() - t1
    rows = [("dataset", f"{dataset.name} ({len(dataset.news):,} news; loaded in {t1 - t0:.2f} s)"),
            ("encoder", f"{meta['encoder']}: {meta['identity']}"),
            ("weights sha256", str(meta.get("weights_sha256") or "-")[:16]),
            ("fields", str(meta.get("fields") or "- (vectors per news id)")),
            ("shape", f"{matrix.shape[0]:,} x {matrix.shape[1]} {matrix.dtype}"),
            ("device", meta.get("device", dev)),
            ("time", _timing(meta, wall))]
    if not meta.get("cache_hit") and meta["seconds"] > 0:
        rows.append(("throughput", f"{matrix.shape[0] / meta['seconds']:,.0f} texts/s"))
    rows.append(("cache", meta["path"]))
    _summary("text features (llm)", rows)


@app.command(help=paragraphs(GRAPH_HELP), epilog=GRAPH_EPILOG)
def graph(
    data: Optional[Path] = DataOpt,
    cache_dir: Optional[Path] = CacheOpt,
    graph_model: str = run_option("graph_model"),
    graph_mode: str = run_option("graph"),
    entity_vectors: str = run_option("entity_vectors"),
    # train's names only: embed graph's former --dim/--layers/--epochs/--seed meant other things in train (--dim
    # the projection width, --seed a run's seed), so they are refused with the right name (newsbench.cli)
    dim: int = run_option("graph_dim"),
    layers: int = run_option("graph_layers"),
    epochs: Optional[int] = run_option("graph_epochs"),
    seed: int = run_option("graph_seed"),
    device: str = device_option(),
    batch_size: Optional[int] = other_option("graph_batch_size", None),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars.",
                                  rich_help_panel=OUTPUT, show_default=False),
):
    from newsbench.features.graph import graph_features_with_meta

    dev = resolve_device(device)
    t0 = time.perf_counter()
    dataset = common.load_data(data, cache_dir)
    t1 = time.perf_counter()
    matrix, meta = graph_features_with_meta(dataset, graph_mode, dim, layers, epochs, seed, dev, cache_dir,
                                            progress, batch_size, model=graph_model, entity_init=entity_vectors)
    wall = time.perf_counter() - t1
    losses = meta.get("losses") or []
    rows = [("dataset", f"{dataset.name} ({len(dataset.news):,} news; loaded in {t1 - t0:.2f} s)"),
            ("model", meta["identity"])]
    if meta.get("model") == "lightgcn":
        rows += [("graph", f"{meta['n_user_nodes']:,} users, {meta['n_news']:,} news, {meta['n_entity_nodes']:,} "
                           f"entities; {meta['n_user_news_edges']:,} user-news + {meta['n_news_entity_edges']:,} "
                           f"news-entity edges"),
                 ("zero vectors", f"{meta['n_zero']:,} news with no edge")]
        loss_name = "BPR loss"
    else:
        rows += [("graph", f"{meta['n_news']:,} news, {meta['n_entities']:,} entities "
                           f"({meta['n_entity_rows_from_data']:,} started from the data's vectors); "
                           f"{meta['n_train_clicks']:,} train clicks, {meta['n_news_entity_links']:,} news-entity "
                           f"links"),
                 ("no entity", f"{meta['n_news_without_entities']:,} news share the 'no entity' row")]
        loss_name = "softmax loss"
    rows += [(loss_name, f"{losses[0]:.4f} -> {losses[-1]:.4f}" if losses else "-"),
             *diagnostic_rows(meta.get("diagnostics") or {}),
             ("shape", f"{matrix.shape[0]:,} x {matrix.shape[1]} {matrix.dtype}"),
             ("device", meta.get("device", dev)),
             ("time", _timing(meta, wall)),
             ("cache", meta["path"])]
    _summary("graph features (gnn)", rows)


def diagnostic_rows(d: dict) -> list[tuple[str, str]]:
    """The graph diagnostics (newsbench.features.graph.diagnostics) as summary rows."""
    rows = []
    if "cold_warm_norm_ratio" in d:
        rows.append(("cold/warm norm", f"{d['cold_warm_norm_ratio']:.3f} (mean norm of {d['n_cold']:,} cold "
                                       f"over {d['n_warm']:,} warm news)"))
    if "cold_neighbours_warm" in d:
        rows.append(("cold near warm", f"{d['cold_neighbours_warm']:.1%} of cold news have a warm news among "
                                       f"their {d['k']} nearest"))
    if "nn_community_all" in d:
        cold = d.get("nn_community_cold", float("nan"))
        rows.append(("community share", f"{d['nn_community_all']:.3f} all, {cold:.3f}"
                                        f" cold, of {d['k']} nearest in the planted community (chance "
                                        f"{d['nn_community_chance']:.3f})"))
    return rows
