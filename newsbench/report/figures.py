"""Figures of a report (`newsbench report --plots`), each as PNG + PDF with a sidecar CSV of the plotted numbers.

- forest: the paired differences the report tests (configurations against the reference, the thesis' pair, the
  data baselines; the fusions against each other; each modality against its placebo) with the impression-level
  (user-clustered bootstrap) and seed-level (t-based) 95% intervals, the TOST margin band and Holm significance.
- weights_vs_planted / attribution_vs_planted: per category, what a fusion learned (its gate / attention weight, or
  the AUC lost without a modality) against the weight the generator planted, one panel per modality with
  Spearman's rho; the cold and warm news apart, as lines. Only with a dataset card, where the truth exists.
- cold_warm: AUC on cold and on warm candidates per configuration, with the data baselines and the card's ceilings
  as reference lines.
- metrics: mean of each metric per configuration; weights: stacked modality weights per category.

Every number is read from the report's own data (`Report.data`, what report.json holds): the intervals, p-values
and Holm decisions of `data["comparisons"]`, the rows of `data["tables"]`; nothing is re-tested here. The only
arithmetic is the t-based interval over per-seed values (of a configuration's mean, or of its cold / warm AUC from
the breakdown table's mean and std) and Spearman's rho of the plotted points (scipy; it equals the report's).

matplotlib is an optional extra (`pip install 'newsbench[plots]'`). Figures are bare `Figure` objects on the
non-interactive Agg canvas, never pyplot, so nothing needs a display and no global state leaks between calls.
Sizes are those of a two-column paper (docs/report.md): 7.0 in wide (a figure* spanning both columns), drawn at
print size with 8 pt text and nothing under 7 pt, so that a page at 80% zoom still reads. Colours are the
Okabe-Ito palette (distinguishable with the common colour-vision deficiencies), and every series also differs by
marker or line style, so the figures survive greyscale printing. PDFs carry no creation date, so rerunning the
report on the same records rewrites the same bytes.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as sps

from newsbench import atomic, stats
from newsbench.config import MODALITIES, REAL_MODALITIES
from newsbench.errors import InputError
from newsbench.report.tables import METRICS, MOD_LABELS

if TYPE_CHECKING:   # matplotlib is optional: only for type hints here
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from newsbench.report.tables import Report

FORMATS = ("png", "pdf")
MISSING = "matplotlib is needed for --plots: pip install 'newsbench[plots]'"

# Okabe & Ito (2008), "Color universal design": eight colours told apart with the common colour-vision deficiencies.
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky": "#56B4E9", "green": "#009E73", "yellow": "#F0E442",
             "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
GREY = "#999999"
# The hues of the terminal bars (report.terminal: magenta / green / blue), in the palette.
MOD_COLORS = {"id": OKABE_ITO["purple"], "llm": OKABE_ITO["green"], "gnn": OKABE_ITO["blue"], "rand": GREY}
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")]
COLD, WARM = OKABE_ITO["sky"], OKABE_ITO["orange"]

# A two-column paper's \textwidth (ACM, IEEE: ~7.0 in): every figure spans both columns (a column's 3.3 in leaves a
# forest plot's intervals under an inch beside its labels; docs/report.md).
DOUBLE_COLUMN_IN = 7.0
FONT_PT, SMALL_PT = 8.0, 7.0
STYLE = {
    "font.size": FONT_PT, "axes.titlesize": FONT_PT, "axes.labelsize": FONT_PT, "figure.titlesize": FONT_PT + 1,
    "xtick.labelsize": SMALL_PT, "ytick.labelsize": SMALL_PT, "legend.fontsize": SMALL_PT,
    "figure.labelsize": FONT_PT, "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
    "lines.linewidth": 1.0, "axes.spines.top": False, "axes.spines.right": False,
    # TrueType in the PDF (not Type 3): editable, and what publishers' checks ask for.
    "pdf.fonttype": 42, "svg.fonttype": "none",
}
PNG_DPI = 150          # 1,050 px across at 7 in: wider than a README shows it; the PDF is for print
# One font face per figure (no bold, no monospace): each face a PDF embeds is a TrueType subset, a third of the
# time of writing it.


def metric_label(metric: str) -> str:
    """Display name of a metric, from the report's own table (newsbench.stats), so that new metrics get theirs."""
    return stats.METRIC_LABELS.get(metric, metric)


