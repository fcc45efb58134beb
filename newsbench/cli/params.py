"""`newsbench params`: exact parameter counts and FLOPs per news of every configuration.

It speaks `train`'s vocabulary: the widths are train's run options (`--id-dim`, `--dim`, `--user-hidden`,
`--graph-dim`, `--rand-dim`, `--text-encoder`), and `-d DATA` counts the ID rows of that dataset, as a run on it
would have them. Without `-d`, MIND-small's sizes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from newsbench.cli.common import OUTPUT, CacheOpt, UnknownNewsOpt
from newsbench.cli.options import other_option, run_option
from newsbench.config import FUSIONS, make_config
from newsbench.errors import InputError
from newsbench.runner import check_plugins

SEED_NOTE = (
    "The seed's own counts disagree with its formulas: the gate over three 256-d modalities is Linear(768, 3) = "
    "2,307 parameters (its table says 147K), and the attention gate is 256 + 65,792 = 66,048 parameters, about 28.6x "
    "the gate (not '55% smaller'). Its concat '524K' counts weights only (524,288); with biases it is 525,056."
)
COLUMNS = ["label", "id_embedding", "projections", "fusion", "user_encoder", "total", "flops_per_news"]
MIND_SMALL = "MIND-small's 51,282 news seen in train"

EPILOG = """Examples:
  newsbench params --markdown
  newsbench params -d ../MIND --text-encoder file:openai.parquet
  newsbench params --graph-dim 64 --id-dim 32 --rand-dim 64"""


def register(app: typer.Typer) -> None:
    app.command(name="params", epilog=EPILOG)(params)


def params(
    data: Optional[Path] = typer.Option(None, "--data", "-d",
                                        help="Count the ID rows of this MIND folder. Default: MIND-small's."),
    cache_dir: Optional[Path] = CacheOpt,
    unknown_news: str = UnknownNewsOpt,
    n_news: Optional[int] = other_option("n_news", None, help="News seen in train, instead of -d (ID rows: this "
                                         "+ 1)."),
    id_dim: int = run_option("id_dim"),
    dim: int = run_option("dim"),
    user_hidden: int = run_option("user_hidden"),
    text_encoder: str = run_option("text_encoder"),
    llm_dim: Optional[int] = other_option("llm_dim", None),
    graph_dim: int = run_option("graph_dim"),
    rand_dim: Optional[int] = run_option("rand_dim", None, help="Also count the placebo (each subset + rand) at this "
                                         "width."),
    fusions: Optional[str] = typer.Option(None, "--fusions", help="Fusions to count, e.g. gate,film (default: the "
                                          "built-ins; plug-ins: docs/plugins.md)."),
    markdown: bool = typer.Option(False, "--markdown", help="Print a markdown table.", rich_help_panel=OUTPUT),
):
    """Exact trainable parameters per component and FLOPs per news, for every modality subset and fusion."""
    from newsbench import grid
    from newsbench.params import DEFAULT_ID_ROWS, params_table, subsets, text_width

    if data is not None and n_news is not None:
        raise InputError("-d and --n-news both set the ID rows; give one")
    base = make_config(id_dim=id_dim, dim=dim, user_hidden=user_hidden, graph_dim=graph_dim,
                       text_encoder=text_encoder)
    names = tuple(grid.parse_fusions(fusions)) if fusions is not None else FUSIONS
    multi = [m for m in subsets(placebo=rand_dim is not None) if len(m) > 1]
    check_plugins([dataclasses.replace(base, modalities=m, fusion=f) for m in multi for f in names], "--fusions")
    llm = llm_dim if llm_dim is not None else text_width(base.text_encoder)
    llm_from = "--llm-dim" if llm_dim is not None else base.text_encoder
    n_rows, rows_from = _id_rows(data, cache_dir, unknown_news, n_news, DEFAULT_ID_ROWS)
    rows = params_table(llm_dim=llm, gnn_dim=graph_dim, n_id_rows=n_rows, rand_dim=rand_dim, base=base,
                        fusions=names)
    basis = (f"ID rows: {n_rows:,} = {rows_from} + the 'unknown' row; llm {llm}-d ({llm_from}), gnn {graph_dim}-d "
             f"(--graph-dim)" + (f", rand {rand_dim}-d" if rand_dim is not None else "")
             + f"; --id-dim {id_dim}, --dim {dim}, --user-hidden {user_hidden}."
             + (" -d DATA counts a dataset's ID rows." if data is None and n_news is None else ""))
    if markdown:
        print(params_markdown(rows))
        print()
        print(basis)
        print()
        print(SEED_NOTE)
        return
    console = Console()
    print_params_table(console, rows, "trainable parameters and FLOPs per news")
    console.print(basis, highlight=False)
    console.print("FLOPs per news: news-encoder forward, counted by torch.utils.flop_counter.FlopCounterMode.")
    console.print(SEED_NOTE)


def _id_rows(data: Optional[Path], cache_dir, unknown_news: str, n_news: Optional[int],
             default_rows: int) -> tuple[int, str]:
    """The ID table's rows (news seen in train + 1 'unknown') and where the count comes from, in words."""
    if n_news is not None:
        return n_news + 1, f"--n-news {n_news:,}"
    if data is None:
        return default_rows, MIND_SMALL
    from newsbench.cli.common import load_data
    from newsbench.train import id_rows

    dataset = load_data(data, cache_dir, unknown_news)
    if dataset.train is None or len(dataset.train) == 0:      # only train matters: its news get the ID rows
        raise InputError(f"-d {data}: no train split with impressions, so no news seen in train to count")
    n_rows = id_rows(dataset)[1]
    return n_rows, f"{dataset.name}'s {n_rows - 1:,} news seen in train"


def print_params_table(console: Console, rows: list[dict], title: str) -> None:
    """The parameter table, cut into parts of whole columns where the terminal is too narrow (counts stay whole)."""
    from newsbench.report.terminal import print_fitted

    heads = ["config", "ID emb", "proj", "fusion", "user enc", "total", "FLOPs/news"]
    if print_fitted(console, title, heads, [[r[c] if c == "label" else f"{r[c]:,}" for c in COLUMNS] for r in rows]):
        console.print(f"Cut into parts to fit {console.width} columns; --markdown gives the table in one piece.",
                      style="dim", highlight=False)


def params_markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for r in rows:
        lines.append("| " + " | ".join(r[c] if c == "label" else f"{r[c]:,}" for c in COLUMNS) + " |")
    return "\n".join(lines)
