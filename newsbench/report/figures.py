"""Figures of a report (`newsbench report --plots`): metrics per configuration and modality weights per category.

Drawn from the numbers `newsbench.report.builder.build_report` already holds (`Report.data["groups"]` for the per-seed
metric means, `Report.bars` for the mean modality weights per category); nothing is re-read or re-tested here.
The only arithmetic is the t-based 95% interval of each configuration's mean over its per-seed means.

matplotlib is an optional extra (`pip install 'newsbench[plots]'`). Figures are built as bare `Figure` objects on
the non-interactive Agg canvas, never through pyplot, so nothing needs a display and no global figure state leaks
between calls. Each figure is written as PNG and PDF under `<out>/figures/`, each file atomically.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats as sps

from newsbench import atomic
from newsbench.config import MODALITIES
from newsbench.errors import InputError
from newsbench.report.tables import METRICS, MOD_LABELS

if TYPE_CHECKING:   # matplotlib is optional: only for type hints here
    from matplotlib.figure import Figure

    from newsbench.report.tables import Report

METRIC_LABELS = {"auc": "AUC", "mrr": "MRR", "ndcg@5": "nDCG@5", "ndcg@10": "nDCG@10"}
# The same hues as the terminal bars of report.terminal._print_bars (magenta / green / blue), in matplotlib's palette.
MOD_COLORS = {"id": "tab:purple", "llm": "tab:green", "gnn": "tab:blue", "rand": "tab:gray"}
FORMATS = ("png", "pdf")
MISSING = "matplotlib is needed for --plots: pip install 'newsbench[plots]'"


def require_matplotlib() -> None:
    """Raise InputError (one line, exit 2 in the CLI) when the optional extra is not installed."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError:
        raise InputError(MISSING) from None


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


def metrics_figure(groups: list[dict]) -> tuple["Figure", dict]:
    """Grouped bars: one group per configuration, one bar per metric, mean over seeds with 95% CI error bars.

    `groups` is `Report.data["groups"]` (label, seeds, metrics[m]["per_seed"]). Returns the figure and a summary:
    configurations in drawing order, n seeds each, and per metric the means and CI half-widths drawn.
    """
    labels = [g["label"] for g in groups]
    n_cfg, n_met = len(groups), len(METRICS)
    fig = _new_figure(max(6.0, 1.1 * n_cfg + 2.5), 4.8)
    ax = fig.add_subplot()
    x = np.arange(n_cfg, dtype=np.float64)
    width = 0.8 / n_met
    summary: dict[str, Any] = {"configurations": labels, "bar_groups": n_cfg,
                               "seeds": [len(g.get("seeds") or []) for g in groups], "metrics": {}}
    for k, m in enumerate(METRICS):
        stats_ = [mean_ci(g["metrics"][m]["per_seed"]) for g in groups]
        means = np.array([s[0] for s in stats_])
        half = np.array([s[1] for s in stats_])
        # NaN half-widths (1 seed) draw no bar; matplotlib wants finite numbers, so 0 with the cap hidden below.
        yerr = np.where(np.isfinite(half), half, 0.0)
        ax.bar(x + (k - (n_met - 1) / 2) * width, np.nan_to_num(means), width, label=METRIC_LABELS[m],
               color=f"C{k}", yerr=yerr, capsize=3 if np.any(np.isfinite(half)) else 0,
               error_kw={"elinewidth": 1})
        summary["metrics"][m] = {"mean": means.tolist(), "ci95_half_width": half.tolist()}
    ax.set_xticks(x, labels, rotation=30 if n_cfg > 3 else 0, ha="right" if n_cfg > 3 else "center")
    ax.set_ylim(0, 1)
    ax.set_ylabel("metric on dev impressions")
    ax.grid(axis="y", alpha=0.3)
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
    fig.supxlabel(caption, fontsize=8)
    summary["caption"] = caption
    return fig, summary


def weights_figure(bars: list[dict], seeds: dict[str, int] | None = None) -> tuple["Figure", dict]:
    """Stacked bars of the mean modality weight per news category, one panel per weighted fusion (gate, attention).

    `bars` is `Report.bars` ({label, weights: {category: {modality: mean}}, planted}). Returns the figure and a
    summary: panel labels and the categories of each panel.
    """
    seeds = seeds or {}
    n = len(bars)
    n_cats = max(len(b["weights"]) for b in bars)
    fig = _new_figure(max(6.0, 0.7 * n_cats + 2.5), 3.2 * n + 0.6)
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
    fig.suptitle("Modality weights per news category", x=0.02, ha="left")
    return fig, summary


def _save(fig: "Figure", stem: Path) -> list[Path]:
    out = []
    for fmt in FORMATS:
        target = stem.with_suffix(f".{fmt}")
        with atomic.atomic_path(target, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, dpi=150)
        out.append(target)
    return out


def write_figures(report: "Report", out_dir) -> dict:
    """Write figures/metrics.{png,pdf} and, when fusion weights exist, figures/weights.{png,pdf} under `out_dir`.

    Returns {"files": [paths], "metrics": summary, "weights": summary or None}.
    """
    require_matplotlib()
    fig_dir = Path(out_dir) / "figures"
    groups = report.data["groups"]
    fig, msum = metrics_figure(groups)
    files = _save(fig, fig_dir / "metrics")
    wsum = None
    if report.bars:
        seeds = {g["label"]: len(g.get("seeds") or []) for g in groups}
        fig, wsum = weights_figure(report.bars, seeds)
        files += _save(fig, fig_dir / "weights")
    return {"files": [str(p) for p in files], "metrics": msum, "weights": wsum}
