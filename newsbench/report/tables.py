"""A report as numbers and markup-free cells: `Report` holds `Table`s of `Cell`s, each table with its notes and the
same content as plain records (for CSV and JSON). Renderers (`render`, `terminal`) only format what is here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

METRICS = ("auc", "mrr", "ndcg@5", "ndcg@10")
MOD_LABELS = {"id": "ID", "llm": "LLM", "gnn": "GNN", "rand": "RAND"}
TEST_NAMES = {"ttest": "paired t-test", "wilcoxon": "Wilcoxon signed-rank test",
              "permutation": "paired randomisation (sign-flip) test"}
SEED_TEST = "ttest"       # the seed level has few pairs: a t-test is the only one that can reach significance
DAGGER = "†"
CONTROL = "‡"             # marks a control configuration: one holding the placebo modality rand
CLUSTERS = ("user", "none")   # impression-level unit: users (clustered), or every impression on its own
MARGIN = 0.005                # default equivalence margin, metric units: a difference below it is not worth a claim
POWER = 0.8                   # the power the seed-level minimum detectable effect is stated at


@dataclass
class Cell:
    text: str
    bold: bool = False
    sup: str = ""        # superscript letters (significant wins)
    mark: str = ""       # e.g. the dagger: the seed level disagrees


@dataclass
class Table:
    key: str                     # file stem of its CSV, the --table name, the LaTeX label tab:<key>
    title: str                   # without its number: LaTeX numbers tables itself
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str]
    records: list[dict]          # the same content as plain numbers, for CSV and JSON
    number: int = 0              # position in the report, set when the report is assembled

    def __post_init__(self):
        # A title written with its number ("Table 2. Ablation") keeps working: the number comes from the position.
        self.title = re.sub(r"^Table \d+\.\s*", "", self.title)

    @property
    def heading(self) -> str:
        return f"Table {self.number}. {self.title}" if self.number else self.title


def _fmt(x, digits=4) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _pm(values: np.ndarray, digits=4) -> str:
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return "n/a"
    if len(v) == 1:
        return _fmt(v[0], digits)
    return f"{v.mean():.{digits}f} ± {v.std(ddof=1):.{digits}f}"


def _fmt_p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return "n/a"
    return "<0.0001" if p < 1e-4 else f"{p:.4f}"


def _fmt_int(x) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{int(round(x)):,}"


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    v = values[~np.isnan(values)]
    if len(v) == 0:
        return math.nan, math.nan
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else math.nan


def plural(n: int, word: str) -> str:
    """'1 run', '2 runs' (the report's own: it imports nothing from the command line)."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def metric_names(names, flag: str = "--metrics") -> tuple[str, ...]:
    """Canonical metric names (`ndcg10` -> `ndcg@10`) in the order given, each once; InputError naming `flag`."""
    from newsbench import stats
    from newsbench.errors import InputError

    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    out = []
    for n in names:
        try:
            out.append(stats.metric_name(n))
        except ValueError:
            raise InputError(f"{flag} {n!r}: unknown metric; choose from {', '.join(METRICS)} (aliases ndcg5, "
                             f"ndcg10)") from None
    if not out:
        raise InputError(f"{flag}: name at least one metric: {', '.join(METRICS)}")
    return tuple(dict.fromkeys(out))


@dataclass
class Report:
    protocol: str
    tables: list[Table]
    data: dict
    bars: list[dict] = field(default_factory=list)     # for the terminal bars of modality weights
    runs: Table | None = None                          # one row per run (--table runs, runs.csv); not in report.md
    figures: list[tuple[str, str]] = field(default_factory=list)   # (caption, PNG path) of --plots, in report.md
