"""The terminal's default view of each table: the columns a reader scans first, in one part at 80 columns.

The files (--markdown, --latex, --csv, --out) keep every column and the full notes; this view is drawn from the
same table records (`Table.records`), so it shows no number the files do not have. Per table:

- fusion: method, the report's metric (mean ± std, the letters of the methods it beats), total parameters, s/epoch;
- ablation: configuration, the metric, Δ against the reference row and its 95% CI, both p-values, the verdict;
- placebo: configuration, modality, Δ over the placebo and its CI, both p-values, the verdict;
- weights, attribution: one block per configuration: category, n, the mean per modality, the planted weights;
- breakdown: subset, n, the mean AUC per configuration;
- runs: run id, configuration, the options that vary, seed, the metric, s/epoch;
- tuning (`--tuned`): configuration, one column per tuned parameter, the budget, the metric untuned and tuned, Δ
  and both p-values, with the table's notes whole.

`--metrics` adds those metrics' columns (mean ± std) where a table has metric columns. Best values and significant
p-values are in bold where the console renders bold, and followed by `*` where it cannot (piped, NO_COLOR); the
notes say which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from newsbench import stats
from newsbench.config import MODALITIES
from newsbench.report.tables import CONTROL, DAGGER, MOD_LABELS, Cell, Table

FILES = "every column and the full notes: --markdown, --csv --table NAME or --out DIR"


@dataclass
class Brief:
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str]
    keys: int = 1                                        # leading label columns (left-aligned, may wrap)
    blocks: list[tuple[str, list[list[Cell]]]] = field(default_factory=list)   # titled row blocks, when set


def _num(x) -> float:
    return math.nan if x is None else float(x)


def _ms(mean, std, digits: int = 4) -> str:
    """'0.6429 ± 0.0044'; the mean alone with one seed; 'n/a' when missing."""
    mu, sd = _num(mean), _num(std)
    if not math.isfinite(mu):
        return "n/a"
    return f"{mu:.{digits}f}" + (f" ± {sd:.{digits}f}" if math.isfinite(sd) else "")


def _signed(x, digits: int = 4) -> str:
    v = _num(x)
    return f"{v:+.{digits}f}" if math.isfinite(v) else "n/a"


def _ci(lo, hi) -> str:
    a, b = _num(lo), _num(hi)
    return f"[{a:+.3f}, {b:+.3f}]" if math.isfinite(a) and math.isfinite(b) else "—"


def _p(p) -> str:
    v = _num(p)
    if not math.isfinite(v):
        return "n/a"
    return "<0.001" if v < 1e-3 else f"{v:.3f}"


def _short(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}f}" if math.isfinite(v) else "—"


def _best(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return max(finite) if finite else math.nan


VERDICTS = {"different, within margin": "negligible"}


def _mark(how: str) -> str:
    return "marked *" if how == "stars" else "in bold"


def brief_table(t: Table, metric: str, alpha: float, metrics: tuple[str, ...] | None, how: str,
                width: int = 80) -> Brief | None:
    """The terminal view of `t`; None for a table with no brief view (printed whole). `metric`: the report's
    metric (its tests); `metrics`: the metric columns asked for with --metrics; `how`: "bold" or "stars";
    `width`: the console's (the breakdown numbers its configurations when their names do not fit)."""
    cols = [m for m in (metrics or (metric,))]
    if t.key == "breakdown":
        return _breakdown(t, width, how)
    maker = {"fusion": _fusion, "ablation": _ablation, "placebo": _placebo, "weights": _weights,
             "attribution": _attribution, "runs": _runs, "beyond": _beyond, "tuning": _tuning}.get(t.key)
    return maker(t, metric, alpha, cols, how) if maker else None


def _fusion(t: Table, metric, alpha, cols, how) -> Brief:
    header = ["Method"] + [stats.METRIC_LABELS[m] for m in cols] + ["Params", "s/epoch", "Seeds"]
    best = {m: _best([_num(r.get(f"{m}_mean")) for r in t.records]) for m in cols}
    rows = []
    for r in t.records:
        row = [Cell(f"({r['letter']}) {r['method']}")]
        for m in cols:
            mu = _num(r.get(f"{m}_mean"))
            row.append(Cell(_ms(mu, r.get(f"{m}_std")), bold=mu == best[m], sup=r.get(f"{m}_beats") or "",
                            mark=DAGGER if r.get(f"{m}_seed_disagrees") else ""))
        p = _num(r.get("params_total"))
        row += [Cell(f"{p:,.0f}" if math.isfinite(p) else "n/a"),
                Cell(_ms(r.get("seconds_per_epoch_mean"), r.get("seconds_per_epoch_std"), 2)),
                Cell(str(r.get("seeds", "")))]
        rows.append(row)
    notes = [f"Mean ± std over seeds, best {_mark(how)}; letters: better than those methods at impression level "
             f"(Holm, alpha {alpha}); {DAGGER}: the seed level disagrees. Params: total."]
    return Brief(header, rows, notes)


