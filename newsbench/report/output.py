"""`newsbench report` end to end: build, print in one format, write every format (and figures) under a folder."""

from __future__ import annotations

import io
import os
import sys
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from newsbench import atomic
from newsbench.errors import InputError
from newsbench.report.builder import build_report
from newsbench.report.card import read_card
from newsbench.report.render import FORMATS, render, table_csv, to_latex, to_latex_compact, to_markdown
from newsbench.report.groups import Selection
from newsbench.report.tables import MARGIN, METRICS, Report, Table, metric_names
from newsbench.report.terminal import to_rich

DEFAULT_CSV_TABLE = "ablation"


def write_report(report: Report, out_dir) -> list[Path]:
    """report.md, report.tex, report-compact.tex (the terminal's columns, sized for a page), <table>.csv for each
    table, runs.csv (one row per run), report.json; each written atomically."""
    out_dir = Path(out_dir)
    written = []
    for name, text in (("report.md", to_markdown(report)), ("report.tex", to_latex(report)),
                       ("report-compact.tex", to_latex_compact(report))):
        atomic.write_text(out_dir / name, text)
        written.append(out_dir / name)
    for t in report.tables + ([report.runs] if report.runs is not None else []):
        atomic.write_text(out_dir / f"{t.key}.csv", table_csv(t))
        written.append(out_dir / f"{t.key}.csv")
    atomic.write_json(out_dir / "report.json", report.data)
    written.append(out_dir / "report.json")
    return written


def select_table(report: Report, name: str) -> Table:
    """The table called `name` (its key); InputError naming the tables this report has otherwise."""
    tables = report.tables + ([report.runs] if report.runs is not None else [])
    for t in tables:
        if t.key == name:
            return t
    if name == "beyond" and report.data.get("protocol", {}).get("beyond_note"):
        raise InputError(f"no table 'beyond' in this report: {report.data['protocol']['beyond_note']}")
    raise InputError(f"no table {name!r} in this report; choose from {', '.join(t.key for t in tables)}")


def print_and_write(results_dir, out_dir=None, console: Console | None = None, alpha: float = 0.05,
                    test: str = "permutation", metric: str = "auc", card: dict | str | os.PathLike | None = None,
                    fmt: str | None = None, dataset: str | None = None, n_resamples: int = 10_000,
                    seed: int = 0, plots: bool = False, cluster: str = "user", margin: float = MARGIN,
                    table: str | None = None, selection: Selection | None = None, metrics=None,
                    reference: str | None = None, bars: bool = False, k: int = 10, tuned: bool = False) -> dict:
    """Build the report of `results_dir`, print it (rich tables, or `fmt` markdown|latex|csv as plain text), write
    every format under `out_dir` when given, and return the JSON-ready dict of every number.

    `card` is a dataset card dict or the path of a dataset_card.json (planted weights and oracle metrics).
    `plots`: also write PNG + PDF figures (newsbench.report.figures) under `out_dir`/figures, default
    `results_dir`/report.
    `cluster`, `margin`, `selection`, `reference`: see `build_report`. `metrics`: the metric columns; None: all
    four in the files and only `metric` in the terminal. `table`: print only the table with this key (`runs`: one
    row per run); CSV prints one table, `table` or else the ablation table (the one every report has), so that
    stdout is one well-formed CSV. `bars`: the terminal bars of the modality weights (always with --table weights).
    `tuned`: the report of the tuned runs, with the tuning table first (newsbench.report.tuned).
    """
    if plots:
        from newsbench.report import figures as plots_mod

        plots_mod.require_matplotlib()     # fail before the (slow) tests, not after
    if card is not None and not isinstance(card, dict):
        card = read_card(card)
    if fmt is not None and fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    build = build_report
    if tuned:
        from newsbench.report.tuned import build_tuned_report as build
    report = build(results_dir, alpha=alpha, test=test, metric=metric, card=card, dataset=dataset,
                          n_resamples=n_resamples, seed=seed, cluster=cluster, margin=margin, selection=selection,
                          metrics=metric_names(metrics) if metrics else METRICS, reference=reference, k=k,
                          fusion_ci=plots)
    figures = None
    if plots:
        # Drawn before the markdown is printed or written, so that it links them.
        figures = plots_mod.write_figures(report, out_dir if out_dir is not None else Path(results_dir) / "report")
        report.figures = plots_mod.figure_links(figures["names"], figures_prefix(results_dir, out_dir))
    if fmt == "csv" and table is None:
        table = DEFAULT_CSV_TABLE
    shown = report if table is None else replace(report, tables=[select_table(report, table)])
    if console is None:
        # rich reads COLUMNS, and assumes 80 columns into a pipe or a file; tables are cut to fit (see terminal).
        console = Console()
    if fmt is None:
        to_rich(shown, console, metric_names(metrics) if metrics else None, bars=bars or table == "weights")
    elif fmt == "csv":
        # Only the table: the protocol and notes are in report.md / report.json; say on stderr what else exists.
        console.print(table_csv(shown.tables[0]), markup=False, highlight=False, emoji=False, soft_wrap=True,
                      end="")
        others = [t.key for t in report.tables if t.key != table] + (["runs"] if table != "runs" else [])
        if others:
            print(f"newsbench: table {table} as CSV; the others with --table {'|'.join(others)}, every table with "
                  f"--out DIR", file=sys.stderr)
    else:
        # Plain text, no rich markup, emoji or wrapping: the output is meant to be redirected into a file.
        # Ending as the file does: `report --markdown > x.md` is byte for byte the report.md of --out.
        text = render(shown, fmt)
        console.print(text, markup=False, highlight=False, emoji=False, soft_wrap=True,
                      end="" if text.endswith("\n") else "\n")
    if out_dir is not None:
        paths = write_report(report, out_dir)
        report.data["written"] = [str(p) for p in paths]
    if figures is not None:
        report.data["figures"] = figures      # after report.json: the figures' numbers are in their CSVs
        fig_dir = Path(out_dir if out_dir is not None else Path(results_dir) / "report") / "figures"
        print(f"newsbench: {len(figures['names'])} figures ({', '.join(figures['names'])}) as PNG, PDF and CSV in "
              f"{fig_dir}", file=sys.stderr)
    return report.data


def figures_prefix(results_dir, out_dir) -> str:
    """How the markdown reaches the figures: beside report.md (`figures`) with --out, else the folder written."""
    if out_dir is not None:
        return "figures"
    return (Path(results_dir) / "report" / "figures").as_posix()


def render_text(results_dir, fmt: str, **kwargs) -> str:
    """Convenience for tests and scripts: the report of `results_dir` as one string in `fmt`."""
    buf = io.StringIO()
    print_and_write(results_dir, console=Console(file=buf, width=250), fmt=fmt, **kwargs)
    return buf.getvalue()
