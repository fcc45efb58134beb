"""Options and helpers shared by several commands, so every command spells them the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from newsbench.errors import InputError

# The data options stay in typer's first panel ("Options", beside --help); the results folder goes under "Output".
OUTPUT = "Output"
DATA_HELP = "MIND folder (train/ + dev/ or MINDsmall_*/). Default: the generated demo."
DataOpt = typer.Option(None, "--data", "-d", help=DATA_HELP)


def _check_cache(value: Optional[Path]) -> Optional[Path]:
    from newsbench.cli.options import BadOption, check_writable_dir

    if value is not None:
        try:
            check_writable_dir(value, "--cache-dir")
        except InputError as err:
            raise BadOption(str(err)) from None
    return value


def _check_unknown_news(value: str) -> str:
    from newsbench.cli.options import BadOption

    v = (value or "").strip().lower()
    if v not in ("error", "drop"):
        raise BadOption(f"--unknown-news {value!r}: choose error or drop")
    return v


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
    """Training needs a labelled train and dev split: say so before any feature or training work."""
    missing = [name for name in ("train", "dev") if getattr(dataset, name) is None or len(getattr(dataset, name)) == 0]
    if missing:
        where = str(data) if data is not None else dataset.name
        hint = ""
        if data is not None:
            from newsbench.cli.data import unused_split_folders
            from newsbench.data.mind import find_splits

            unused = unused_split_folders(Path(data), find_splits(data))
            if unused:
                hint = f" ({', '.join(p.name + '/' for p in unused)} is not a split name: rename it)"
        raise InputError(f"-d {where}: no {' and no '.join(missing)} split with impressions; training needs a folder "
                         f"with train/ and dev/ (or MINDsmall_train/ and MINDsmall_dev/){hint}")
    if (dataset.dev.label < 0).any():
        raise InputError(f"-d {data or dataset.name}: the dev split has unlabelled impressions (a MIND test split?); "
                         f"it cannot be scored")


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