def require_matplotlib() -> None:
    """Raise InputError (one line, exit 2 in the CLI) when the optional extra is not installed."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        raise InputError(MISSING) from None


def check_plots_before_a_grid(plots: bool, report: bool) -> None:
    """`ablate --plots` (and api.ablate): checked before any training, since a missing extra or a contradiction
    found after an hour of it would waste the hour."""
    if plots:
        if not report:
            raise InputError("--plots draws the report's figures; it cannot go with --no-report")
        require_matplotlib()


def _style():
    import matplotlib

    return matplotlib.rc_context(STYLE)


def _new_figure(width: float, height: float) -> "Figure":
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)     # Agg: renders without a display, whatever the user's default backend is
    return fig


def mean_ci(values, level: float = 0.95) -> tuple[float, float, int]:
    """Mean of the finite per-seed values, the half-width of its t-based `level` interval, and n.

    The half-width is NaN with fewer than 2 seeds: one run says nothing about the spread over seeds.
    """
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return math.nan, math.nan, 0
    if n == 1:
        return float(v[0]), math.nan, 1
    half = sps.t.ppf(0.5 + level / 2, n - 1) * v.std(ddof=1) / math.sqrt(n)
    return float(v.mean()), float(half), n


def t_half_width(std, n, level: float = 0.95) -> float:
    """Half-width of the t-based `level` interval of a mean of n values with sample std `std` (NaN for n < 2)."""
    if std is None or n is None or n < 2 or not math.isfinite(std):
        return math.nan
    return float(sps.t.ppf(0.5 + level / 2, n - 1) * std / math.sqrt(n))


def _num(x) -> float:
    return math.nan if x is None else float(x)


# ---------------------------------------------------------------------------------------------- sidecar CSVs

def _csv_cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(v) else repr(float(v))     # full precision: the CSV is the figure's numbers
    return str(v)


def _csv_text(rows: list[dict]) -> str:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([_csv_cell(r.get(c)) for c in cols])
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------ forest plot

# Which comparisons go in which panel, in order; each title says what minus what.
FOREST_PANELS = (
    ("reference", ("ablation", "thesis", "baselines"), "Against the reference (ablation table)"),
    ("fusion", ("fusion",), "Fusions against each other"),
    ("placebo", ("placebo",), "Each modality against its placebo"),
)


def forest_rows(data: dict) -> list[dict]:
    """One row per comparison on the report's tested metric, as report.json holds it: the panel, both sides, the
    mean per-impression difference with its bootstrap CI, the per-seed difference with its t-based CI, Holm-adjusted
    p-values and decisions at both levels, the TOST margin and the verdict."""
    metric = data["protocol"]["metric"]
    panel_of = {t: key for key, tables, _ in FOREST_PANELS for t in tables}
    rows = []
    for c in data.get("comparisons") or []:
        if c.get("metric") != metric or c.get("table") not in panel_of:
            continue
        imp, seed = c.get("impression") or {}, c.get("seed") or {}
        label = f"{c['a']} − {c['b']}"
        if c["table"] == "thesis":
            label = f"thesis: {label}"
        rows.append({
            "panel": panel_of[c["table"]], "table": c["table"], "label": label, "a": c["a"], "b": c["b"],
            "metric": metric, "diff_impression": imp.get("diff"), "ci_low_impression": imp.get("ci_low"),
            "ci_high_impression": imp.get("ci_high"), "diff_seed": seed.get("diff"),
            "ci_low_seed": seed.get("ci_low"), "ci_high_seed": seed.get("ci_high"), "n_seeds": seed.get("n"),
            "p_impression_holm": c.get("impression_p_holm"), "p_seed_holm": c.get("seed_p_holm"),
            "significant_impression": c.get("impression_significant"),
            "significant_seed": c.get("seed_significant"), "margin": c.get("margin"), "verdict": c.get("verdict"),
        })
    return rows


def _interval(ax: "Axes", y: float, mid, low, high, color: str, marker: str, filled, lw: float, size: float):
    mid, low, high = _num(mid), _num(low), _num(high)
    if math.isfinite(low) and math.isfinite(high):
        ax.plot([low, high], [y, y], color=color, lw=lw, solid_capstyle="butt", zorder=2)
    if math.isfinite(mid):
        ax.plot([mid], [y], marker=marker, ms=size, mec=color, mew=1.0, mfc=color if filled else "white",
                ls="none", zorder=3)


def _ci_text(r: dict) -> str:
    d, lo, hi = _num(r["diff_impression"]), _num(r["ci_low_impression"]), _num(r["ci_high_impression"])
    if not math.isfinite(d):
        return ""
    text = f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]" if math.isfinite(lo) and math.isfinite(hi) else f"{d:+.4f}"
    # The minus sign is as wide as the plus and the digits' column stays aligned in a proportional font.
    return text.replace("-", "−")


def forest_figure(data: dict) -> tuple["Figure", dict, list[dict]]:
    """The paired differences of the report with both levels' 95% intervals: one panel per family of comparisons,
    sharing the x axis (the metric's units), rows top to bottom in the report's order.

    Returns the figure, a summary (panels and their row labels, the metric) and the plotted rows (the sidecar CSV).
    """
    rows = forest_rows(data)
    metric = data["protocol"]["metric"]
    ml = metric_label(metric)
    alpha = data["protocol"].get("alpha", 0.05)
    panels = [(key, title, [r for r in rows if r["panel"] == key]) for key, _, title in FOREST_PANELS]
    panels = [p for p in panels if p[2]]
    if not panels:
        return None, {"panels": [], "metric": metric}, []
    n_rows = sum(len(p[2]) for p in panels)
    height = 0.95 + 0.21 * n_rows + 0.32 * len(panels)
    fig = _new_figure(DOUBLE_COLUMN_IN, height)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [len(p[2]) + 0.6 for p in panels]})[:, 0]
    margin = next((_num(r["margin"]) for r in rows if r["margin"] is not None), math.nan)
    imp_color, seed_color = OKABE_ITO["blue"], OKABE_ITO["vermillion"]
    for ax, (key, title, prow) in zip(axes, panels):
        n = len(prow)
        ys = np.arange(n)[::-1].astype(float)      # first row on top
        if math.isfinite(margin):
            ax.axvspan(-margin, margin, color="#DDDDDD", lw=0, zorder=0)
        ax.axvline(0.0, color="black", lw=0.7, zorder=1)
        prev = None
        for y, r in zip(ys, prow):
            if prev is not None and r["table"] != prev:
                ax.axhline(y + 0.5, color=GREY, lw=0.5, ls=":", zorder=1)    # ablation | thesis | baselines
            prev = r["table"]
            _interval(ax, y + 0.13, r["diff_impression"], r["ci_low_impression"], r["ci_high_impression"],
                      imp_color, "o", r["significant_impression"], 2.0, 4.5)
            _interval(ax, y - 0.17, r["diff_seed"], r["ci_low_seed"], r["ci_high_seed"], seed_color, "D",
                      r["significant_seed"], 0.9, 3.2)
        ax.set_yticks(ys, [r["label"] for r in prow])
        ax.set_ylim(-0.7, n - 0.3)
        ax.tick_params(axis="y", length=0)
        # The impression-level numbers at the right, formatted as the tables print them.
        right = ax.twinx()
        right.set_ylim(ax.get_ylim())
        right.set_yticks(ys, [_ci_text(r) for r in prow], fontsize=SMALL_PT)
        right.tick_params(axis="y", length=0)
        right.spines[["top", "right", "left", "bottom"]].set_visible(False)
        ax.grid(axis="x", color="#EEEEEE", lw=0.5, zorder=0)
        ax.set_axisbelow(True)
        ax.set_title(title, loc="left")
    # Header of the numbers' column, above it (outside the axes, where the right tick labels made room).
    axes[0].annotate(f"Δ {ml} [95% CI], impression", xy=(1.0, 1.0), xycoords="axes fraction", xytext=(6, 3),
                     textcoords="offset points", ha="left", va="bottom", fontsize=SMALL_PT, annotation_clip=False)
    axes[-1].set_xlabel(f"Δ {ml}, mean per impression (left side − right side)")
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [
        Line2D([], [], color=imp_color, lw=2.0, marker="o", ms=4.5, mfc=imp_color,
               label="impression level: user-clustered bootstrap 95% CI"),
        Line2D([], [], color=seed_color, lw=0.9, marker="D", ms=3.2, mfc=seed_color,
               label="seed level: t-based 95% CI over per-seed differences"),
        Line2D([], [], color="black", lw=0, marker="o", ms=4.5, mfc="white",
               label=f"open marker: not significant (Holm, α = {alpha:g})"),
    ]
    if math.isfinite(margin):
        handles.append(Patch(color="#DDDDDD", label=f"TOST equivalence margin ±{margin:g}"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    summary = {"metric": metric, "panels": [key for key, _, _ in panels],
               "rows": {key: [r["label"] for r in prow] for key, _, prow in panels}, "margin": margin}
    return fig, summary, rows


# ------------------------------------------------------------------------------------- learned against planted

def _planted_series(table: dict | None, value: str, sides: tuple[str, str]) -> dict[str, dict]:
    """Per configuration of a weights / attribution table (report.json rows): per modality, the category points
    (category, planted, learned) where both exist, and the learned value on cold and warm news (`sides`: the rows'
    names for them), plus the card's ceiling points when the rows hold them."""
    out: dict[str, dict] = {}
    if not table:
        return out
    for r in table["rows"]:
        cfg = out.setdefault(r["configuration"], {})
        for mod in REAL_MODALITIES:
            learned = r.get(value.format(mod=mod))
            if learned is None:
                continue
            s = cfg.setdefault(mod, {"points": [], "ceiling": [], "cold": None, "warm": None})
            if r["category"] == sides[0]:
                s["cold"] = (r["category"], learned)
            elif r["category"] == sides[1]:
                s["warm"] = (r["category"], learned)
            elif r.get(f"planted_{mod}") is not None:
                s["points"].append((r["category"], r[f"planted_{mod}"], learned))
                if r.get(f"ceiling_{mod}") is not None:
                    s["ceiling"].append((r["category"], r[f"planted_{mod}"], r[f"ceiling_{mod}"]))
    # a configuration whose rows hold no planted value at all (no card) has nothing to compare
    return {c: mods for c, mods in out.items() if any(s["points"] for s in mods.values())}


def spearman(points) -> float:
    """Spearman's rho of (planted, learned) over the points (scipy); NaN with fewer than 3 or a constant side."""
    x = np.asarray([p[1] for p in points], dtype=np.float64)
    y = np.asarray([p[2] for p in points], dtype=np.float64)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(sps.spearmanr(x, y).statistic)


def planted_figure(series: dict[str, dict], ylabel: str, what: str, diagonal: bool,
                   cold_warm: tuple[str, str]) -> tuple["Figure", dict, list[dict]]:
    """A grid of small scatter panels: one row per configuration, one column per real modality; each point a news
    category at (planted weight, learned value), Spearman's rho in the panel's title; the learned value on cold and
    on warm news as horizontal lines (they have no planted weight: the card plants per category)."""
    configs = list(series)
    mods = [m for m in REAL_MODALITIES if any(m in series[c] for c in configs)]
    height = 0.75 + 1.4 * len(configs)
    fig = _new_figure(DOUBLE_COLUMN_IN, height)
    # One scale per column: a modality's panels compare across configurations at a glance.
    axes = fig.subplots(len(configs), len(mods), squeeze=False, sharex="col", sharey="col")
    csv_rows, summary = [], {"configurations": configs, "modalities": mods, "spearman": {}}
    for i, cfg in enumerate(configs):
        summary["spearman"][cfg] = {}
        for j, mod in enumerate(mods):
            ax = axes[i, j]
            s = series[cfg].get(mod)
            if s is None:
                ax.set_axis_off()      # this configuration has no such modality
                continue
            pts = s["points"]
            rho = spearman(pts)
            summary["spearman"][cfg][mod] = rho
            px = [p[1] for p in pts]
            py = [p[2] for p in pts]
            if s["ceiling"]:
                ax.plot([p[1] for p in s["ceiling"]], [p[2] for p in s["ceiling"]], ls="none", marker="x", ms=3.2,
                        mew=0.7, color=GREY, alpha=0.8, zorder=2)
            ax.plot(px, py, ls="none", marker="o", ms=4.2, mec="white", mew=0.4, color=MOD_COLORS[mod], zorder=3)
            if diagonal:
                hi = max(px)
                ax.plot([0.0, hi], [0.0, hi], color=GREY, lw=0.6, ls="--", zorder=1)
            else:
                ax.axhline(0.0, color="black", lw=0.5, zorder=1)    # below it: the model does better without it
            for side, color, ls in (("cold", COLD, (0, (4, 2))), ("warm", WARM, (0, (1, 1.5)))):
                if s[side] is not None:
                    ax.axhline(s[side][1], color=color, lw=1.1, ls=ls, zorder=1)
            rho_txt = "n/a" if not math.isfinite(rho) else f"{rho:+.2f}".replace("-", "−")
            ax.set_title(f"{MOD_LABELS[mod]}: Spearman ρ = {rho_txt}", loc="left")
            if j == 0:
                ax.set_ylabel(f"{cfg}\n{ylabel}")
            if i == len(configs) - 1:
                ax.set_xlabel(f"planted {MOD_LABELS[mod]} weight (card)")
            ax.grid(color="#EEEEEE", lw=0.5)
            ax.set_axisbelow(True)
            for cat, planted, learned in pts:
                csv_rows.append({"configuration": cfg, "modality": mod, "category": cat, "planted": planted,
                                 what: learned, "spearman": rho})
            for cat, planted, ceil in s["ceiling"]:
                csv_rows.append({"configuration": cfg, "modality": mod, "category": cat, "planted": planted,
                                 "ceiling": ceil, "spearman": rho})
            for side in ("cold", "warm"):
                if s[side] is not None:    # the table's row name: "(cold news)", "(warm cands)", ...
                    csv_rows.append({"configuration": cfg, "modality": mod, "category": s[side][0],
                                     what: s[side][1]})
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="none", marker="o", ms=3.8, color=GREY, label="a news category"),
               Line2D([], [], color=COLD, lw=1.1, ls=(0, (4, 2)), label=f"{cold_warm[0]} (no planted weight)"),
               Line2D([], [], color=WARM, lw=1.1, ls=(0, (1, 1.5)), label=f"{cold_warm[1]}")]
    if any(series[c][m]["ceiling"] for c in configs for m in series[c]):
        handles.append(Line2D([], [], ls="none", marker="x", ms=3.5, color=GREY,
                              label="the card's learnable ceiling"))
    if diagonal:
        handles.append(Line2D([], [], color=GREY, lw=0.6, ls="--", label="learned = planted"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), frameon=False)
    return fig, summary, csv_rows


