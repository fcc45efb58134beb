"""The report in a terminal: each table's brief view (newsbench.report.brief), its short notes, and, when asked,
bars of the modality weights.

A table is never folded mid-number. When its labels do not fit beside its values, each row's label goes on a line
of its own above its values (stacked); only a table whose values alone are wider than the terminal (`COLUMNS`;
rich assumes 80 columns when the output is piped) is cut into parts of whole columns, each part repeating the key
columns. Bold marks the best values where the console renders it; elsewhere (a pipe, a file, NO_COLOR) a `*`
follows them and the notes say so. --markdown, --csv --table NAME and --out DIR give every column and note.
"""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Console
from rich.cells import cell_len
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from newsbench.config import MODALITIES
from newsbench.report.brief import FILES, brief_protocol, brief_table
from newsbench.report.tables import MOD_LABELS, Report

# Leading columns that identify a row and are repeated in every part of a table cut to fit.
KEY_COLUMNS = {"weights": 2, "attribution": 2, "breakdown": 2}


def _rich_table(title: str | None, header: list[str], rows: list[list[Text]], cols: list[int], justify: list[str],
                keys: int, widths: list[int] | None = None, compact: bool = False) -> RichTable:
    # compact (the report's brief view): two spaces between columns, not three (collapsed padding), and a label too
    # long for its column folds rather than ending in an ellipsis.
    rt = RichTable(title=title, title_justify="left", show_lines=False, box=box.SIMPLE_HEAD, show_edge=False,
                   pad_edge=False, collapse_padding=compact)
    for j in cols:
        # Key columns (labels) may wrap between words; value columns never wrap.
        key = j < keys
        rt.add_column(header[j], justify=justify[j], no_wrap=not key,
                      overflow="fold" if key and compact else "ellipsis", min_width=widths[j] if widths else None)
    for row in rows:
        rt.add_row(*[row[j] for j in cols])
    return rt


def column_parts(console: Console, header: list[str], rows: list[list[Text]], justify: list[str],
                 keys: int, compact: bool = False) -> list[list[int]]:
    """Column indices of each part: all columns when the table fits the console, else greedy parts of whole
    columns, each starting with the first `keys` columns, each as wide as its widest cell."""
    # Measured against an unbounded width: against the console's own, rich caps the answer at that width.
    unbounded = console.options.update_width(1_000_000)

    def needed(cols: list[int]) -> int:
        m = Measurement.get(console, unbounded, _rich_table(None, header, rows, cols, justify, keys, None, compact))
        if not compact:
            return m.maximum
        # The label columns may wrap: count them at their narrowest (their longest word), values at their widest.
        label = Measurement.get(console, unbounded,
                                _rich_table(None, header, rows, cols[:keys], justify, keys, None, compact))
        return m.maximum - label.maximum + label.minimum

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
                 justify: list[str] | None = None, keys: int = 1,
                 blocks: list[tuple[str, list[list[Text]]]] | None = None, compact: bool = False) -> bool:
    """Print `header` x `rows` as one rich table, or, when it would be wider than the console, as parts of whole
    columns under one title (see `column_parts`). True when the table had to be cut into parts.

    `compact` (the report's brief view): narrower gaps, the title on a line of its own, and a table too wide only
    for its labels printed stacked (`print_stacked`) rather than in parts. `blocks`: titled groups of rows instead
    of `rows`, printed as one table each with the same column widths (compact only)."""
    rows = [[c if isinstance(c, Text) else Text(str(c)) for c in row] for row in rows]
    keys = max(1, min(keys, len(header)))
    justify = justify or ["left" if j < keys else "right" for j in range(len(header))]
    if blocks:
        every = [r for _, block in blocks for r in block]
        widths = [max([cell_len(header[j])] + [cell_len(r[j].plain) for r in every]) for j in range(len(header))]
        parts = column_parts(console, header, every, justify, keys, compact)
        if len(parts) == 1:
            console.print(Text(title, style="italic"))
            for name, block in blocks:
                console.print(Text(name, style="bold"))
                console.print(_rich_table(None, header, block, parts[0], justify, keys, widths, compact))
            return False
        rows = every
    parts = column_parts(console, header, rows, justify, keys, compact)
    if len(parts) == 1 and not compact:
        console.print(_rich_table(title, header, rows, parts[0], justify, keys))
        return False
    # The title on its own line: as a table title it would wrap to the width of the (narrower) table.
    console.print(Text(title, style="italic"))
    if len(parts) == 1:
        console.print(_rich_table(None, header, rows, parts[0], justify, keys, None, compact))
        return False
    if compact and _stacked_width(header, rows, keys) <= console.width:
        print_stacked(console, header, rows, justify, keys)
        return False
    for i, cols in enumerate(parts, 1):
        if i > 1:
            console.print()
        console.print(_rich_table(f"part {i} of {len(parts)}", header, rows, cols, justify, keys, None, compact))
    return True


