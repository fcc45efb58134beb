"""The report in a terminal: rich tables that fit its width, notes, and bars of the modality weights.

A table wider than the terminal (`COLUMNS`; rich assumes 80 columns when the output is piped) is never folded: a
folded cell splits `0.6743 ± 0.0077` over lines and headers mid-word. Instead the table is cut into parts of whole
columns, each part repeating the key columns (the configuration), so every number is shown, intact, in a part
that fits; the report then says that --markdown, --csv --table NAME or --out DIR give each table in one piece.
"""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from newsbench.config import MODALITIES
from newsbench.report.tables import MOD_LABELS, Report

# Leading columns that identify a row and are repeated in every part of a table cut to fit.
KEY_COLUMNS = {"weights": 2, "attribution": 2, "breakdown": 2}
WHOLE_TABLES = "--markdown, --csv --table NAME or --out DIR give each table in one piece"


def _rich_table(title: str | None, header: list[str], rows: list[list[Text]], cols: list[int], justify: list[str],
                keys: int) -> RichTable:
    rt = RichTable(title=title, title_justify="left", show_lines=False, box=box.SIMPLE_HEAD, show_edge=False,
                   pad_edge=False)
    for j in cols:
        # Key columns (labels) may wrap between words and, past that, end in an ellipsis; value columns never wrap.
        key = j < keys
        rt.add_column(header[j], justify=justify[j], no_wrap=not key, overflow="ellipsis")
    for row in rows:
        rt.add_row(*[row[j] for j in cols])
    return rt


def column_parts(console: Console, header: list[str], rows: list[list[Text]], justify: list[str],
                 keys: int) -> list[list[int]]:
    """Column indices of each part: all columns when the table fits the console, else greedy parts of whole
    columns, each starting with the first `keys` columns, each as wide as its widest cell."""
    # Measured against an unbounded width: against the console's own, rich caps the answer at that width.
    unbounded = console.options.update_width(1_000_000)

    def needed(cols: list[int]) -> int:
        return Measurement.get(console, unbounded, _rich_table(None, header, rows, cols, justify, keys)).maximum

    parts: list[list[int]] = []
    current = list(range(keys))
    for j in range(keys, len(header)):
        if len(current) > keys and needed(current + [j]) > console.width:
            parts.append(current)
            current = list(range(keys))
        current.append(j)
    parts.append(current)
    return parts


def print_fitted(console: Console, title: str, header: list[str], rows: list[list[Text | str]],
                 justify: list[str] | None = None, keys: int = 1) -> bool:
    """Print `header` x `rows` as one rich table, or, when it would be wider than the console, as parts of whole
    columns under one title (see `column_parts`). True when the table had to be cut into parts."""
    rows = [[c if isinstance(c, Text) else Text(str(c)) for c in row] for row in rows]
    keys = max(1, min(keys, len(header)))
    justify = justify or ["left" if j < keys else "right" for j in range(len(header))]
    parts = column_parts(console, header, rows, justify, keys)
    if len(parts) == 1:
        console.print(_rich_table(title, header, rows, parts[0], justify, keys))
        return False
    # The title on its own line: as a table title it would wrap to the width of the (narrower) first part.
    console.print(Text(title, style="italic"))
    for i, cols in enumerate(parts, 1):
        if i > 1:
            console.print()
        console.print(_rich_table(f"part {i} of {len(parts)}", header, rows, cols, justify, keys))
    return True


def _cells(row) -> list[Text]:
    cells = []
    for c in row:
        txt = Text(c.text, style="bold" if c.bold else "")
        if c.sup or c.mark:
            txt.append(f" {c.sup}{c.mark}", style="cyan")
        cells.append(txt)
    return cells


def to_rich(report: Report, console: Console) -> None:
    console.print(Text("Protocol", style="bold"))
    console.print(Text(report.protocol))
    cut = []
    for t in report.tables:
        keys = KEY_COLUMNS.get(t.key, 1)
        justify = ["left" if j < keys else "right" for j in range(len(t.header))]
        if t.key == "breakdown":
            justify[1] = "right"       # its second key column is a count
        console.print()
        if print_fitted(console, t.heading, t.header, [_cells(r) for r in t.rows], justify, keys):
            cut.append(t.key)
        for n in t.notes:
            console.print(Text(n, style="dim"))
        if t.key == "weights":
            _print_bars(report.bars, console, width=max(10, min(30, console.width - 40)))
    if cut:
        console.print()
        console.print(Text(f"Cut into parts to fit {console.width} columns: {', '.join(cut)}; {WHOLE_TABLES}.",
                           style="dim"))


def _print_bars(bars: list[dict], console: Console, width: int = 30) -> None:
    """The seed's figure 5.2 in the terminal: one bar per modality and category, planted weight beside it."""
    for b in bars:
        console.print()
        console.print(Text(f"Modality weights: {b['label']}", style="bold"))
        for cat, w in b["weights"].items():
            console.print(Text(f"  {cat}", style="underline"))
            for mod in MODALITIES:
                v = w.get(mod)
                if v is None or not np.isfinite(v):
                    continue
                n = int(round(v * width))
                line = Text(f"    {MOD_LABELS[mod]:<4}")
                line.append("█" * n, style={"id": "magenta", "llm": "green", "gnn": "blue", "rand": "grey50"}[mod])
                line.append(" " * (width - n) + f" {v:5.1%}")
                p = b["planted"].get(cat, {}).get(mod)
                if p is not None:
                    line.append(f"  (planted {p:5.1%})", style="dim")
                console.print(line)