# ------------------------------------------------------------------------------------------------- cold / warm

def cold_warm_rows(data: dict) -> list[dict]:
    """The cold-warm figure's numbers: per configuration the breakdown table's mean AUC on cold / warm candidates
    with its t-based 95% CI over seeds; the data baselines' and the card's ceilings' AUC on the same candidates."""
    table = (data.get("tables") or {}).get("breakdown")
    if not table:
        return []
    seeds = {g["label"]: len(g.get("seeds") or []) for g in data["groups"]}
    out = []
    by_subset = {r["subset"]: r for r in table["rows"]}
    for part in ("cold", "warm"):
        r = by_subset.get(part)
        if r is None:
            continue
        for g in data["groups"]:
            mean, std, n = r.get(f"{g['label']}_mean"), r.get(f"{g['label']}_std"), seeds.get(g["label"], 0)
            if mean is None:
                continue
            half = t_half_width(std, n)
            out.append({"kind": "configuration", "part": part, "label": g["label"], "auc": mean, "std": std,
                        "n_seeds": n, "ci_low": mean - half if math.isfinite(half) else None,
                        "ci_high": mean + half if math.isfinite(half) else None})
        for b in data.get("baselines") or []:
            v = ((b.get("metrics_by") or {}).get(part) or {}).get("auc")
            if v is not None:
                out.append({"kind": "baseline", "part": part, "label": f"baseline: {b['label']}", "auc": v})
        refs = ((data.get("card") or {}).get("reference_rows_by") or {}).get(part) or {}
        for name, m in refs.items():
            if name.startswith("ceiling") and m.get("auc") is not None:
                out.append({"kind": "card", "part": part, "label": name, "auc": m["auc"]})
    return out


