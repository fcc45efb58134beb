"""Options and helpers shared by several commands, so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from newsbench.cli.options import BadOption
from newsbench.errors import InputError
from newsbench.paths import check_writable_dir

# The data options stay in typer's first panel ("Options", beside --help); the results folder goes under "Output".
OUTPUT = "Output"
DATA_HELP = "MIND folder (train/ + dev/ or MINDsmall_*/). Default: the generated demo."
DataOpt = typer.Option(None, "--data", "-d", help=DATA_HELP)


def _check_cache(value: Optional[Path]) -> Optional[Path]:
    if value is not None:
        try:
            check_writable_dir(value, "--cache-dir")
        except InputError as err:
            raise BadOption(str(err)) from None
    return value


def _check_unknown_news(value: str) -> str:
    from newsbench.data.load import check_unknown_news      # here: the data reader (pyarrow) is slow to import

    try:
        return check_unknown_news(value)
    except InputError as err:
        raise BadOption(str(err)) from None


CacheOpt = typer.Option(
    None, "--cache-dir", envvar="NEWSBENCH_CACHE", callback=_check_cache,
    help="Cache of parsed data and features. Default: ~/.cache/newsbench.",
)
UnknownNewsOpt = typer.Option(
    "error", "--unknown-news", callback=_check_unknown_news, show_default=False,
    help="Behaviors naming absent news: error | drop (with a warning); default error.",
)
ResultsOpt = typer.Option(
    Path("results"), "--results", "-r", rich_help_panel=OUTPUT, show_default=False,
    help="Results folder (records in RESULTS/runs/); default results.",
)


def load_data(data: Optional[Path], cache_dir: Optional[Path], unknown_news: str = "error"):
    from newsbench.data.load import load_dataset

    return load_dataset(data, cache_dir=cache_dir, unknown_news=unknown_news)


def require_splits(dataset, data: Optional[Path]) -> None:
    from newsbench.data.load import require_splits as check

    check(dataset, data)


def plural(n: int, word: str, many: str | None = None) -> str:
    """'1 run', '2 runs'."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def paragraphs(text: str) -> str:
    """A command's --help text written across source lines, as typer should show it: each paragraph (blank-line
    separated) joined into one line that rich wraps to the terminal. Typer keeps single line breaks, so a
    docstring's source wrapping would otherwise cut every paragraph short at 80 columns."""
    import inspect
    import re

    return re.sub(r"(?<!\n)\n(?!\n)", " ", inspect.cleandoc(text))
