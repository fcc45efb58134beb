"""`newsbench report` end to end: build, print in one format, write every format (and figures) under a folder."""

from __future__ import annotations

import io
import os
from pathlib import Path

from rich.console import Console

from newsbench import atomic
from newsbench.errors import InputError
from newsbench.report.builder import build_report
from newsbench.report.card import read_card
from newsbench.report.render import FORMATS, render, table_csv, to_latex, to_markdown
from newsbench.report.tables import Report
from newsbench.report.terminal import to_rich


def write_report(report: Report, out_dir) -> list[Path]:
    """report.md, report.tex, <table>.csv for each table, report.json; each written atomically."""
    out_dir = Path(out_dir)
    written = []
    for name, text in (("report.md", to_markdown(report)), ("report.tex", to_latex(report))):
        atomic.write_text(out_dir / name, text)
        written.append(out_dir / name)
    for t in report.tables:
        atomic.write_text(out_dir / f"{t.key}.csv", table_csv(t))
        written.append(out_dir / f"{t.key}.csv")
    atomic.write_json(out_dir / "report.json", report.data)
    written.append(out_dir / "report.json")
    return written


def print_and_write(results_dir, out_dir=None, console: Console | None = None, alpha: float = 0.05,
                    test: str = "permutation", metric: str = "auc", card: dict | str | os.PathLike | None = None,
                    fmt: str | None = None, dataset: str | None = None, n_resamples: int = 10_000,
                    seed: int = 0, plots: bool = False) -> dict:
    """Build the report of `results_dir`, print it (rich tables, or `fmt` markdown|latex|csv as plain text), write
    every format under `out_dir` when given, and return the JSON-ready dict of every number.

    `card` is a dataset card dict or the path of a dataset_card.json (planted weights and oracle metrics).
    `plots`: also write PNG + PDF figures (newsbench.report.figures) under `out_dir`/figures, default `results_dir`/report.
    """
    if plots:
        from newsbench.report import figures as plots_mod

        plots_mod.require_matplotlib()     # fail before the (slow) tests, not after
    if card is not None and not isinstance(card, dict):
        card = read_card(card)
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    report = build_report(results_dir, alpha=alpha, test=test, metric=metric, card=card, dataset=dataset,
                          n_resamples=n_resamples, seed=seed)
    if console is None:
        console = Console()
        if not console.is_terminal:
            # Into a pipe or a file rich assumes 80 columns and would fold every table cell; lines may be long there.
            console = Console(width=max(console.width, 200))
    if fmt is None:
        to_rich(report, console)
    else:
        # Plain text, no rich markup, emoji or wrapping: the output is meant to be redirected into a file.
        console.print(render(report, fmt), markup=False, highlight=False, emoji=False, soft_wrap=True)
    if out_dir is not None:
        paths = write_report(report, out_dir)
        report.data["written"] = [str(p) for p in paths]
    if plots:
        report.data["figures"] = plots_mod.write_figures(
            report, out_dir if out_dir is not None else Path(results_dir) / "report")
    return report.data


def render_text(results_dir, fmt: str, **kwargs) -> str:
    """Convenience for tests and scripts: the report of `results_dir` as one string in `fmt`."""
    buf = io.StringIO()
    print_and_write(results_dir, console=Console(file=buf, width=250), fmt=fmt, **kwargs)
    return buf.getvalue()