def _ablation(t: Table, metric, alpha, cols, how) -> Brief:
    ml = stats.METRIC_LABELS[metric]
    header = (["Configuration"] + [stats.METRIC_LABELS[m] for m in cols]
              + [f"Δ{ml}", "95% CI", "p impr.", "p seed", "Verdict"])
    # Best among the trained configurations (the card's ceilings would always win).
    trained = [r for r in t.records if r.get("seeds") and not r.get("reference") and not r.get("comparison")]
    best = {m: _best([_num(r.get(f"{m}_mean")) for r in trained]) for m in cols}
    rows = []
    for r in t.records:
        label = Cell(r["configuration"], mark=CONTROL if r.get("control") else "")
        values = []
        for m in cols:
            mu = _num(r.get(f"{m}_mean"))
            values.append(Cell(_ms(mu, r.get(f"{m}_std")) if "comparison" not in r else "—",
                               bold=r in trained and mu == best[m]))
        if r.get("baseline"):
            tail = [Cell("ref."), Cell("—"), Cell("—"), Cell("—"), Cell("—")]
        elif "verdict" not in r:          # a reference row of the dataset card: no test
            tail = [Cell("—")] * 5
        else:
            p_imp, p_seed = _num(r.get("p_impression_holm")), _num(r.get("p_seed_holm"))
            tail = [Cell(_signed(r.get("diff_impression"), 3)), Cell(_ci(r.get("ci_low"), r.get("ci_high"))),
                    Cell(_p(p_imp), bold=p_imp < alpha), Cell(_p(p_seed), bold=p_seed < alpha),
                    Cell(VERDICTS.get(r["verdict"], r["verdict"]))]
        rows.append([label, *values, *tail])
    base = next((r["configuration"] for r in t.records if r.get("baseline")), "the reference row")
    notes = [f"Mean ± std over seeds, best trained configuration {_mark(how)}. Δ{ml}: mean per-impression "
             f"difference to {base} (ref.), bootstrap 95% CI; p: Holm-adjusted at impression and seed level, those "
             f"below alpha {alpha} {_mark(how)}; verdict at margin ±{_margin(t)} (negligible: different but within "
             f"it)."]
    if any(r.get("control") for r in t.records):
        notes.append(f"{CONTROL}: a control (holds rand, the placebo).")
    if any("verdict" not in r and not r.get("baseline") for r in t.records):
        notes.append("Rows without Δ: the dataset card's references (no test).")
    return Brief(header, rows, notes)


def _margin(t: Table) -> str:
    m = next((r.get("margin") for r in t.records if r.get("margin") is not None), None)
    return f"{m:g}" if m is not None else "?"


def _placebo(t: Table, metric, alpha, cols, how) -> Brief:
    ml = stats.METRIC_LABELS[metric]
    header = ["Configuration", "Mod.", f"Δ{ml}", "95% CI", "p impr.", "p seed", "Verdict"]
    rows = []
    for r in t.records:
        p_imp, p_seed = _num(r.get("p_impression_holm")), _num(r.get("p_seed_holm"))
        rows.append([Cell(r["configuration"]), Cell(MOD_LABELS.get(r["modality"], r["modality"])),
                     Cell(_signed(r.get("diff_impression"), 3)), Cell(_ci(r.get("ci_low"), r.get("ci_high"))),
                     Cell(_p(p_imp), bold=p_imp < alpha), Cell(_p(p_seed), bold=p_seed < alpha),
                     Cell(VERDICTS.get(r["verdict"], r["verdict"]))])
    notes = [f"Δ{ml}: configuration − the same with that modality replaced by rand (the placebo), per impression; "
             f"p below alpha {alpha} {_mark(how)}."]
    return Brief(header, rows, notes, keys=2)


def _blocks(t: Table, cells) -> list[tuple[str, list[list[Cell]]]]:
    """Rows grouped under their configuration, in table order."""
    out: list[tuple[str, list[list[Cell]]]] = []
    for r in t.records:
        if not out or out[-1][0] != r["configuration"]:
            out.append((r["configuration"], []))
        out[-1][1].append(cells(r))
    return out


