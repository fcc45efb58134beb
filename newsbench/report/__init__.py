"""Tables a paper can use, derived from a results folder: fusion comparison, ablation, modality weights, breakdown.

The package, in the order a report is made:
- `groups`: run records + per-impression arrays (`store`) into groups of runs that differ only by seed;
- `card`: the dataset card of generated data (planted weights, oracle rows);
- `tables` / `builder`: every table as numbers and markup-free cells, with the paired tests of `newsbench.stats`;
- `render` (markdown, LaTeX, CSV), `brief` (the terminal's columns of each table), `terminal` (rich) and `figures`
  (matplotlib, optional): formatting only;
- `output`: print one format, write every format (report.md, report.tex, one CSV per table, report.json).

Nothing here imports back up the chain: renderers read a `Report`, the builder never renders.
"""

from newsbench.report.builder import build_report
from newsbench.report.card import oracle_metrics, oracle_rows, planted_weights, read_card
from newsbench.report.groups import Group, Selection, load_groups
from newsbench.report.output import print_and_write, render_text, write_report
from newsbench.report.render import FORMATS, latex_escape, render, table_csv, to_csv, to_latex, to_markdown
from newsbench.report.tables import DAGGER, METRICS, MOD_LABELS, SEED_TEST, TEST_NAMES, Cell, Report, Table
from newsbench.report.terminal import to_rich

__all__ = ["DAGGER", "FORMATS", "METRICS", "MOD_LABELS", "SEED_TEST", "TEST_NAMES", "Cell", "Group", "Report",
           "Selection", "Table", "build_report", "latex_escape", "load_groups", "oracle_metrics", "oracle_rows",
           "planted_weights", "print_and_write", "read_card", "render", "render_text", "table_csv", "to_csv",
           "to_latex", "to_markdown", "to_rich", "write_report"]
