"""`newsbench report --tuned`: the report of the tuned runs (each configuration's best settings from `newsbench tune`,
trained with the usual seeds), with the same tables and two-level tests as any report, and a first table of the
tuning: the chosen settings, the best validation value, the budget (trials, wall time) of each configuration, and
whether the ordering of the fusions differs from the untuned runs' (the same configurations with the base
options), with each side's significant pairs.

The tuning is read from RESULTS/tuning.db (Optuna): each study names its configuration, dataset, tuned group (the
runs of the best settings) and untuned group.
"""

from __future__ import annotations

import dataclasses
import math

from newsbench import stats, store
from newsbench.errors import InputError
from newsbench.report.groups import Selection
from newsbench.report.tables import Cell, Report, Table, _fmt, _fmt_p


def tuned_studies(results, fingerprint: str | None = None) -> list[dict]:
    """One dict per configuration tuned in `results` whose tuned runs are recorded there (the latest study of each
    configuration and dataset): label, fingerprint, metric, params, best value, trials, wall seconds, the tuned and
    the untuned group keys. InputError when there is none."""
    from newsbench.tuning import driver
    from newsbench.tuning import study as studies

    db = studies.db_path(results)
    if not db.is_file():
        raise InputError(f"--tuned: no {db}; run `newsbench tune -r {results}` first")
    try:
        import optuna
    except ImportError:
        raise InputError("--tuned reads Optuna studies: pip install 'newsbench[tune]'") from None
    storage = studies.storage(results)
    groups = {(r["group"], r["dataset"]["fingerprint"]) for r in store.load_records(results)}
    latest: dict[tuple, dict] = {}
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=False):
        attrs = summary.user_attrs
        fp, key = attrs.get("fingerprint", ""), attrs.get("tuned_group")
        if key is None or (key, fp) not in groups:
            continue
        if fingerprint and not fp.startswith(fingerprint):
            continue
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        b = studies.best(study)
        done = [t for t in study.get_trials(deepcopy=False) if studies.counted(t)]
        ended = max((t.datetime_complete for t in done if t.datetime_complete), default=None)
        entry = {"label": attrs["label"], "study": summary.study_name, "fingerprint": fp, "metric": attrs["metric"],
                 "params": dict(attrs.get("tuned_params") or (b.params if b else {})),
                 "best_value": b.value if b else None, "trials": len(done),
                 "wall_seconds": driver.trial_seconds(study), "tuned_group": key,
                 "untuned_group": attrs.get("untuned_group"), "ended": ended.isoformat() if ended else "",
                 "validation_days": (attrs.get("split") or {}).get("validation_days", 1)}
        k = (fp, attrs["label"])
        if k not in latest or entry["ended"] > latest[k]["ended"]:
            latest[k] = entry
    found = list(latest.values())
    if not found:
        raise InputError(f"--tuned: no tuned runs in {results} (a tune that has not reached its final runs?); run "
                         f"`newsbench tune -r {results}` to finish it")
    fps = {e["fingerprint"] for e in found}
    if len(fps) > 1:
        raise InputError(f"--tuned: tunings of {len(fps)} datasets in {results}; choose one with -d DATA or "
                         f"--fingerprint FINGERPRINT")
    return found


def build_tuned_report(results, selection: Selection | None = None, **kwargs) -> Report:
    """The report of the tuned runs, its first table the tuning (see the module's docstring)."""
    from newsbench.report.builder import build_report

    sel = selection or Selection()
    found = tuned_studies(results, sel.fingerprint)
    fp = found[0]["fingerprint"]
    tuned_sel = dataclasses.replace(sel, fingerprint=sel.fingerprint or fp,
                                    groups=tuple(e["tuned_group"] for e in found))
    report = build_report(results, selection=tuned_sel, **kwargs)
    present = {r["group"] for r in store.load_records(results) if r["dataset"]["fingerprint"] == fp}
    untuned = tuple(e["untuned_group"] for e in found if e["untuned_group"] in present)
    before, gains = None, {}
    if untuned:
        before = build_report(results, selection=dataclasses.replace(tuned_sel, groups=untuned), **kwargs)
        gains = tuning_gains(results, tuned_sel, [e for e in found if e["untuned_group"] in untuned], **kwargs)
    table = tuning_table(found, report, before, kwargs.get("metric", "auc"), gains)
    tables = [table, *report.tables]
    for i, t in enumerate(tables, 1):
        t.number = i
    data = dict(report.data)
    data["tuning"] = {"configurations": table.records,
                      "ordering": ordering(report, before, kwargs.get("metric", "auc"))}
    data["tables"] = {t.key: {"number": t.number, "title": t.title, "notes": t.notes, "rows": t.records}
                      for t in tables}
    return dataclasses.replace(report, tables=tables, data=data)