def _mods(t: Table, prefix: str, suffix: str) -> list[str]:
    return [m for m in MODALITIES if any(math.isfinite(_num(r.get(f"{prefix}{m}{suffix}"))) for r in t.records)]


def _weights(t: Table, metric, alpha, cols, how) -> Brief:
    learned, planted = _mods(t, "", "_mean"), _mods(t, "planted_", "")
    header = ["Category", "n"] + [MOD_LABELS[m] for m in learned] + [f"planted {MOD_LABELS[m]}" for m in planted]

    def cells(r):
        n = _num(r.get("n"))
        return ([Cell(r["category"]), Cell(f"{n:,.0f}" if math.isfinite(n) else "")]
                + [Cell(_short(_num(r.get(f"{m}_mean")))) for m in learned]
                + [Cell(_short(_num(r.get(f"planted_{m}")))) for m in planted])
    notes = ["Mean modality weight over seeds (± std in the files); --table weights adds bars."]
    return Brief(header, [], notes, keys=1, blocks=_blocks(t, cells))


def _attribution(t: Table, metric, alpha, cols, how) -> Brief:
    drops, planted = _mods(t, "drop_", "_mean"), _mods(t, "planted_", "")
    header = (["Category", "n"] + [f"Δ{MOD_LABELS[m]}" for m in drops]
              + [f"planted {MOD_LABELS[m]}" for m in planted])

    def cells(r):
        n = _num(r.get("n"))
        return ([Cell(r["category"]), Cell(f"{n:,.0f}" if math.isfinite(n) else "")]
                + [Cell(_signed(r.get(f"drop_{m}_mean"), 3)) for m in drops]
                + [Cell(_short(_num(r.get(f"planted_{m}")))) for m in planted])
    notes = ["Δ: AUC lost when the modality is replaced by its mean, mean over seeds; descriptive (no test)."]
    return Brief(header, [], notes, keys=1, blocks=_blocks(t, cells))


def _breakdown(t: Table, width: int, how: str) -> Brief:
    labels = t.header[2:]
    subset = max([6] + [len(str(r["subset"])) for r in t.records])
    named = subset + 2 + 5 + sum(2 + max(6, len(lab)) for lab in labels) <= width
    # Too many configurations to name in the header: number them, and name them in a note.
    header = ["Subset", "n", *(labels if named else [f"#{i}" for i in range(1, len(labels) + 1)])]
    rows = []
    for r in t.records:
        means = [_num(r.get(f"{lab}_mean")) for lab in labels]
        best = _best(means)
        n = _num(r.get("n"))
        rows.append([Cell(r["subset"]), Cell(f"{n:,.0f}" if math.isfinite(n) else "")]
                    + [Cell(_short(v, 4), bold=v == best) for v in means])
    notes = [f"Mean AUC over seeds (± std in the files), best per row {_mark(how)}; descriptive."]
    if not named:
        notes.append(", ".join(f"#{i}: {lab}" for i, lab in enumerate(labels, 1)) + ".")
    return Brief(header, rows, notes, keys=2)


BEYOND_SHORT = {"ild-cat": "ILD cat", "ild-emb": "ILD emb", "novelty": "Novelty", "unexpectedness": "Unexp.",
                "calibration": "Calib.", "coverage": "Cover."}


def _beyond(t: Table, metric, alpha, cols, how) -> Brief:
    """One row per configuration, one column per metric: its mean over seeds, marked where the impression-level
    test against the base row is significant (Holm within the metric). The files add std, Δ, CI and both p, and
    the normalised values (three more columns would split the table at 80 columns)."""
    from newsbench.beyond import NORMALISED

    names = [n for n in dict.fromkeys(r["metric"] for r in t.records) if n.split("@")[0] not in NORMALISED]
    configs = list(dict.fromkeys(r["configuration"] for r in t.records))
    by = {(r["metric"], r["configuration"]): r for r in t.records}
    header = ["Configuration"] + [BEYOND_SHORT.get(n.split("@")[0], n) for n in names]
    rows = []
    for c in configs:
        row = [Cell(c)]
        for n in names:
            r = by.get((n, c), {})
            mu = _num(r.get("mean"))
            row.append(Cell(_short(mu, 2 if n.startswith("novelty") else 3),
                            bold=_num(r.get("p_impression_holm")) < alpha))
        rows.append(row)
    k = t.records[0].get("k") if t.records else "?"
    base = next((r["configuration"] for r in t.records if r.get("baseline")), "the base row")
    notes = [f"Mean over seeds, k = {k} (--k 5|10); {_mark(how)}: differs from {base} at impression level (Holm per "
             f"metric, alpha {alpha}); std, Δ, p and the normalised values: --table beyond --markdown."]
    return Brief(header, rows, notes)