def cold_warm_figure(data: dict) -> tuple["Figure", dict, list[dict]]:
    """Two panels, cold and warm candidates: per configuration its mean AUC with the 95% CI over seeds, and the
    reference lines of the data baselines (dotted) and the card's ceilings (dashed)."""
    rows = cold_warm_rows(data)
    parts = [p for p in ("cold", "warm") if any(r["part"] == p for r in rows)]
    labels = [g["label"] for g in data["groups"]]
    refs = list(dict.fromkeys(r["label"] for r in rows if r["kind"] != "configuration"))
    # Baselines: coloured, dotted (yellow left out: too faint on white). Ceilings: dashed, black for the oracle,
    # grey for the learnable one; their one-global-row variants dash-dotted.
    colors = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky")]
    ref_style, k = {}, 0
    for name in refs:
        if name.startswith("ceiling"):
            ref_style[name] = {"color": "black" if "oracle" in name else "#777777", "lw": 1.1,
                               "ls": (0, (6, 1.5, 1, 1.5)) if "global" in name else (0, (4, 1.5))}
        else:
            ref_style[name] = {"color": colors[k % len(colors)], "ls": (0, (1, 1.2)), "lw": 1.3}
            k += 1
    height = 1.3 + 0.2 * len(labels) + 0.16 * math.ceil(len(refs) / 2)
    fig = _new_figure(DOUBLE_COLUMN_IN, height)
    axes = fig.subplots(1, len(parts), sharey=True, squeeze=False)[0]
    ys = {lab: float(len(labels) - 1 - i) for i, lab in enumerate(labels)}
    for ax, part in zip(axes, parts):
        for r in rows:
            if r["part"] != part:
                continue
            if r["kind"] == "configuration":
                y = ys[r["label"]]
                if r["ci_low"] is not None:
                    ax.plot([r["ci_low"], r["ci_high"]], [y, y], color=OKABE_ITO["blue"], lw=1.8,
                            solid_capstyle="butt", zorder=3)
                ax.plot([r["auc"]], [y], marker="o", ms=4.5, color=OKABE_ITO["blue"], ls="none", zorder=4)
            else:
                ax.axvline(r["auc"], zorder=2, label=r["label"], **ref_style[r["label"]])
        n = next((r for r in (data["tables"]["breakdown"]["rows"]) if r["subset"] == part), {}).get("n")
        ax.set_title(f"{part} candidates" + (f" ({int(n):,} impressions)" if n else ""), loc="left")
        ax.set_xlabel("AUC (mean over seeds, t-based 95% CI)")
        ax.set_yticks(list(ys.values()), list(ys))
        ax.tick_params(axis="y", length=0)
        ax.set_ylim(-0.7, len(labels) - 0.3)
        ax.grid(axis="x", color="#EEEEEE", lw=0.5)
        ax.set_axisbelow(True)
    if refs:
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], **ref_style[name], label=name) for name in refs]
        fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    summary = {"parts": parts, "configurations": labels, "references": refs}
    return fig, summary, rows