def tuning_gains(results, sel: Selection, found: list[dict], alpha: float = 0.05, test: str = "permutation",
                 metric: str = "auc", n_resamples: int = 10_000, seed: int = 0, cluster: str = "user",
                 margin: float | None = None, cache_dir=None, **_) -> dict[str, dict]:
    """Tuned against untuned, per configuration: the report's two-level paired tests on `metric` (impression level
    clustered by user as the report is, seed level paired by seed; Holm over these configurations). By study."""
    from newsbench.report.builder import _Builder
    from newsbench.report.groups import load_groups
    from newsbench.report.tables import MARGIN
    from newsbench.report.users import impression_users

    keys = tuple(k for e in found for k in (e["tuned_group"], e["untuned_group"]))
    groups, records = load_groups(results, None, dataclasses.replace(sel, groups=keys))
    by_key = {g.key: g for g in groups}
    users, note = impression_users(groups, records, cache_dir) if cluster == "user" else (None, "--cluster none")
    b = _Builder(groups, alpha, test, metric, None, n_resamples, seed, cluster,
                 MARGIN if margin is None else margin, users, note)
    entries = b.family([(by_key[e["tuned_group"]], by_key[e["untuned_group"]]) for e in found], b.metric, "tuning")
    return {e["study"]: x for e, x in zip(found, entries)}


def _fusion_rows(report: Report | None) -> list[dict]:
    if report is None:
        return []
    return next((t.records for t in report.tables if t.key == "fusion"), [])


def ordering(tuned: Report, untuned: Report | None, metric: str = "auc") -> dict:
    metric = stats.metric_name(metric)
    """The fusions of the fusion table ranked by mean dev `metric`, tuned and untuned, whether the orders differ
    (over the fusions both have), and each side's significant pairs (impression level, Holm)."""
    def ranked(rows):
        rows = [r for r in rows if r.get(f"{metric}_mean") is not None and math.isfinite(r[f"{metric}_mean"])]
        return [r["method"] for r in sorted(rows, key=lambda r: -r[f"{metric}_mean"])]

    def wins(rows):
        letter = {r["letter"]: r["method"] for r in rows}
        return sorted(f"{r['method']} > {letter[x]}" for r in rows for x in r.get(f"{metric}_beats", ""))

    t_rows, u_rows = _fusion_rows(tuned), _fusion_rows(untuned)
    t_order, u_order = ranked(t_rows), ranked(u_rows)
    common = [m for m in t_order if m in u_order]
    differs = None if len(common) < 2 else [m for m in u_order if m in common] != common
    return {"tuned": t_order, "untuned": u_order, "differs": differs, "tuned_significant": wins(t_rows),
            "untuned_significant": wins(u_rows)}


def ordering_note(o: dict, metric: str) -> str:
    ml = stats.METRIC_LABELS[metric]
    if not o["tuned"]:
        return "No fusion table: the tuned runs have fewer than two fusions of one modality set."
    tuned = " > ".join(o["tuned"])
    if o["differs"] is None:
        return (f"Fusions by mean dev {ml}, tuned: {tuned}. No untuned runs of these fusions (the same options "
                f"without tuning, e.g. from `newsbench ablate`) to compare the ordering with.")
    sig_t = "; ".join(o["tuned_significant"]) or "none"
    sig_u = "; ".join(o["untuned_significant"]) or "none"
    verdict = "differs from" if o["differs"] else "is the same as"
    return (f"Fusions by mean dev {ml}: tuned {tuned}; untuned {' > '.join(o['untuned'])}: the tuned ordering "
            f"{verdict} the untuned one. Significant pairs at impression level (Holm, fusion table): tuned {sig_t}; "
            f"untuned {sig_u}. An order that changes only among pairs that are not significant is no evidence "
            f"that tuning changed the ranking.")


