"""The `newsbench` command: a thin Typer layer over the library.

Each command group lives in its own module and only parses options, calls library functions and renders with rich.
Errors a user can cause reach `main` as InputError and end as one line on stderr with exit status 2.
"""

from __future__ import annotations

import sys

import typer

from newsbench import __version__
from newsbench.cli import ablate, baselines, data, embed, report, train
from newsbench.errors import InputError

app = typer.Typer(
    name="newsbench",
    help=(
        "Benchmark and ablate multimodal news recommenders (ID, LLM-text and GNN embeddings; concat, gate and "
        "adaptive-attention fusion) with seeded runs, measured parameter counts and timings, and paired "
        "significance tests.\n\n"
        "Start with `newsbench ablate`: it generates the embedded demo dataset, runs the seed paper's ablation "
        "grid with 3 seeds, and prints the report.\n\n"
        "Examples:\n\n"
        "  newsbench ablate --dry-run\n\n"
        "  newsbench data info ../MIND\n\n"
        "  newsbench train --modalities id,llm --fusion gate --text-encoder hash --epochs 1\n\n"
        "  newsbench params --markdown\n\n"
        "  newsbench report --results results --latex"
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(data.app, name="data")
app.add_typer(embed.app, name="embed")
train.register(app)
ablate.register(app)
baselines.register(app)
report.register(app)


def _version(value: bool):
    if value:
        print(f"newsbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    pass


def main() -> None:
    try:
        app()
    except InputError as err:
        # One line, no traceback: the file, the line and the reason are in the message.
        print(f"newsbench: error: {err}", file=sys.stderr)
        sys.exit(2)