# ------------------------------------------------------------------------------- metrics and weights (bars)

def metrics_figure(groups: list[dict]) -> tuple["Figure", dict]:
    """Grouped bars: one group per configuration, one bar per metric, mean over seeds with 95% CI error bars.

    `groups` is `Report.data["groups"]` (label, seeds, metrics[m]["per_seed"]). Returns the figure and a summary:
    configurations in drawing order, n seeds each, and per metric the means and CI half-widths drawn.
    """
    labels = [g["label"] for g in groups]
    metrics = [m for m in METRICS if all(m in g["metrics"] for g in groups)]
    n_cfg, n_met = len(groups), len(metrics)
    fig = _new_figure(DOUBLE_COLUMN_IN, 2.9)
    ax = fig.add_subplot()
    x = np.arange(n_cfg, dtype=np.float64)
    width = 0.8 / n_met
    summary: dict[str, Any] = {"configurations": labels, "bar_groups": n_cfg,
                               "seeds": [len(g.get("seeds") or []) for g in groups], "metrics": {}}
    for k, m in enumerate(metrics):
        stats_ = [mean_ci(g["metrics"][m]["per_seed"]) for g in groups]
        means = np.array([s[0] for s in stats_])
        half = np.array([s[1] for s in stats_])
        # NaN half-widths (1 seed) draw no bar; matplotlib wants finite numbers, so 0 with the cap hidden below.
        yerr = np.where(np.isfinite(half), half, 0.0)
        ax.bar(x + (k - (n_met - 1) / 2) * width, np.nan_to_num(means), width, label=metric_label(m),
               color=SERIES[k % len(SERIES)], yerr=yerr, capsize=2 if np.any(np.isfinite(half)) else 0,
               error_kw={"elinewidth": 0.8})
        summary["metrics"][m] = {"mean": means.tolist(), "ci95_half_width": half.tolist()}
    ax.set_xticks(x, labels, rotation=25 if n_cfg > 3 else 0, ha="right" if n_cfg > 3 else "center")
    ax.set_ylim(0, 1)
    ax.set_ylabel("metric on dev impressions")
    ax.grid(axis="y", color="#EEEEEE", lw=0.5)
    ax.set_axisbelow(True)
    # Outside the axes: AUC bars near 1 would run under a legend drawn inside.
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    seeds = summary["seeds"]
    one = [lab for lab, s in zip(labels, seeds) if s < 2]
    if not one:
        caption = f"Mean over seeds ± t-based 95% CI over per-seed means ({'/'.join(map(str, sorted(set(seeds))))} " \
                  f"seeds per configuration)."
    elif len(one) == n_cfg:
        caption = "1 seed per configuration: no error bars (a 95% CI over seeds needs at least 2 seeds)."
    else:
        caption = (f"Mean over seeds ± t-based 95% CI over per-seed means; no error bar for "
                   f"{', '.join(one)} (1 seed).")
    ax.set_title("Metrics per configuration", loc="left")
    fig.supxlabel(caption, fontsize=SMALL_PT)
    summary["caption"] = caption
    return fig, summary