PARAM_SHORT = {"news_dropout": "news drop.", "id_dropout": "ID drop.", "user_hidden": "user width"}


def _tuning(t: Table, metric, alpha, cols, how) -> Brief:
    """One column per tuned parameter (the files write them as one `k=v, ...` cell, too wide beside the label at
    80 columns), then the budget and the tuned-against-untuned test; the table's notes whole (they state the
    ordering verdict)."""
    ml = stats.METRIC_LABELS[metric]
    params = list(dict.fromkeys(k[len("param_"):] for r in t.records for k in r if k.startswith("param_")))
    header = (["Configuration"] + [PARAM_SHORT.get(p, p) for p in params]
              + ["Best val.", "Trials", "Wall (s)", f"{ml} untuned", f"{ml} tuned", f"Δ{ml}", "p impr.", "p seed"])
    rows = []
    for r in t.records:
        values = [r.get(f"param_{p}") for p in params]
        p_imp, p_seed = _num(r.get("p_impression_holm")), _num(r.get("p_seed_holm"))
        rows.append([Cell(r["configuration"])]
                    + [Cell("—" if v is None else f"{v:.3g}" if isinstance(v, float) else str(v)) for v in values]
                    + [Cell(_short(_num(r.get("best_validation")), 4)), Cell(str(r.get("trials", ""))),
                       Cell(f"{_num(r.get('wall_seconds')):.0f}"),
                       Cell(_short(_num(r.get(f"dev_{metric}_untuned")), 4)),
                       Cell(_short(_num(r.get(f"dev_{metric}_tuned")), 4)),
                       Cell(_signed(r.get("diff_impression"))), Cell(_p(p_imp), bold=p_imp < alpha),
                       Cell(_p(p_seed), bold=p_seed < alpha)])
    return Brief(header, rows, list(t.notes))


def _runs(t: Table, metric, alpha, cols, how) -> Brief:
    fixed = {"run_id", "configuration", "seed", "seconds_per_epoch", "eval_seconds", "samples_per_second",
             "peak_rss_mb", "params_total"} | set(stats.METRIC_LABELS)
    varying = [h for h in t.records[0] if h not in fixed] if t.records else []
    header = ["Run id", "Configuration", *varying, "Seed"] + [stats.METRIC_LABELS[m] for m in cols] + ["s/epoch"]
    rows = [[Cell(str(r["run_id"])), Cell(r["configuration"]), *[Cell(str(r.get(v))) for v in varying],
             Cell(str(r["seed"]))] + [Cell(_short(_num(r.get(m)), 4)) for m in cols]
            + [Cell(_short(_num(r.get("seconds_per_epoch")), 2))] for r in t.records]
    notes = ["One row per run record; every metric and timing: --csv --table runs."]
    return Brief(header, rows, notes, keys=2)


def brief_protocol(info: dict) -> str:
    """Two or three lines: the data, the runs and the tests (the whole protocol is in the files)."""
    seeds = info.get("seeds") or []
    per = "/".join(map(str, info.get("seeds_per_configuration") or []))
    n_dev = info.get("n_dev_impressions")
    level = "clustered by user" if info.get("clustered_by") else "impressions independent"
    return (f"{info.get('dataset')} ({info.get('fingerprint', '')[:12]}), "
            f"{f'{n_dev:,}' if n_dev is not None else 'n/a'} dev impressions; "
            f"{_count(info.get('configurations'), 'configuration')}, {_count(info.get('runs'), 'run')}, seeds "
            f"{', '.join(map(str, seeds))} ({per} each); epochs {info.get('epochs')}; device {info.get('device')}. "
            f"Tests on {stats.METRIC_LABELS.get(info.get('metric'), info.get('metric'))}: "
            f"{info.get('impression_test')} at impression level ({level}), paired t-test at seed level, Holm, "
            f"alpha {info.get('alpha')}. The full protocol: --markdown or --out."
            + (f"\n{info['beyond_note']}" if info.get("beyond_note") else ""))


def _count(n, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
