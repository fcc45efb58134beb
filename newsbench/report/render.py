"""Plain-text renderings of a report: markdown (tabulate pipe tables), LaTeX (booktabs; every column, and a compact
view with the terminal's columns) and CSV."""

from __future__ import annotations

import re

import pandas as pd
from tabulate import tabulate

from newsbench.report.brief import brief_table
from newsbench.report.tables import Cell, Report, Table

FORMATS = ("markdown", "latex", "csv")


def _md_cell(c: Cell) -> str:
    s = c.text.replace("|", "\\|")
    if c.bold:
        s = f"**{s}**"
    if c.sup or c.mark:
        s += f"<sup>{c.sup}{c.mark}</sup>"
    return s


def to_markdown(report: Report) -> str:
    parts = ["## Protocol", "", report.protocol, ""]
    for t in report.tables:
        parts += [f"### {t.heading}", "",
                  tabulate([[_md_cell(c) for c in row] for row in t.rows], headers=t.header, tablefmt="pipe",
                           disable_numparse=True), ""]
        parts += [f"- {n}" for n in t.notes] + [""]
    if report.figures:
        # --plots: each figure linked (PNG shown, PDF for print, CSV of the plotted numbers), docs/report.md reads them
        parts += ["## Figures", ""]
        for caption, png in report.figures:
            stem = png[:-len(".png")]
            parts += [f"![{caption}]({png})", "", f"[PDF]({stem}.pdf), [plotted numbers]({stem}.csv)", ""]
    return "\n".join(parts)


_LATEX_ESCAPE = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                 "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_SYMBOLS = {"±": r"$\pm$", "†": r"\textsuperscript{\dag}", "‡": r"\textsuperscript{\ddag}", "Δ": r"$\Delta$",
                  "ρ": r"$\rho$",
                  "→": r"$\rightarrow$", "−": "--", "–": "--", "—": "---", "×": r"$\times$", "<": r"$<$",
                  ">": r"$>$", "`": ""}


def latex_escape(text: str) -> str:
    out = []
    for ch in text:
        out.append(_LATEX_ESCAPE.get(ch) or _LATEX_SYMBOLS.get(ch, ch))
    return "".join(out)


def latex_label(key: str) -> str:
    """A \\label key from a table key: letters, digits, '-' and ':' only (e.g. tab:ablation)."""
    return re.sub(r"[^A-Za-z0-9:-]+", "-", key).strip("-") or "table"


def _tex_cell(c: Cell) -> str:
    s = latex_escape(c.text)
    if c.bold:
        s = rf"\textbf{{{s}}}"
    if c.sup:
        s += rf"\textsuperscript{{{c.sup}}}"
    if c.mark:
        s += latex_escape(c.mark)
    return s


def _latex_header(report: Report, what: str) -> str:
    return f"% {what}; needs \\usepackage{{booktabs}}" + (" and \\usepackage{graphicx}" if report.figures else "")


def _latex_float(env: str, title: str, label: str, spec: str, header: list[str], rows: list[list[Cell]],
                 notes: list[str], blocks=(), setup: tuple[str, ...] = ()) -> list[str]:
    """One booktabs table in the float `env` (table or table*): caption, label, rows, then each titled block of rows
    under its name, and the notes below."""
    parts = [rf"\begin{{{env}}}[t]", r"\centering", r"\small", *setup,
             rf"\caption{{{latex_escape(title)}}}", rf"\label{{{label}}}",
             rf"\begin{{tabular}}{{{spec}}}", r"\toprule", " & ".join(latex_escape(h) for h in header) + r" \\",
             r"\midrule"]
    parts += [" & ".join(_tex_cell(c) for c in row) + r" \\" for row in rows]
    for i, (name, block) in enumerate(blocks):
        if i:
            parts.append(r"\midrule")
        parts.append(rf"\multicolumn{{{len(header)}}}{{l}}{{\textit{{{latex_escape(name)}}}}} \\")
        parts += [" & ".join(_tex_cell(c) for c in row) + r" \\" for row in block]
    parts += [r"\bottomrule", r"\end{tabular}", r"\par\medskip", r"\begin{minipage}{\linewidth}\footnotesize"]
    parts += [latex_escape(n) + r"\par" for n in notes]
    return parts + [r"\end{minipage}", rf"\end{{{env}}}", ""]


def to_latex(report: Report) -> str:
    parts = [_latex_header(report, "newsbench report"), "", latex_escape(report.protocol), ""]
    for t in report.tables:
        spec = "l" + ("l" if t.key == "weights" else "") + "r" * (len(t.header) - (2 if t.key == "weights" else 1))
        parts += _latex_float("table", t.title, f"tab:{latex_label(t.key)}", spec, t.header, t.rows, t.notes)
    return "\n".join(parts + _latex_figures(report))


def _latex_figures(report: Report) -> list[str]:
    parts = []
    for caption, png in report.figures or []:
        # The PDF, not the PNG: vector for print. figure*: every figure is drawn \textwidth wide (docs/report.md).
        stem = png[:-len(".png")]
        name = stem.rsplit("/", 1)[-1]
        parts += [r"\begin{figure*}[t]", r"\centering", rf"\includegraphics[width=\textwidth]{{{stem}.pdf}}",
                  rf"\caption{{{latex_escape(caption)}}}", rf"\label{{fig:{latex_label(name)}}}",
                  r"\end{figure*}", ""]
    return parts


# The compact LaTeX view reads like the terminal's: the columns a reader scans first, sized for a page. Its width
# budget in characters: a two-column paper's \textwidth (7 in) at \small, ~0.065 in a character.
COMPACT_WIDTH = 100


def to_latex_compact(report: Report) -> str:
    """report-compact.tex: every table with the terminal's columns (newsbench.report.brief) as a booktabs table*
    (across both columns of a paper), its short notes, and a pointer to the full table. The cells are the brief
    view's, drawn from the same records as report.tex's, so it holds no number the full tables lack."""
    info = report.data.get("protocol", {})
    metric, alpha = info.get("metric", "auc"), info.get("alpha", 0.05)
    parts = [_latex_header(report, "newsbench report, compact (the terminal's columns of each table; every column: "
                                   "report.tex)"), ""]
    for t in report.tables:
        b = brief_table(t, metric, alpha, None, "bold", COMPACT_WIDTH)
        header, rows, notes, keys, blocks = ((t.header, t.rows, t.notes, 1, []) if b is None
                                             else (b.header, b.rows, b.notes, b.keys, b.blocks))
        # 4 pt between columns instead of 6: the ablation's reference rows have long labels (inside the float: local)
        parts += _latex_float("table*", t.title, f"tab:{latex_label(t.key)}-compact",
                              "l" * keys + "r" * (len(header) - keys), header, rows,
                              [*notes, f"Every column and the full notes: report.tex, {t.key}.csv."], blocks,
                              setup=(r"\setlength{\tabcolsep}{4pt}",))
    return "\n".join(parts + _latex_figures(report))


def table_csv(t: Table) -> str:
    # convert_dtypes: integer columns with a missing cell stay integers ("3", not "3.0").
    return pd.DataFrame(t.records).convert_dtypes().to_csv(index=False)


def to_csv(report: Report) -> str:
    """Every table as CSV, each preceded by a '# key: title' line and separated by a blank line."""
    return "\n".join(f"# {t.key}: {t.heading}\n{table_csv(t)}" for t in report.tables)


def render(report: Report, fmt: str) -> str:
    if fmt == "markdown":
        return to_markdown(report)
    if fmt == "latex":
        return to_latex(report)
    if fmt == "csv":
        return to_csv(report)
    raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