def _metrics_csv(summary: dict) -> list[dict]:
    return [{"configuration": lab, "metric": m, "mean": v["mean"][i], "ci95_half_width": v["ci95_half_width"][i],
             "seeds": summary["seeds"][i]}
            for m, v in summary["metrics"].items() for i, lab in enumerate(summary["configurations"])]


def weights_figure(bars: list[dict], seeds: dict[str, int] | None = None) -> tuple["Figure", dict]:
    """Stacked bars of the mean modality weight per news category, one panel per weighted fusion (gate, attention).

    `bars` is `Report.bars` ({label, weights: {category: {modality: mean}}, planted}). Returns the figure and a
    summary: panel labels and the categories of each panel.
    """
    seeds = seeds or {}
    n = len(bars)
    fig = _new_figure(DOUBLE_COLUMN_IN, 2.1 * n + 0.4)
    axes = fig.subplots(n, 1, squeeze=False)[:, 0]
    summary: dict[str, Any] = {"panels": [], "categories": {}}
    for ax, b in zip(axes, bars):
        cats = list(b["weights"])
        x = np.arange(len(cats))
        bottom = np.zeros(len(cats))
        for mod in MODALITIES:
            vals = np.array([b["weights"][c].get(mod) for c in cats], dtype=np.float64)
            if not np.any(np.isfinite(vals)):
                continue     # modality not in this configuration
            vals = np.nan_to_num(vals)
            ax.bar(x, vals, 0.7, bottom=bottom, label=MOD_LABELS[mod], color=MOD_COLORS[mod])
            bottom += vals
        ax.set_xticks(x, cats, rotation=30 if len(cats) > 4 else 0, ha="right" if len(cats) > 4 else "center")
        ax.set_ylim(0, 1.05)
        ax.set_ylabel("mean weight")
        ns = seeds.get(b["label"])
        over = f" (mean over {ns} seed{'s' if ns != 1 else ''})" if ns else ""
        ax.set_title(f"{b['label']}{over}", loc="left")
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        summary["panels"].append(b["label"])
        summary["categories"][b["label"]] = cats
    return fig, summary


