"""Computing the report's tables from groups of runs: every comparison, test and correction; no printing.

Tables (each states its test, level, alpha, n at each level and correction in its notes):
1. fusion: one row per fusion method of the modality set with the most fusion variants (the seed's table 4.4);
   metrics as mean +- std over seeds, best in bold, superscript letters for the methods each row beats significantly
   at impression level after Holm over all pairs of that column, a dagger where the seed-level test disagrees.
2. ablation: every configuration vs `id` alone (the seed's table 6.2): metrics, relative change in %, the bootstrap
   CI of the difference, Holm-adjusted p at both levels.
3. weights: mean modality weight per news category (and cold / warm news) for gate / attention runs, over seeds,
   with the planted weights of a generated dataset's card beside them and their rank correlation.
4. breakdown: AUC per news category and on cold / warm candidates per configuration.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from newsbench import stats
from newsbench.config import MODALITIES, NO_FUSION
from newsbench.errors import InputError
from newsbench.report.card import oracle_metrics, oracle_rows, planted_weights
from newsbench.report.groups import Group, load_groups
from newsbench.report.tables import (DAGGER, METRICS, MOD_LABELS, SEED_TEST, TEST_NAMES, Cell, Report, Table, _fmt,
                                     _fmt_int, _fmt_p, _mean_std, _pm)


class _Builder:
    def __init__(self, groups, alpha, test, metric, card, n_resamples, seed):
        if test not in stats.TESTS:
            raise InputError(f"unknown test {test!r}; choose from {', '.join(stats.TESTS)}")
        try:
            self.metric = stats.metric_name(metric)
        except ValueError as err:
            raise InputError(str(err)) from None
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1: {alpha}")
        self.groups, self.alpha, self.test = groups, alpha, test
        self.card, self.n_resamples, self.seed = card, n_resamples, seed
        self.comparisons: list[dict] = []
        # The fusion table shows no interval; skipping its bootstraps halves the time of a large report.
        self.fusion_ci = False

    def family(self, pairs: list[tuple[Group, Group]], metric: str, table: str, ci: bool = True) -> list[dict]:
        """Compare each pair; Holm within this family at each level. Returns one dict per pair."""
        comps = stats.compare_many([(a.runs, b.runs) for a, b in pairs], metric, n_resamples=self.n_resamples,
                                   seed=self.seed, ci=ci)
        p_imp = [c.impression.p(self.test) for c in comps]
        p_seed = [c.seed.p(SEED_TEST) for c in comps]
        adj_imp, adj_seed = stats.holm(p_imp), stats.holm(p_seed)
        out = []
        for c, pi, ps, ai, as_ in zip(comps, p_imp, p_seed, adj_imp, adj_seed):
            entry = {"table": table, "family_size": len(comps), **c.to_dict(),
                     "impression_test": self.test, "impression_p": pi, "impression_p_holm": float(ai),
                     "seed_test": SEED_TEST, "seed_p": ps, "seed_p_holm": float(as_),
                     "impression_significant": bool(ai < self.alpha),
                     "seed_significant": bool(as_ < self.alpha) if np.isfinite(as_) else None}
            out.append(entry)
        self.comparisons.extend(out)
        return out

    # ---- shared notes ----

    def _n_note(self, entries: list[dict]) -> str:
        n_imp = sorted({e["impression"]["n"] for e in entries})
        n_seed = sorted({e["seed"]["n"] for e in entries})
        imp = str(n_imp[0]) if len(n_imp) == 1 else f"{n_imp[0]}–{n_imp[-1]}"
        seed = str(n_seed[0]) if len(n_seed) == 1 else f"{n_seed[0]}–{n_seed[-1]}"
        plural = "" if n_seed == [1] else "s"
        return f"n = {imp} dev impressions (impression level), n = {seed} seed{plural} (seed level)"

    def _levels_note(self, family: int, what: str) -> str:
        seed_na = " (n/a: 1 seed: no seed-level test)" if any(len(g.seeds) < 2 for g in self.groups) else ""
        return (f"Impression level: {TEST_NAMES[self.test]} on per-impression metrics averaged over each "
                f"configuration's seeds, paired over common dev impressions. Seed level: paired t-test on per-seed "
                f"means, paired by seed{seed_na}. Holm correction over the {family} {what}; alpha = {self.alpha}.")


    # ---- table 1 ----

    def fusion_table(self) -> Table | None:
        fused = [g for g in self.groups if g.fusion != NO_FUSION]
        if not fused:
            return None
        by_mods: dict[tuple, list[Group]] = {}
        for g in fused:
            by_mods.setdefault(g.modalities, []).append(g)
        mods = max(by_mods, key=lambda m: (len(by_mods[m]), len(m)))
        rows_g = by_mods[mods]
        letters = [chr(ord("a") + i) for i in range(len(rows_g))]
        pairs = [(rows_g[i], rows_g[j]) for i in range(len(rows_g)) for j in range(i + 1, len(rows_g))]
        sig: dict[str, list[dict]] = {m: self.family(pairs, m, "fusion", ci=self.fusion_ci) if pairs else []
                                      for m in METRICS}
        header = ["Method"] + [stats.METRIC_LABELS[m] for m in METRICS] + [
            "Fusion params", "Total params", "FLOPs/news", "s/epoch", "Seeds"]
        means = {m: [np.nanmean(g.values(("metrics", m))) if len(g.records) else math.nan for g in rows_g]
                 for m in METRICS}
        rows, recs = [], []
        for i, g in enumerate(rows_g):
            row = [Cell(f"({letters[i]}) {g.fusion}")]
            rec = {"method": g.fusion, "letter": letters[i], "label": g.label, "seeds": len(g.seeds)}
            for m in METRICS:
                vals = g.values(("metrics", m))
                wins, disagree = [], False
                for (ga, gb), e in zip(pairs, sig[m]):
                    if g not in (ga, gb):
                        continue
                    other = rows_g.index(gb if g is ga else ga)
                    diff = e["impression"]["diff"] if g is ga else -e["impression"]["diff"]
                    if e["impression_significant"] and diff > 0:
                        wins.append(letters[other])
                    # The mark goes on the better row of a pair whose two levels decide differently.
                    if diff > 0 and e["seed_significant"] is not None:
                        seed_diff = e["seed"]["diff"] if g is ga else -e["seed"]["diff"]
                        imp_win = e["impression_significant"]
                        seed_win = e["seed_significant"] and seed_diff > 0
                        if imp_win != seed_win:
                            disagree = True
                best = np.nanmax(means[m]) if np.any(np.isfinite(means[m])) else math.nan
                row.append(Cell(_pm(vals), bold=bool(means[m][i] == best), sup="".join(sorted(wins)),
                                mark=DAGGER if disagree else ""))
                mu, sd = _mean_std(vals)
                rec.update({f"{m}_mean": mu, f"{m}_std": sd, f"{m}_beats": "".join(sorted(wins)),
                            f"{m}_seed_disagrees": disagree})
            pf, pt = g.values(("params", "fusion")), g.values(("params", "total"))
            fl, se = g.values(("flops_per_news",)), g.values(("timings", "seconds_per_epoch"))
            row += [Cell(_fmt_int(np.nanmean(pf) if np.any(np.isfinite(pf)) else math.nan)),
                    Cell(_fmt_int(np.nanmean(pt) if np.any(np.isfinite(pt)) else math.nan)),
                    Cell(_fmt_int(np.nanmean(fl) if np.any(np.isfinite(fl)) else math.nan)),
                    Cell(_pm(se, 2)), Cell(str(len(g.seeds)))]
            mu, sd = _mean_std(se)
            rec.update({"params_fusion": _first(pf), "params_total": _first(pt), "flops_per_news": _first(fl),
                        "seconds_per_epoch_mean": mu, "seconds_per_epoch_std": sd})
            rows.append(row)
            recs.append(rec)
        notes = [f"Fusion of {'+'.join(mods)}; mean ± sample std over seeds; best mean in bold."]
        if pairs:
            all_entries = [e for m in METRICS for e in sig[m]]
            notes += [
                f"Superscript letters: the row is significantly better than the lettered methods at impression "
                f"level (Holm-adjusted p < {self.alpha}). {DAGGER}: for at least one pair with this row ahead, the "
                f"seed-level paired t-test (Holm over the same family) decides differently.",
                self._levels_note(len(pairs), "pairwise comparison" + ("s" if len(pairs) > 1 else "")
                                 + " of each metric column"),
                self._n_note(all_entries) + ".",
            ]
        return Table("fusion", "Table 1. Fusion methods compared", header, rows, notes, recs)

    # ---- table 2 ----

    def ablation_table(self) -> Table:
        base = next((g for g in self.groups if g.modalities == ("id",)), None)
        base_note = "`id` alone"
        if base is None:
            base = self.groups[0]
            base_note = f"{base.label} (no `id`-only runs)"
        others = [g for g in self.groups if g is not base]
        m = self.metric
        entries = self.family([(g, base) for g in others], m, "ablation") if others else []
        ml = stats.METRIC_LABELS[m]
        header = (["Configuration"] + [stats.METRIC_LABELS[x] for x in METRICS]
                  + [f"Δ{ml} vs base (%)", f"95% CI Δ{ml} (impr.)", f"p impr. (Holm)", f"p seed (Holm)", "Seeds"])
        means = {x: [np.nanmean(g.values(("metrics", x))) for g in self.groups] for x in METRICS}
        base_means = {x: float(np.nanmean(base.values(("metrics", x)))) for x in METRICS}
        rows, recs = [], []
        for gi, g in enumerate(self.groups):
            row = [Cell(g.label)]
            rec = {"configuration": g.label, "seeds": len(g.seeds), "baseline": g is base}
            for x in METRICS:
                vals = g.values(("metrics", x))
                finite = [v for v in means[x] if np.isfinite(v)]
                row.append(Cell(_pm(vals), bold=bool(finite and means[x][gi] == max(finite))))
                mu, sd = _mean_std(vals)
                rel = (mu - base_means[x]) / base_means[x] * 100 if base_means[x] else math.nan
                rec.update({f"{x}_mean": mu, f"{x}_std": sd, f"{x}_rel_change_pct": rel})
            if g is base:
                row += [Cell("baseline"), Cell("—"), Cell("—"), Cell("—")]
                rec.update({"ci_low": None, "ci_high": None, "p_impression_holm": None, "p_seed_holm": None})
            else:
                e = entries[others.index(g)]
                imp, sd_ = e["impression"], e["seed"]
                rel = rec[f"{m}_rel_change_pct"]
                row += [Cell(f"{rel:+.2f}" if np.isfinite(rel) else "n/a"),
                        Cell(f"[{imp['ci_low']:+.4f}, {imp['ci_high']:+.4f}]" if np.isfinite(imp["ci_low"])
                             else "n/a"),
                        Cell(_fmt_p(e["impression_p_holm"]), bold=e["impression_significant"]),
                        Cell(_fmt_p(e["seed_p_holm"]) if sd_["n"] >= 2 else sd_["note"],
                             bold=bool(e["seed_significant"]))]
                rec.update({"diff_impression": imp["diff"], "ci_low": imp["ci_low"], "ci_high": imp["ci_high"],
                            "dz_impression": imp["dz"], "n_impressions": imp["n"], "n_seeds": sd_["n"],
                            "p_impression": e["impression_p"], "p_impression_holm": e["impression_p_holm"],
                            "p_seed": e["seed_p"], "p_seed_holm": e["seed_p_holm"]})
            row.append(Cell(str(len(g.seeds))))
            rows.append(row)
            recs.append(rec)
        oracle = oracle_rows(self.card)
        for name, om in oracle:
            rows.append([Cell(name)] + [Cell(_fmt(om.get(x))) for x in METRICS]
                        + [Cell("reference")] + [Cell("—")] * 3 + [Cell("—")])
            recs.append({"configuration": name, "seeds": None, "baseline": False,
                         **{f"{x}_mean": om.get(x) for x in METRICS}})
        notes = [f"Baseline: {base_note}. Δ: relative change of the mean {ml} over seeds; CI: bootstrap 95% "
                 f"interval of the mean per-impression difference (configuration − baseline); p-values in bold are "
                 f"below alpha after correction."]
        if entries:
            notes += [self._levels_note(len(entries), ("comparisons" if len(entries) > 1 else "comparison")
                                       + f" with the baseline on {ml}"),
                      self._n_note(entries) + "."]
        if oracle:
            notes.append("Reference rows from the dataset card: the oracle ranks by the generator's true utility, hidden "
                         "user preferences included (a ceiling no model that sees only clicks and content can be "
                         "expected to reach); no test.")
        return Table("ablation", f"Table 2. Ablation against {base_note} ({ml})", header, rows, notes, recs)

    # ---- table 3 ----

    def weights_table(self) -> tuple[Table | None, list[dict]]:
        planted = planted_weights(self.card)
        weighted = [g for g in self.groups if "weights_by_category" in g.runs.runs[g.seeds[0]]
                    and g.records[0].get("weights")]
        if not weighted:
            return None, []
        header = ["Configuration", "Category", "n"] + [MOD_LABELS[m] for m in MODALITIES]
        if planted:
            header += [f"planted {MOD_LABELS[m]}" for m in MODALITIES]
        rows, recs, bars, rho_notes = [], [], [], []
        for g in weighted:
            per_seed: dict[str, list[dict[str, float]]] = {}
            counts: dict[str, list[float]] = {}
            for r in g.records:
                arr = g.runs.runs[r["config"]["seed"]]
                if "weights_by_category" not in arr or not r.get("weights"):
                    continue      # a run without weights (e.g. an older record) adds nothing here
                mods = r["weights"]["modalities"]
                cats = list(r["weights"]["categories"])
                w = np.asarray(arr["weights_by_category"], dtype=np.float64)
                cnt = np.asarray(arr.get("weights_count", np.full(len(cats), np.nan)), dtype=np.float64)
                for ci, c in enumerate(cats):
                    per_seed.setdefault(c, []).append(dict(zip(mods, w[ci])))
                    counts.setdefault(c, []).append(float(cnt[ci]))
                if "weights_cold_warm" in arr:
                    cw = np.asarray(arr["weights_cold_warm"], dtype=np.float64)
                    for ci, c in enumerate(("(cold news)", "(warm news)")):
                        per_seed.setdefault(c, []).append(dict(zip(mods, cw[ci])))
                        counts.setdefault(c, []).append(math.nan)
            learned, planted_pairs = {}, []
            for c in sorted(k for k in per_seed if not k.startswith("(")) + ["(cold news)", "(warm news)"]:
                if c not in per_seed or not any(np.isfinite(v) for d in per_seed[c] for v in d.values()):
                    continue      # no news of this category (or no cold news): nothing was weighted
                row = [Cell(g.label), Cell(c), Cell(_fmt_int(np.nanmean(counts[c]))
                                                    if np.any(np.isfinite(counts[c])) else "")]
                rec = {"configuration": g.label, "category": c,
                       "n": float(np.nanmean(counts[c])) if np.any(np.isfinite(counts[c])) else None}
                learned[c] = {}
                for mod in MODALITIES:
                    vals = np.asarray([d.get(mod, math.nan) for d in per_seed[c]])
                    row.append(Cell(_pm(vals, 3) if np.any(np.isfinite(vals)) else "—"))
                    mu, sd = _mean_std(vals)
                    rec[f"{mod}_mean"], rec[f"{mod}_std"] = mu, sd
                    learned[c][mod] = mu
                if planted:
                    pw = planted.get(c, {})
                    row += [Cell(_fmt(pw.get(mod), 3) if mod in pw else "—") for mod in MODALITIES]
                    for mod in MODALITIES:
                        rec[f"planted_{mod}"] = pw.get(mod)
                        if mod in pw and np.isfinite(learned[c].get(mod, math.nan)):
                            planted_pairs.append((learned[c][mod], pw[mod], mod))
                rows.append(row)
                recs.append(rec)
            bars.append({"label": g.label, "weights": learned,
                         "planted": {c: planted[c] for c in learned if c in planted}})
            if planted_pairs:
                rho = _spearman([p[0] for p in planted_pairs], [p[1] for p in planted_pairs])
                per_mod = {}
                for mod in MODALITIES:
                    xs = [(p[0], p[1]) for p in planted_pairs if p[2] == mod]
                    if len(xs) >= 3:
                        per_mod[mod] = _spearman([x[0] for x in xs], [x[1] for x in xs])
                bars[-1]["spearman"] = {"all": rho, **per_mod}
                parts = ", ".join(f"{MOD_LABELS[k]} {_fmt(v, 2)}" for k, v in per_mod.items())
                rho_notes.append(f"{g.label}: Spearman ρ(learned, planted) = {_fmt(rho, 2)} over "
                                 f"{len(planted_pairs)} category×modality cells; across categories per "
                                 f"modality: {parts or 'n/a'}.")
        notes = ["Mean weight the fusion gives each modality over the news of a category, mean ± sample std over "
                 "seeds (no test: descriptive)."]
        if planted:
            notes.append("Planted: the generator's per-category signal weights from the dataset card (popularity → "
                         "ID, topic → LLM, community → GNN), normalised to sum to 1.")
            notes += rho_notes
        return Table("weights", "Table 3. Modality weights by news category", header, rows, notes, recs), bars

    # ---- table 4 ----

    def breakdown_table(self) -> Table | None:
        cats = sorted({c for g in self.groups for r in g.records
                       for c in (r.get("metrics_by", {}).get("category") or {})})
        has_cw = any("cold" in r.get("metrics_by", {}) for g in self.groups for r in g.records)
        if not cats and not has_cw:
            return None
        cols = ([("cold", ("metrics_by", "cold", "auc"), ("metrics_by", "cold", "n")),
                 ("warm", ("metrics_by", "warm", "auc"), ("metrics_by", "warm", "n"))] if has_cw else [])
        cols += [(c, ("metrics_by", "category", c, "auc"), ("metrics_by", "category", c, "n")) for c in cats]
        # One row per subset (cold, warm, each category), one column per configuration: categories can be many,
        # configurations few, so the table grows downwards.
        header = ["Subset", "n"] + [g.label for g in self.groups]
        rows, recs = [], []
        for name, p, pn in cols:
            vals = [g.values(p) for g in self.groups]
            means = [float(np.nanmean(v)) if np.any(np.isfinite(v)) else math.nan for v in vals]
            finite = [m for m in means if np.isfinite(m)]
            n = [x for g in self.groups for x in g.values(pn) if np.isfinite(x)]
            row = [Cell(name), Cell(_fmt_int(max(n)) if n else "")]
            rec = {"subset": name, "n": max(n) if n else None}
            for g, v, mu in zip(self.groups, vals, means):
                row.append(Cell(_pm(v), bold=bool(finite and mu == max(finite))))
                m_, sd = _mean_std(v)
                rec[f"{g.label}_mean"], rec[f"{g.label}_std"] = m_, sd
            rows.append(row)
            recs.append(rec)
        seeds = sorted({len(g.seeds) for g in self.groups})
        notes = ["AUC of each dev impression restricted to its cold (unseen in train) or warm candidates, and over "
                 "impressions with a click in the category; mean ± sample std over seeds "
                 f"({'/'.join(map(str, seeds))} per configuration); best per row in bold; n: impressions where "
                 "defined; descriptive (no test, no correction)."]
        return Table("breakdown", "Table 4. AUC by news category and on cold / warm candidates", header, rows,
                     notes, recs)

    # ---- protocol ----

    def protocol(self, records: list[dict]) -> tuple[str, dict]:
        ds = records[0]["dataset"]
        seeds = sorted({r["config"]["seed"] for r in records})
        per_group = sorted({len(g.seeds) for g in self.groups})

        def values(path):
            out = set()
            for r in records:
                v = r
                for k in path:
                    v = v.get(k) if isinstance(v, dict) else None
                if v is not None:
                    out.add(str(v))
            return ", ".join(sorted(out)) or "n/a"

        info = {
            "dataset": ds.get("name"), "fingerprint": ds["fingerprint"],
            "n_dev_impressions": ds.get("n_dev_impressions"), "n_train_impressions": ds.get("n_train_impressions"),
            "n_news": ds.get("n_news"), "configurations": len(self.groups), "runs": len(records),
            "seeds": seeds, "seeds_per_configuration": per_group, "epochs": values(("config", "epochs")),
            "device": values(("environment", "device")), "newsbench": values(("environment", "newsbench")),
            "torch": values(("environment", "torch")), "numpy": values(("environment", "numpy")),
            "impression_test": self.test, "seed_test": SEED_TEST, "alpha": self.alpha, "correction": "Holm",
            "n_resamples": self.n_resamples, "resample_seed": self.seed, "metric": self.metric,
        }
        n_dev = info["n_dev_impressions"]
        perm_note = (f" ({self.n_resamples:,} seeded sign flips, exact enumeration when 2^n is fewer)"
                     if self.test == "permutation" else "")
        text = (
            f"Dataset {info['dataset']} (fingerprint {info['fingerprint']}): "
            f"{_fmt_int(n_dev) if n_dev is not None else 'n/a'} dev impressions, "
            f"{_fmt_int(info['n_train_impressions']) if info['n_train_impressions'] is not None else 'n/a'} train "
            f"impressions, {_fmt_int(info['n_news']) if info['n_news'] is not None else 'n/a'} news. "
            f"{len(self.groups)} configurations, {len(records)} runs, seeds {', '.join(map(str, seeds))} "
            f"({'/'.join(map(str, per_group))} per configuration); epochs {info['epochs']}; device {info['device']}; "
            f"newsbench {info['newsbench']}, torch {info['torch']}, numpy {info['numpy']}. "
            f"Metrics follow MIND's official per-impression definitions, averaged over dev impressions. "
            f"Significance at two levels: impression level, {TEST_NAMES[self.test]}"
            f"{perm_note} on per-impression "
            f"metrics averaged over seeds and paired over common dev impressions, with a bootstrap 95% CI of the mean "
            f"difference and Cohen's dz; seed level, paired t-test on per-seed means. Holm correction within each "
            f"table's family of comparisons; alpha = {self.alpha}."
        )
        return text, info


def _first(values: np.ndarray):
    v = values[np.isfinite(values)]
    return float(v[0]) if len(v) else None


def _spearman(x, y) -> float:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(x) < 3 or np.all(x == x[0]) or np.all(y == y[0]):
        return math.nan
    return float(sps.spearmanr(x, y).statistic)


def build_report(results_dir, alpha: float = 0.05, test: str = "permutation", metric: str = "auc",
                 card: dict | None = None, dataset: str | None = None, n_resamples: int = 10_000,
                 seed: int = 0) -> Report:
    """Every table and every number of the report of one results folder (no printing, no writing)."""
    groups, records = load_groups(results_dir, dataset)
    b = _Builder(groups, alpha, test, metric, card, n_resamples, seed)
    protocol, info = b.protocol(records)
    tables = [t for t in (b.fusion_table(), b.ablation_table()) if t is not None]
    weights, bars = b.weights_table()
    if weights is not None:
        tables.append(weights)
    breakdown = b.breakdown_table()
    if breakdown is not None:
        tables.append(breakdown)
    data = {
        "protocol": {"text": protocol, **info},
        "groups": [_group_summary(g) for g in groups],
        "comparisons": b.comparisons,
        "tables": {t.key: {"title": t.title, "notes": t.notes, "rows": t.records} for t in tables},
        "card": {"planted_weights": planted_weights(card), "oracle": oracle_metrics(card),
                 "reference_rows": dict(oracle_rows(card))} if card else None,
        "weights": bars,
    }
    return Report(protocol, tables, _clean(data), bars)


def _group_summary(g: Group) -> dict:
    out = {"label": g.label, "group": g.key, "modalities": list(g.modalities), "fusion": g.fusion,
           "seeds": g.seeds, "run_ids": [r["run_id"] for r in g.records], "metrics": {}}
    for m in METRICS:
        vals = g.values(("metrics", m))
        mu, sd = _mean_std(vals)
        out["metrics"][m] = {"mean": mu, "std": sd, "per_seed": vals.tolist()}
    out["params"] = g.records[0].get("params")
    out["flops_per_news"] = g.records[0].get("flops_per_news")
    mu, sd = _mean_std(g.values(("timings", "seconds_per_epoch")))
    out["seconds_per_epoch"] = {"mean": mu, "std": sd}
    return out


def _clean(obj):
    """JSON-safe: NaN and inf become null, numpy scalars plain Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    return obj