def tuning_table(found: list[dict], report: Report, untuned: Report | None, metric: str,
                 gains: dict[str, dict] | None = None) -> Table:
    metric = stats.metric_name(metric)
    ml = stats.METRIC_LABELS[metric]
    gains = gains or {}
    groups = {g["group"]: g for g in report.data.get("groups", [])}
    before = {g["group"]: g for g in (untuned.data.get("groups", []) if untuned is not None else [])}
    header = ["Configuration", "Chosen settings", "Best validation", "Trials", "Wall time (s)",
              f"Dev {ml} untuned", f"Dev {ml} tuned", f"Δ{ml} tuned − untuned", "p impr. (Holm)", "p seed (Holm)"]
    rows, recs = [], []
    order = [g["group"] for g in report.data.get("groups", [])]
    for e in sorted(found, key=lambda e: order.index(e["tuned_group"]) if e["tuned_group"] in order else 99):
        g, u = groups.get(e["tuned_group"]), before.get(e["untuned_group"])
        dev_t = (g or {}).get("metrics", {}).get(metric, {}).get("mean")
        dev_u = (u or {}).get("metrics", {}).get(metric, {}).get("mean")
        settings = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in e["params"].items())
        gain = gains.get(e["study"])
        test = [Cell("—")] * 3
        if gain is not None:
            test = [Cell(f"{gain['impression']['diff']:+.4f}"),
                    Cell(_fmt_p(gain["impression_p_holm"]), bold=gain["impression_significant"]),
                    Cell(_fmt_p(gain["seed_p_holm"]) if gain["seed"]["n"] >= 2 else gain["seed"]["note"],
                         bold=bool(gain["seed_significant"]))]
        rows.append([Cell(e["label"]), Cell(settings), Cell(f"{_fmt(e['best_value'])} ({e['metric']})"),
                     Cell(str(e["trials"])), Cell(f"{e['wall_seconds']:.0f}"), Cell(_fmt(dev_u)), Cell(_fmt(dev_t)),
                     *test])
        recs.append({"configuration": e["label"], **{f"param_{k}": v for k, v in e["params"].items()},
                     "best_validation": e["best_value"], "validation_metric": e["metric"], "trials": e["trials"],
                     "wall_seconds": e["wall_seconds"], f"dev_{metric}_untuned": dev_u, f"dev_{metric}_tuned": dev_t,
                     "diff_impression": gain["impression"]["diff"] if gain else None,
                     "p_impression_holm": gain["impression_p_holm"] if gain else None,
                     "p_seed_holm": gain["seed_p_holm"] if gain else None,
                     "verdict": gain["verdict"] if gain else None, "study": e["study"]})
    budgets = sorted({e["trials"] for e in found})
    days = sorted({e["validation_days"] for e in found})
    carved = ("a validation day" if days == [1] else f"the last {days[0]} train days" if len(days) == 1
              else f"UNEQUAL validation splits (last {', '.join(map(str, days))} train days)")
    notes = [f"Each configuration tuned by `newsbench tune` (Optuna TPE, studies in tuning.db) with "
             f"{'the same budget of ' + str(budgets[0]) if len(budgets) == 1 else 'UNEQUAL budgets: ' + str(budgets)}"
             f" trial{'s' if budgets != [1] else ''} on {carved} carved from train (dev never read); best "
             f"validation value of each; wall time: the trials' summed seconds (unequal costs show here). The tuned "
             f"rows below are each configuration's best settings trained on the full train split with the usual "
             f"seeds; untuned: the same configuration with the base options, when recorded. Δ and p: tuned against "
             f"untuned on dev {ml}, the report's two-level paired tests (Holm over these configurations).",
             ordering_note(ordering(report, untuned, metric), metric)]
    return Table("tuning", "Tuning: equal budget per configuration", header, rows, notes, recs)