def _weights_csv(bars: list[dict]) -> list[dict]:
    return [{"configuration": b["label"], "category": c, "modality": mod, "weight": w}
            for b in bars for c, ws in b["weights"].items() for mod, w in ws.items()]


# ------------------------------------------------------------------------------------------------------ writing

# (file stem, one sentence for report.md's link)
CAPTIONS = {
    "forest": "Paired differences with impression- and seed-level 95% intervals (Holm; TOST margin band)",
    "weights_vs_planted": "Learned modality weights against the planted weights per category (Spearman's ρ)",
    "attribution_vs_planted": "AUC lost without each modality against the planted weights per category",
    "cold_warm": "AUC on cold and on warm candidates, with the data baselines and the card's ceilings",
    "metrics": "Metrics per configuration, mean over seeds with 95% CI",
    "weights": "Mean modality weight per news category",
}


def _save(fig: "Figure", stem: Path, csv_rows: list[dict] | None) -> list[Path]:
    out = []
    for fmt in FORMATS:
        target = stem.with_suffix(f".{fmt}")
        # No creation date (PDF) and no software stamp (PNG): the same records give the same bytes on a rerun.
        meta = {"CreationDate": None} if fmt == "pdf" else {"Software": None}
        with atomic.atomic_path(target, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=PNG_DPI, metadata=meta)
        # The layout solved for the first file holds for the next (same size): freezing it saves a third of the time.
        fig.set_layout_engine("none")
        out.append(target)
    if csv_rows is not None:
        atomic.write_text(stem.with_suffix(".csv"), _csv_text(csv_rows))
        out.append(stem.with_suffix(".csv"))
    return out