STACK_INDENT = 2


def _value_widths(header: list[str], rows: list[list[Text]], keys: int) -> list[int]:
    return [max([cell_len(header[j])] + [r[j].cell_len for r in rows]) for j in range(keys, len(header))]


def _stacked_width(header: list[str], rows: list[list[Text]], keys: int) -> int:
    widths = _value_widths(header, rows, keys)
    return STACK_INDENT + sum(widths) + 2 * (len(widths) - 1)


def print_stacked(console: Console, header: list[str], rows: list[list[Text]], justify: list[str],
                  keys: int) -> None:
    """A table whose labels do not fit beside its values: each row's label on a line of its own, its values on
    the next, indented, under one header. Every value stays whole and the table stays in one piece."""
    widths = _value_widths(header, rows, keys)

    def values(cells: list[Text]) -> Text:
        line = Text(" " * STACK_INDENT)
        for n, (j, w) in enumerate(zip(range(keys, len(header)), widths)):
            pad = " " * (w - cells[n].cell_len)
            line.append("  " if n else "")
            line.append_text(Text(pad) + cells[n] if justify[j] == "right" else cells[n] + Text(pad))
        return line

    console.print(Text(" · ".join(header[:keys])), no_wrap=True, crop=False)
    console.print(values([Text(h) for h in header[keys:]]), no_wrap=True, crop=False)
    console.print(Text("─" * _stacked_width(header, rows, keys)), no_wrap=True, crop=False)
    for r in rows:
        console.print(Text(" · ").join(c for c in r[:keys] if c.plain), no_wrap=True, overflow="fold")
        console.print(values(r[keys:]), no_wrap=True, crop=False)


def renders_bold(console: Console) -> bool:
    """Whether bold reaches the reader: a terminal with styles (rich drops them in a pipe or a file)."""
    return console.is_terminal and console.color_system is not None and not console.no_color


def _cells(row, stars: bool = False) -> list[Text]:
    cells = []
    for c in row:
        txt = Text(c.text, style="bold" if c.bold and not stars else "")
        if stars:
            txt.append("*" if c.bold else " ")     # the space keeps a column's numbers aligned
        if c.sup or c.mark:
            txt.append(f" {c.sup}{c.mark}", style="cyan")
        cells.append(txt)
    return cells


def _marked(rows: list[list[Text]]) -> list[list[Text]]:
    """Drop the trailing space `_cells` leaves for an unmarked cell in a column that has no `*` at all."""
    if not rows:
        return rows
    for j in range(len(rows[0])):
        if not any(r[j].plain.endswith("*") for r in rows):
            for r in rows:
                if r[j].plain.endswith(" "):
                    r[j].right_crop(1)
    return rows


def to_rich(report: Report, console: Console, metrics: tuple[str, ...] | None = None, bars: bool = False) -> None:
    """The report in the terminal: the brief view of each table (newsbench.report.brief), its short notes, and the
    bars of the modality weights when `bars`. `metrics`: extra metric columns (--metrics)."""
    info = report.data.get("protocol", {})
    metric, alpha = info.get("metric", "auc"), info.get("alpha", 0.05)
    stars = not renders_bold(console)
    console.print(Text("Protocol", style="bold"))
    console.print(Text(brief_protocol(info)))
    cut = []
    for t in report.tables:
        b = brief_table(t, metric, alpha, metrics, "stars" if stars else "bold", console.width)
        console.print()
        if b is None:
            header, rows, notes, keys, blocks = t.header, t.rows, t.notes, KEY_COLUMNS.get(t.key, 1), []
        else:
            header, rows, notes, keys, blocks = b.header, b.rows, b.notes, b.keys, b.blocks
        justify = ["left" if j < keys else "right" for j in range(len(header))]
        if header[:2] == ["Subset", "n"]:
            justify[1] = "right"       # the breakdown's second key column is a count
        for j in range(keys, len(header)):
            if any(r[j].sup or r[j].mark for r in rows):
                justify[j] = "left"    # letters after a number: its digits stay aligned on the left
        blocks = [(name, _marked([_cells(r, stars) for r in block])) for name, block in blocks]
        if print_fitted(console, t.heading, header, _marked([_cells(r, stars) for r in rows]), justify, keys,
                        blocks, compact=True):
            cut.append(t.key)
        for n in notes:
            console.print(Text(n, style="dim"))
        if t.key == "weights" and bars:
            _print_bars(report.bars, console, width=max(10, min(30, console.width - 40)))
    console.print()
    console.print(Text(("Cut into parts to fit " + f"{console.width} columns: {', '.join(cut)}; " if cut else "")
                       + f"{FILES}.", style="dim"))


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
