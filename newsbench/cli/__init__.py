"""The `newsbench` command: a thin Typer layer over the library.

Each command group lives in its own module and only parses options, calls library functions and renders with rich.
Errors a user can cause reach `main` as InputError and end as one line on stderr with exit status 2.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading

import typer

from newsbench import __version__
from newsbench.cli import ablate, baselines, data, embed, export, params, predict, report, train
from newsbench.errors import InputError

app = typer.Typer(
    name="newsbench",
    help=(
        "Benchmark and ablate multimodal news recommenders (ID, LLM-text and GNN embeddings; concat, gate and "
        "adaptive-attention fusion) with seeded runs, measured parameter counts and timings, and paired "
        "significance tests.\n\n"
        "Start with `newsbench ablate`: it generates the embedded demo dataset, runs the seed paper's ablation "
        "grid with 3 seeds, and prints the report."
    ),
    epilog=(
        "Examples:\n"
        "newsbench ablate --dry-run\n"
        "newsbench data info -d ../MIND\n"
        "newsbench train -m id+llm -f gate -e hash --epochs 1\n"
        "newsbench params --markdown\n"
        "newsbench report --results results --latex"
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
params.register(app)
report.register(app)
predict.register(app)
export.register(app)


def _version(value: bool):
    if value:
        print(f"newsbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
):
    pass


def _click_exceptions():
    # Typer >= 0.20 vendors Click as typer._click; older Typer uses Click itself.
    try:
        from typer._click import exceptions
    except ImportError:
        from click import exceptions
    return exceptions


INTERRUPTED = 130            # the shell's status for SIGINT


def main() -> None:
    click = _click_exceptions()
    try:
        rv = app(standalone_mode=False, prog_name="newsbench")
    except InputError as err:
        # One line, no traceback: the file, the line and the reason are in the message.
        _error(str(err))
    except click.NoArgsIsHelpError as err:
        from typer import rich_utils

        rich_utils.rich_format_error(err)
        sys.exit(err.exit_code)
    except click.UsageError as err:
        # Click's own checks (unknown option, missing value, not an integer): the same one line as ours.
        _error(_usage_message(err))
    except typer.Abort:
        print("newsbench: interrupted", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except MemoryError:
        _error("out of memory; lower --batch-size, --negatives, --history-len or the widths (--dim, --id-dim, "
               "--graph-dim)")
    except RuntimeError as err:
        # torch.cuda.OutOfMemoryError, and torch's CPU allocator failure (a plain RuntimeError), without importing torch
        if type(err).__name__ == "OutOfMemoryError" or "can't allocate memory" in str(err):
            _error(f"{'CUDA' if type(err).__name__ == 'OutOfMemoryError' else 'CPU'} out of memory; lower "
                   f"--batch-size, --negatives, --history-len or the widths (--dim, --id-dim, --graph-dim)")
        raise
    if rv == INTERRUPTED:
        # Ctrl-C: newer typer ends the command with Exit(130) and returns it here without a word (older typer raised
        # Abort, above). A command that explains its own stop (ablate) exits by itself and never gets here.
        print("newsbench: interrupted", file=sys.stderr)
    sys.exit(rv if isinstance(rv, int) else 0)


def run() -> None:
    """The process entry point (the `newsbench` script and `python -m newsbench`): `main`, then a hard exit.

    Why: pyarrow (26) keeps its thread pools alive to the end, and about one process exit in a hundred then aborts in
    its C++ static destructors ("terminate called without an active exception", status 134) after the command has
    done all its work: a finished command reported as a crash, and a CI that flakes. `end_process` does Python's own
    exit work and skips those destructors. `main` itself still raises SystemExit, for in-process callers and tests.
    """
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code
    end_process(code)


def end_process(code) -> None:
    """Exit with `code` as `sys.exit` would (None is 0; a message is printed and is 1), after the work of a normal
    exit: other non-daemon threads joined, atexit handlers run (Ray, multiprocessing, temporary folders), output
    flushed; then os._exit, so no native library's static destructor runs."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            pass              # the reader left (`| head`) or the stream is closed: nothing more to show anyone
    os._exit(code)


# Options of one command typed into another: name the right one instead of Click's nearest spelling.
_OTHER_COMMAND_NAMES = {
    ("ablate", "--modalities"): "ablate takes --subsets (e.g. --subsets id+llm,id+llm+gnn)",
    ("ablate", "-m"): "ablate takes --subsets (e.g. --subsets id+llm,id+llm+gnn)",
    ("ablate", "--fusion"): "ablate takes --fusions (e.g. --fusions gate,attention)",
    ("ablate", "-f"): "ablate takes --fusions (e.g. --fusions gate,attention)",
    ("ablate", "--seed"): "ablate takes --seeds (e.g. --seeds 0,1,2) or --n-seeds",
    ("ablate", "-s"): "ablate takes --seeds (e.g. --seeds 0,1,2) or --n-seeds",
    ("train", "--subsets"): "train makes one run: --modalities (e.g. --modalities id+llm)",
    ("train", "--fusions"): "train makes one run: --fusion (e.g. --fusion gate)",
    ("train", "--seeds"): "train makes one run: --seed (e.g. --seed 0)",
    ("train", "--n-seeds"): "train makes one run: --seed (e.g. --seed 0)",
    ("train", "--dry-run"): "`newsbench ablate --subsets ... --seeds ... --dry-run` shows whether a run is done",
    # Former spellings, refused rather than kept as second names (one vocabulary, issue 28): each names train's.
    ("params", "--gnn-dim"): "the gnn width is --graph-dim, as in train (e.g. --graph-dim 128)",
    ("graph", "--dim"): "embed graph takes --graph-dim (--dim is train's projection width)",
    ("graph", "--layers"): "embed graph takes --graph-layers, as train does",
    ("graph", "--epochs"): "embed graph takes --graph-epochs (--epochs is train's)",
    ("graph", "--seed"): "embed graph takes --graph-seed (--seed is a run's seed in train)",
}


def _error(message: str) -> None:
    print(f"newsbench: error: {' '.join(message.split())}", file=sys.stderr)
    sys.exit(2)


def _usage_message(err) -> str:
    message = err.format_message()
    hint = _OTHER_COMMAND_NAMES.get((getattr(err.ctx, "info_name", None), getattr(err, "option_name", None)))
    if hint:
        return f"{err.option_name}: no such option of `newsbench {err.ctx.info_name}`; {hint}"
    ctx = getattr(err, "ctx", None)
    if ctx is not None and ctx.command_path:
        return f"{message} (see `{ctx.command_path} --help`)"
    return message