def figure_names(report: "Report") -> list[str]:
    """The stems of the figures `write_figures` draws for this report, in order (the forest plot first)."""
    data = report.data
    tables = data.get("tables") or {}
    names = []
    if forest_rows(data):
        names.append("forest")
    if _planted_series(tables.get("weights"), "{mod}_mean", ("(cold news)", "(warm news)")):
        names.append("weights_vs_planted")
    if _planted_series(tables.get("attribution"), "drop_{mod}_mean", ("(cold cands)", "(warm cands)")):
        names.append("attribution_vs_planted")
    if cold_warm_rows(data):
        names.append("cold_warm")
    names.append("metrics")
    if report.bars:
        names.append("weights")
    return names


def write_figures(report: "Report", out_dir) -> dict:
    """Write each figure of `figure_names` as figures/<name>.{png,pdf,csv} under `out_dir`.

    Returns {"files": [paths], "names": [stems], and per stem its summary (None for a figure not drawn)}.
    """
    require_matplotlib()
    fig_dir = Path(out_dir) / "figures"
    data = report.data
    tables = data.get("tables") or {}
    names = figure_names(report)
    result: dict[str, Any] = {"files": [], "names": names, "forest": None, "weights_vs_planted": None,
                              "attribution_vs_planted": None, "cold_warm": None, "metrics": None, "weights": None}
    files: list[Path] = []
    with _style():
        for name in names:
            if name == "forest":
                fig, summary, rows = forest_figure(data)
            elif name == "weights_vs_planted":
                series = _planted_series(tables.get("weights"), "{mod}_mean", ("(cold news)", "(warm news)"))
                fig, summary, rows = planted_figure(series, "learned weight", "learned", True,
                                                    ("cold news", "warm news"))
            elif name == "attribution_vs_planted":
                series = _planted_series(tables.get("attribution"), "drop_{mod}_mean",
                                         ("(cold cands)", "(warm cands)"))
                fig, summary, rows = planted_figure(series, "AUC lost without it", "auc_lost", False,
                                                    ("cold candidates", "warm candidates"))
            elif name == "cold_warm":
                fig, summary, rows = cold_warm_figure(data)
            elif name == "metrics":
                fig, summary = metrics_figure(data["groups"])
                rows = _metrics_csv(summary)
            else:
                seeds = {g["label"]: len(g.get("seeds") or []) for g in data["groups"]}
                fig, summary = weights_figure(report.bars, seeds)
                rows = _weights_csv(report.bars)
            files += _save(fig, fig_dir / name, rows)
            result[name] = summary
    result["files"] = [str(p) for p in files]
    return result


def figure_links(names: list[str], prefix: str) -> list[tuple[str, str]]:
    """(caption, path of the PNG) per figure, `prefix` the folder report.md reaches them by ("figures")."""
    return [(CAPTIONS[n], f"{prefix}/{n}.png") for n in names]
