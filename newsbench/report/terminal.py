"""The report in a terminal: rich tables, notes, and bars of the modality weights."""

from __future__ import annotations

import numpy as np
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text

from newsbench.config import MODALITIES
from newsbench.report.tables import MOD_LABELS, Report


def to_rich(report: Report, console: Console) -> None:
    console.print(Text("Protocol", style="bold"))
    console.print(Text(report.protocol))
    for t in report.tables:
        rt = RichTable(title=t.title, title_justify="left", show_lines=False)
        for i, h in enumerate(t.header):
            rt.add_column(h, justify="left" if i == 0 or (t.key == "weights" and i == 1) else "right",
                          overflow="fold")
        for row in t.rows:
            cells = []
            for c in row:
                txt = Text(c.text, style="bold" if c.bold else "")
                if c.sup or c.mark:
                    txt.append(f" {c.sup}{c.mark}", style="cyan")
                cells.append(txt)
            rt.add_row(*cells)
        console.print()
        console.print(rt)
        for n in t.notes:
            console.print(Text(n, style="dim"))
        if t.key == "weights":
            _print_bars(report.bars, console)


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
                line.append("█" * n, style={"id": "magenta", "llm": "green", "gnn": "blue"}[mod])
                line.append(" " * (width - n) + f" {v:5.1%}")
                p = b["planted"].get(cat, {}).get(mod)
                if p is not None:
                    line.append(f"  (planted {p:5.1%})", style="dim")
                console.print(line)
