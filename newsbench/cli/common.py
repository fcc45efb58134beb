"""Options and helpers shared by several commands, so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

DataOpt = typer.Option(
    None, "--data", "-d",
    help="MIND folder (with MINDsmall_train/ + MINDsmall_dev/, or train/ + dev/). "
         "Default: the embedded generated `demo` dataset, generated into the cache on first use.",
)
CacheOpt = typer.Option(
    None, "--cache-dir", envvar="NEWSBENCH_CACHE",
    help="Cache folder for parsed arrays and features. Default: $NEWSBENCH_CACHE or ~/.cache/newsbench.",
)
UnknownNewsOpt = typer.Option(
    "error", "--unknown-news",
    help="Behaviors naming news absent from every news.tsv: 'error' stops with the first one; 'drop' removes them "
         "and warns with the count.",
)


def load_data(data: Optional[Path], cache_dir: Optional[Path], unknown_news: str = "error"):
    from newsbench.data.load import load_dataset

    return load_dataset(data, cache_dir=cache_dir, unknown_news=unknown_news)
