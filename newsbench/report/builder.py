"""Computing the report's tables from groups of runs: every comparison, test and correction; no printing.

Tables (each states its test, level, alpha, n at each level and correction in its notes):
1. fusion: one row per fusion method of the modality set with the most fusion variants (the seed's table 4.4);
   metrics as mean +- std over seeds, best in bold, superscript letters for the methods each row beats significantly
   at impression level after Holm over all pairs of that column, a dagger where the seed-level test disagrees.
2. ablation: every configuration vs `id` alone, or the --reference row (the seed's table 6.2): metrics, relative
   change in %, the bootstrap CI of the difference, Holm-adjusted p at both levels; then reference rows: the
   card's oracle (no test) and the data-derived baselines recorded in RESULTS/baselines/ (impression-level test
   against the same base, Holm within the baselines); and the thesis' comparison: the best three-modality fusion
   against the best two-modality configuration, with the same two-level tests (a family of its own).
2b. placebo: each modality's gain over its placebo: every configuration with llm or gnn against the same
   configuration with that modality replaced by `rand`, when the results hold it (Holm over those pairs).
3. weights: mean modality weight per news category (and cold / warm news) for gate / attention runs, over seeds,
   with the planted weights of a generated dataset's card beside them and their rank correlation.
3b. attribution: AUC lost per category (and cold / warm candidates) without each modality, for every
   multi-modality run whatever its fusion, beside the planted weights and the card's learnable-ceiling attribution,
   with Spearman's rho across categories per modality.
4. breakdown: AUC per news category and on cold / warm candidates per configuration.
Beside them, `runs_table`: one row per run (--table runs, runs.csv), not part of report.md.
"""

from __future__ import annotations

import json
import math

import numpy as np
from scipy import stats as sps

from newsbench import stats
from newsbench.config import MODALITIES, NO_FUSION, PLACEBO, REAL_MODALITIES
from newsbench.errors import InputError, warn
from newsbench.options import ONLY_WITH, identity_fields
from newsbench.beyond import DEFAULT_K, KS
from newsbench.report.beyond_table import beyond_table, stale_note
from newsbench.report.card import adaptivity_note, oracle_metrics, oracle_rows, planted_weights
from newsbench.report.groups import Group, Selection, load_groups, load_references
from newsbench.report.tables import (CLUSTERS, CONTROL, DAGGER, MARGIN, METRICS, MOD_LABELS, POWER, SEED_TEST,
                                     TEST_NAMES, Cell, Report, Table, _fmt, _fmt_int, _fmt_p, _mean_std, _pm,
                                     metric_names, plural)
from newsbench.report.users import impression_users


class _Builder:
    def __init__(self, groups, alpha, test, metric, card, n_resamples, seed, cluster="user", margin=MARGIN,
                 users=None, users_note="", references=(), metrics=METRICS, reference=None):
        if test not in stats.TESTS:
            raise InputError(f"unknown test {test!r}; choose from {', '.join(stats.TESTS)}")
        if cluster not in CLUSTERS:
            raise InputError(f"unknown --cluster {cluster!r}; choose from {', '.join(CLUSTERS)}")
        if not (margin > 0 and math.isfinite(margin)):
            raise InputError(f"--margin must be a positive number in metric units: {margin}")
        try:
            self.metric = stats.metric_name(metric)
        except ValueError as err:
            raise InputError(str(err)) from None
        if not 0 < alpha < 1:
            raise InputError(f"alpha must be between 0 and 1: {alpha}")
        # The metric columns of the fusion and ablation tables (--metrics); the tests are on `metric` whatever they are.
        self.metrics = metric_names(metrics, "--metrics")
        self.reference = reference
        self.groups, self.alpha, self.test = groups, alpha, test
        self.card, self.n_resamples, self.seed = card, n_resamples, seed
        self.references = list(references)
        self.margin = float(margin)
        # `users` None with cluster "user": the users are unknown, and every note says the level is not clustered.
        self.cluster, self.users, self.users_note = cluster, (users if cluster == "user" else None), users_note
        self.comparisons: list[dict] = []
        # The fusion table shows no interval; skipping its bootstraps halves the time of a large report.
        self.fusion_ci = False

    def family(self, pairs: list[tuple[Group, Group]], metric: str, table: str, ci: bool = True) -> list[dict]:
        """Compare each pair; Holm within this family at each level. Returns one dict per pair."""
        comps = stats.compare_many([(a.runs, b.runs) for a, b in pairs], metric, n_resamples=self.n_resamples,
                                   seed=self.seed, ci=ci, users=self.users, margin=self.margin)
        p_imp = [c.impression.p(self.test) for c in comps]
        p_seed = [c.seed.p(SEED_TEST) for c in comps]
        p_tost = [c.impression.tost.pvalue for c in comps]
        adj_imp, adj_seed, adj_tost = stats.holm(p_imp), stats.holm(p_seed), stats.holm(p_tost)
        out = []
        for c, pi, ps, pt, ai, as_, at in zip(comps, p_imp, p_seed, p_tost, adj_imp, adj_seed, adj_tost):
            different, equivalent = bool(ai < self.alpha), bool(at < self.alpha)
            sd, n = c.seed.sd, c.seed.n
            entry = {"table": table, "family_size": len(comps), **c.to_dict(),
                     "impression_test": self.test, "impression_p": pi, "impression_p_holm": float(ai),
                     "clustered_by": "user" if self.users is not None else None,
                     "seed_test": SEED_TEST, "seed_p": ps, "seed_p_holm": float(as_),
                     "impression_significant": different,
                     "seed_significant": bool(as_ < self.alpha) if np.isfinite(as_) else None,
                     "margin": self.margin, "tost_p": pt, "tost_p_holm": float(at),
                     "verdict": _verdict(different, equivalent, at),
                     "seed_mde": stats.min_detectable_effect(sd, n, self.alpha, POWER),
                     "seeds_needed": stats.pairs_needed(c.seed.diff, sd, self.alpha, POWER)}
            out.append(entry)
        self.comparisons.extend(out)
        return out

    # ---- shared notes ----

    def _n_note(self, entries: list[dict]) -> str:
        def span(values):
            v = sorted(values)
            return _fmt_int(v[0]) if v[0] == v[-1] else f"{_fmt_int(v[0])}–{_fmt_int(v[-1])}"

        n_seed = {e["seed"]["n"] for e in entries}
        users = [e["impression"]["clusters"] for e in entries if e["impression"]["clusters"] is not None]
        from_users = f" from {span(users)} users" if users else ""
        plural = "" if n_seed == {1} else "s"
        return (f"n = {span(e['impression']['n'] for e in entries)} dev impressions{from_users} (impression level), "
                f"n = {span(n_seed)} seed{plural} (seed level)")

    @property
    def clustered(self) -> bool:
        return self.users is not None

    def _impression_method(self) -> str:
        if self.clustered:
            return (f"{TEST_NAMES[self.test]} on each user's summed per-impression differences (users, not "
                    f"impressions, are the independent units)")
        why = "--cluster none" if self.cluster == "none" else f"not clustered by user: {self.users_note}"
        return f"{TEST_NAMES[self.test]} on per-impression differences, each impression independent ({why})"

    def _levels_note(self, family: int, what: str) -> str:
        seed_na = " (n/a: 1 seed: no seed-level test)" if any(len(g.seeds) < 2 for g in self.groups) else ""
        return (f"Impression level: {self._impression_method()}; metrics averaged over each configuration's seeds, "
                f"paired over common dev impressions. Seed level: paired t-test on per-seed means, paired by "
                f"seed{seed_na}. Holm correction over the {family} {what}; alpha = {self.alpha}.")

    def _equivalence_note(self, ml: str) -> str:
        users = " on user sums" if self.clustered else ""
        return (f"Verdict (impression level, margin ±{self.margin:g} {ml}): different = the test above is "
                f"significant; equivalent = TOST (two one-sided t-tests{users}, Holm) puts the difference within the "
                f"margin; undecided = neither (not significant is not equal).")

    def _power_note(self, entries: list[dict], ml: str) -> str:
        """One line: what the seed level could detect, and how many seeds the observed differences would need."""
        n = sorted({e["seed"]["n"] for e in entries})
        mde = np.array([e["seed_mde"] for e in entries], dtype=float)
        need = np.array([e["seeds_needed"] for e in entries], dtype=float)
        head = (f"Seed-level power (paired t-test, {'/'.join(map(str, n))} seeds, alpha {self.alpha} unadjusted, "
                f"{POWER:.0%} power): ")
        if not np.any(np.isfinite(mde)):
            return head + "n/a (needs at least 2 seeds with some spread between them)."
        fin = mde[np.isfinite(mde)]
        det = (f"smallest detectable {ml} difference {_fmt(fin.min())}" if len(fin) == 1 else
               f"smallest detectable {ml} difference {_fmt(fin.min())}–{_fmt(fin.max())} (median "
               f"{_fmt(float(np.median(fin)))}) over {len(fin)} comparisons")
        known = need[~np.isnan(need)]
        if len(known) == 0:
            return head + det + "."
        fmt_n = lambda x: "more than 1,000,000" if not np.isfinite(x) else _fmt_int(x)  # noqa: E731
        seeds = (fmt_n(known[0]) if len(known) == 1 else
                 f"{fmt_n(known.min())} to {fmt_n(known.max())} (median {fmt_n(float(np.median(known)))})")
        return head + det + f"; the observed difference{'s' if len(known) > 1 else ''} would need {seeds} seeds."


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
        sig: dict[str, list[dict]] = {m: self.family(pairs, m, "fusion", ci=self.fusion_ci and m == self.metric)
                                      if pairs else []
                                      for m in dict.fromkeys([*self.metrics, self.metric])}
        header = ["Method"] + [stats.METRIC_LABELS[m] for m in self.metrics] + [
            "Fusion params", "Total params", "FLOPs/news", "s/epoch", "Seeds"]
        means = {m: [np.nanmean(g.values(("metrics", m))) if len(g.records) else math.nan for g in rows_g]
                 for m in self.metrics}
        rows, recs = [], []
        for i, g in enumerate(rows_g):
            row = [Cell(f"({letters[i]}) {g.fusion}")]
            rec = {"method": g.fusion, "letter": letters[i], "label": g.label, "seeds": len(g.seeds)}
            for m in self.metrics:
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
            all_entries = [e for m in self.metrics for e in sig[m]]
            notes += [
                f"Superscript letters: the row is significantly better than the lettered methods at impression "
                f"level (Holm-adjusted p < {self.alpha}). {DAGGER}: for at least one pair with this row ahead, the "
                f"seed-level paired t-test (Holm over the same family) decides differently.",
                self._levels_note(len(pairs), "pairwise comparison" + ("s" if len(pairs) > 1 else "")
                                 + " of each metric column"),
                self._n_note(all_entries) + ".",
            ]
            primary = sig[self.metric]
            ml = stats.METRIC_LABELS[self.metric]
            verdicts = "; ".join(f"({letters[rows_g.index(ga)]}) vs ({letters[rows_g.index(gb)]}) {e['verdict']}"
                                 for (ga, gb), e in zip(pairs, primary))
            notes += [self._equivalence_note(ml) + f" {ml}: {verdicts}.", self._power_note(primary, ml)]
        return Table("fusion", "Fusion methods compared", header, rows, notes, recs)

    # ---- table 2 ----

    def ablation_base(self) -> tuple[Group, str]:
        """The row every Δ and p of the ablation table is against, and how the notes name it: --reference (a
        printed label, or a plain one that names a single row), by default `id` alone, else the first row."""
        if self.reference is None:
            base = next((g for g in self.groups if g.modalities == ("id",)), None)
            if base is not None:
                return base, "`id` alone"
            return self.groups[0], f"{self.groups[0].label} (no `id`-only runs)"
        hits = ([g for g in self.groups if g.label == self.reference]
                or [g for g in self.groups if g.records[0]["label"] == self.reference])
        present = ", ".join(g.label for g in self.groups)
        if not hits:
            raise InputError(f"--reference {self.reference}: no such configuration in the results; present: "
                             f"{present}")
        if len(hits) > 1:
            raise InputError(f"--reference {self.reference}: names {len(hits)} configurations; choose one of "
                             f"{', '.join(g.label for g in hits)}")
        return hits[0], "`id` alone" if hits[0].label == "id" else f"`{hits[0].label}`"

    def ablation_table(self) -> Table:
        base, base_note = self.ablation_base()
        others = [g for g in self.groups if g is not base]
        m = self.metric
        entries = self.family([(g, base) for g in others], m, "ablation") if others else []
        ml = stats.METRIC_LABELS[m]
        header = (["Configuration"] + [stats.METRIC_LABELS[x] for x in self.metrics]
                  + [f"Δ{ml} vs base (%)", f"95% CI Δ{ml} (impr.)", "p impr. (Holm)", "p seed (Holm)",
                     f"Verdict (±{self.margin:g})", "Seeds"])
        # the tested metric's relative change is a column whether or not its means are (--metrics)
        shown = list(dict.fromkeys([*self.metrics, m]))
        means = {x: [np.nanmean(g.values(("metrics", x))) for g in self.groups] for x in shown}
        base_means = {x: float(np.nanmean(base.values(("metrics", x)))) for x in shown}
        rows, recs = [], []
        for gi, g in enumerate(self.groups):
            row = [Cell(g.label, mark=CONTROL if _is_control(g) else "")]
            rec = {"configuration": g.label, "seeds": len(g.seeds), "baseline": g is base, "control": _is_control(g)}
            for x in shown:
                vals = g.values(("metrics", x))
                finite = [v for v in means[x] if np.isfinite(v)]
                if x in self.metrics:
                    row.append(Cell(_pm(vals), bold=bool(finite and means[x][gi] == max(finite))))
                mu, sd = _mean_std(vals)
                rel = (mu - base_means[x]) / base_means[x] * 100 if base_means[x] else math.nan
                rec.update({f"{x}_mean": mu, f"{x}_std": sd, f"{x}_rel_change_pct": rel})
            if g is base:
                row += [Cell("baseline"), Cell("—"), Cell("—"), Cell("—"), Cell("—")]
                rec.update({"ci_low": None, "ci_high": None, "p_impression_holm": None, "p_seed_holm": None,
                            "verdict": None})
            else:
                e = entries[others.index(g)]
                imp, sd_ = e["impression"], e["seed"]
                rel = rec[f"{m}_rel_change_pct"]
                row += [Cell(f"{rel:+.2f}" if np.isfinite(rel) else "n/a"),
                        Cell(f"[{imp['ci_low']:+.4f}, {imp['ci_high']:+.4f}]" if np.isfinite(imp["ci_low"])
                             else "n/a"),
                        Cell(_fmt_p(e["impression_p_holm"]), bold=e["impression_significant"]),
                        Cell(_fmt_p(e["seed_p_holm"]) if sd_["n"] >= 2 else sd_["note"],
                             bold=bool(e["seed_significant"])),
                        Cell(e["verdict"])]
                rec.update({"diff_impression": imp["diff"], "ci_low": imp["ci_low"], "ci_high": imp["ci_high"],
                            "dz_impression": imp["dz"], "n_impressions": imp["n"], "n_users": imp["clusters"],
                            "n_seeds": sd_["n"],
                            "p_impression": e["impression_p"], "p_impression_holm": e["impression_p_holm"],
                            "p_seed": e["seed_p"], "p_seed_holm": e["seed_p_holm"], "margin": self.margin,
                            "p_tost_holm": e["tost_p_holm"], "verdict": e["verdict"],
                            "seed_mde": e["seed_mde"], "seeds_needed": e["seeds_needed"]})
            row.append(Cell(str(len(g.seeds))))
            rows.append(row)
            recs.append(rec)
        thesis = self.thesis_row(rows, recs)
        oracle = oracle_rows(self.card)
        for name, om in oracle:
            rows.append([Cell(name)] + [Cell(_fmt(om.get(x))) for x in self.metrics]
                        + [Cell("reference")] + [Cell("—")] * 4 + [Cell("—")])
            recs.append({"configuration": name, "seeds": None, "baseline": False,
                         **{f"{x}_mean": om.get(x) for x in self.metrics}})
        ref_entries = self.reference_rows(base, rows, recs)
        resampled = "users" if self.clustered else "impressions"
        notes = [f"Baseline: {base_note}. Δ: relative change of the mean {ml} over seeds; CI: bootstrap 95% "
                 f"interval of the mean per-impression difference (configuration − baseline), resampling "
                 f"{resampled}; p-values in bold are below alpha after correction."]
        if entries:
            notes += [self._levels_note(len(entries), ("comparisons" if len(entries) > 1 else "comparison")
                                       + f" with the baseline on {ml}"),
                      self._n_note(entries) + ".", self._equivalence_note(ml), self._power_note(entries, ml)]
        if thesis is not None:
            notes.append(self._thesis_note(thesis, ml))
        if any(_is_control(g) for g in self.groups):
            notes.append(CONTROL_NOTE)
        if oracle and isinstance((self.card or {}).get("reference_dev"), dict):
            notes.append("Reference rows from the dataset card (no test): the oracle ranks by the generator's true "
                         "utility, hidden user preferences and cold popularity included; the learnable ceiling "
                         "knows the item side and estimates preferences from the history alone (what a model that "
                         "sees only clicks and content could reach); floors are training-free history centroids and "
                         "random ranking.")
            voa = adaptivity_note(self.card)
            if voa:
                notes.append(voa)
        elif oracle:
            notes.append("Reference rows from the dataset card: the oracle ranks by the generator's true utility, hidden "
                         "user preferences included (a ceiling no model that sees only clicks and content can be "
                         "expected to reach); no test.")
        if ref_entries:
            notes.append(f"Rows \"baseline: ...\": data-derived scores with no training (`newsbench baselines`: "
                         f"train-click popularity, its last train day, cosine to the history centroid of the text "
                         f"or graph features), each one deterministic scoring of the same dev impressions, tested "
                         f"against {base_note} with the same impression-level test and equivalence margin; Holm "
                         f"over these {len(ref_entries)} comparisons, a family of their own; no seed level (no "
                         f"seeds); n = {'–'.join(str(n) for n in sorted({e['impression']['n'] for e in ref_entries}))}"
                         f" dev impressions.")
        return Table("ablation", f"Ablation against {base_note} ({ml})", header, rows, notes, recs)

    def reference_rows(self, base: Group, rows: list, recs: list) -> list[dict]:
        """Append one row per data-derived baseline to the ablation table, tested against `base`."""
        if not self.references:
            return []
        m = self.metric
        entries = self.family([(r, base) for r in self.references], m, "baselines")
        base_mean = float(np.nanmean(base.values(("metrics", m))))
        for ref, e in zip(self.references, entries):
            met = ref.record["metrics"]
            imp = e["impression"]
            mu = met.get(m)
            rel = (mu - base_mean) / base_mean * 100 if mu is not None and base_mean else math.nan
            rows.append([Cell(ref.label)] + [Cell(_fmt(met.get(x) if met.get(x) is not None else math.nan))
                                             for x in self.metrics]
                        + [Cell(f"{rel:+.2f}" if np.isfinite(rel) else "n/a"),
                           Cell(f"[{imp['ci_low']:+.4f}, {imp['ci_high']:+.4f}]" if np.isfinite(imp["ci_low"])
                                else "n/a"),
                           Cell(_fmt_p(e["impression_p_holm"]), bold=e["impression_significant"]),
                           Cell("—"), Cell(e["verdict"]), Cell("—")])
            recs.append({"configuration": ref.label, "seeds": None, "baseline": False, "reference": "data baseline",
                         "baseline_id": ref.record["baseline_id"],
                         **{f"{x}_mean": met.get(x) for x in self.metrics}, f"{m}_rel_change_pct": rel,
                         "diff_impression": imp["diff"], "ci_low": imp["ci_low"], "ci_high": imp["ci_high"],
                         "dz_impression": imp["dz"], "n_impressions": imp["n"], "n_users": imp["clusters"],
                         "p_impression": e["impression_p"], "p_impression_holm": e["impression_p_holm"],
                         "p_seed_holm": None, "margin": self.margin, "p_tost_holm": e["tost_p_holm"],
                         "verdict": e["verdict"]})
        return entries

    # ---- the thesis' comparison (rows of table 2) ----

    def thesis_pair(self) -> tuple[Group, Group] | None:
        """(best three-modality fusion, best two-modality configuration) by mean of the report's metric: id+llm+gnn
        with any fusion against any pair of real modalities (no placebo); None when either side has no runs."""
        def best(groups):
            means = [np.nanmean(g.values(("metrics", self.metric))) for g in groups]
            ok = [i for i, v in enumerate(means) if np.isfinite(v)]
            return groups[max(ok, key=lambda i: means[i])] if ok else None

        three = best([g for g in self.groups if g.modalities == REAL_MODALITIES])
        two = best([g for g in self.groups if len(g.modalities) == 2 and PLACEBO not in g.modalities])
        return (three, two) if three is not None and two is not None else None

    def thesis_row(self, rows: list, recs: list) -> dict | None:
        """Append the thesis' comparison to the ablation table (same columns: Δ, CI and p of three − two);
        returns its comparison entry, or None when the results lack one side."""
        pair = self.thesis_pair()
        if pair is None:
            return None
        three, two = pair
        m = self.metric
        e = self.family([pair], m, "thesis")[0]
        imp, sd_ = e["impression"], e["seed"]
        mu3, mu2 = (float(np.nanmean(g.values(("metrics", m)))) for g in pair)
        rel = (mu3 - mu2) / mu2 * 100 if mu2 else math.nan
        label = f"thesis: {three.label} vs {two.label}"
        rows.append([Cell(label)] + [Cell("—") for _ in self.metrics]
                    + [Cell(f"{rel:+.2f}" if np.isfinite(rel) else "n/a"),
                       Cell(f"[{imp['ci_low']:+.4f}, {imp['ci_high']:+.4f}]" if np.isfinite(imp["ci_low"])
                            else "n/a"),
                       Cell(_fmt_p(e["impression_p_holm"]), bold=e["impression_significant"]),
                       Cell(_fmt_p(e["seed_p_holm"]) if sd_["n"] >= 2 else sd_["note"],
                            bold=bool(e["seed_significant"])),
                       Cell(e["verdict"]), Cell(str(sd_["n"]))])
        recs.append({"configuration": label, "seeds": sd_["n"], "baseline": False, "control": False,
                     "comparison": "thesis", "three_modality": three.label, "two_modality": two.label,
                     f"{m}_rel_change_pct": rel, "diff_impression": imp["diff"], "ci_low": imp["ci_low"],
                     "ci_high": imp["ci_high"], "dz_impression": imp["dz"], "n_impressions": imp["n"],
                     "n_users": imp["clusters"], "n_seeds": sd_["n"], "diff_seed": sd_["diff"],
                     "p_impression": e["impression_p"], "p_impression_holm": e["impression_p_holm"],
                     "p_seed": e["seed_p"], "p_seed_holm": e["seed_p_holm"], "margin": self.margin,
                     "p_tost_holm": e["tost_p_holm"], "verdict": e["verdict"], "seed_mde": e["seed_mde"],
                     "seeds_needed": e["seeds_needed"]})
        return e

    def _thesis_note(self, e: dict, ml: str) -> str:
        return (f"Row \"thesis\": the thesis' comparison, the best three-modality fusion ({e['a']}, highest mean "
                f"{ml} among id+llm+gnn configurations) against the best two-modality configuration ({e['b']}, "
                f"highest mean {ml} among pairs of id, llm, gnn; no placebo): Δ and CI are {e['a']} − {e['b']}, "
                f"with the same two-level tests as the rows above (impression level "
                f"{'clustered by user' if self.clustered else 'per impression'}, seed level paired t-test), a "
                f"family of its own (Holm over 1 comparison: unadjusted). Both sides are chosen as the best on "
                f"these same dev impressions, which the p-values do not account for.")

    # ---- table 2b ----

    def placebo_pairs(self) -> list[tuple[Group, Group, str]]:
        """(configuration, the same configuration with modality m replaced by rand, m) for every configuration
        without the placebo whose counterpart is in the results: same fusion and hyper-parameters, the options of
        m and of rand aside."""
        controls = {_config_key(g, PLACEBO): g for g in self.groups if PLACEBO in g.modalities}
        pairs = []
        for g in self.groups:
            if PLACEBO in g.modalities:
                continue
            for m in g.modalities:
                if m in ("llm", "gnn"):
                    c = controls.get(_config_key(g, m))
                    if c is not None:
                        pairs.append((g, c, m))
        return pairs

    def placebo_table(self) -> Table | None:
        pairs = self.placebo_pairs()
        if not pairs:
            return None
        m = self.metric
        ml = stats.METRIC_LABELS[m]
        entries = self.family([(g, c) for g, c, _ in pairs], m, "placebo")
        header = ["Configuration", "Modality", "Placebo", ml, f"{ml} placebo", f"Δ{ml} (impr.)",
                  f"95% CI Δ{ml} (impr.)", f"Δ{ml} (seed)", "p impr. (Holm)", "p seed (Holm)",
                  f"Verdict (±{self.margin:g})", "Seeds"]
        rows, recs = [], []
        for (g, c, mod), e in zip(pairs, entries):
            imp, sd_ = e["impression"], e["seed"]
            vg, vc = g.values(("metrics", m)), c.values(("metrics", m))
            rows.append([Cell(g.label), Cell(MOD_LABELS[mod]), Cell(c.label, mark=CONTROL), Cell(_pm(vg)),
                         Cell(_pm(vc)), Cell(f"{imp['diff']:+.4f}" if np.isfinite(imp["diff"]) else "n/a"),
                         Cell(f"[{imp['ci_low']:+.4f}, {imp['ci_high']:+.4f}]" if np.isfinite(imp["ci_low"])
                              else "n/a"),
                         Cell(f"{sd_['diff']:+.4f}" if np.isfinite(sd_["diff"]) else "n/a"),
                         Cell(_fmt_p(e["impression_p_holm"]), bold=e["impression_significant"]),
                         Cell(_fmt_p(e["seed_p_holm"]) if sd_["n"] >= 2 else sd_["note"],
                              bold=bool(e["seed_significant"])),
                         Cell(e["verdict"]), Cell(str(sd_["n"]))])
            mu_g, sd_g = _mean_std(vg)
            mu_c, sd_c = _mean_std(vc)
            recs.append({"configuration": g.label, "modality": mod, "placebo": c.label,
                         f"{m}_mean": mu_g, f"{m}_std": sd_g, f"placebo_{m}_mean": mu_c, f"placebo_{m}_std": sd_c,
                         "diff_impression": imp["diff"], "ci_low": imp["ci_low"], "ci_high": imp["ci_high"],
                         "dz_impression": imp["dz"], "n_impressions": imp["n"], "n_users": imp["clusters"],
                         "diff_seed": sd_["diff"], "n_seeds": sd_["n"], "p_impression": e["impression_p"],
                         "p_impression_holm": e["impression_p_holm"], "p_seed": e["seed_p"],
                         "p_seed_holm": e["seed_p_holm"], "margin": self.margin, "p_tost_holm": e["tost_p_holm"],
                         "verdict": e["verdict"], "seed_mde": e["seed_mde"], "seeds_needed": e["seeds_needed"]})
        notes = [f"A modality is worth what it adds over its placebo: each configuration against the same "
                 f"configuration (fusion and options alike) with that modality replaced by rand, seeded N(0,1) "
                 f"vectors per news of the width --rand-dim; Δ = configuration − placebo, in {ml}. The placebo "
                 f"carries no information about the news, only a fixed vector per news item a model can memorise "
                 f"like an ID, and the same number of inputs and parameters (at equal width).",
                 self._levels_note(len(entries), ("comparisons" if len(entries) > 1 else "comparison")
                                   + f" with a placebo on {ml}"),
                 self._n_note(entries) + ".", self._equivalence_note(ml), self._power_note(entries, ml)]
        return Table("placebo", f"Each modality's gain over its placebo ({ml})", header, rows, notes, recs)

    # ---- table 3 ----

    def weights_table(self) -> tuple[Table | None, list[dict]]:
        planted = planted_weights(self.card)
        weighted = [g for g in self.groups if "weights_by_category" in g.runs.runs[g.seeds[0]]
                    and g.records[0].get("weights")]
        if not weighted:
            return None, []
        # the placebo's column only when some weighted run has it (the planted weights never do)
        mods_w = [m for m in MODALITIES if m != PLACEBO or any(PLACEBO in g.modalities for g in weighted)]
        header = ["Configuration", "Category", "n"] + [MOD_LABELS[m] for m in mods_w]
        if planted:
            header += [f"planted {MOD_LABELS[m]}" for m in mods_w if m != PLACEBO]
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
                for mod in mods_w:
                    vals = np.asarray([d.get(mod, math.nan) for d in per_seed[c]])
                    row.append(Cell(_pm(vals, 3) if np.any(np.isfinite(vals)) else "—"))
                    mu, sd = _mean_std(vals)
                    rec[f"{mod}_mean"], rec[f"{mod}_std"] = mu, sd
                    learned[c][mod] = mu
                if planted:
                    pw = planted.get(c, {})
                    row += [Cell(_fmt(pw.get(mod), 3) if mod in pw else "—") for mod in mods_w if mod != PLACEBO]
                    for mod in REAL_MODALITIES:
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
                for mod in mods_w:
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
        return Table("weights", "Modality weights by news category", header, rows, notes, recs), bars

    # ---- table 3b ----

    def attribution_table(self) -> tuple[Table | None, dict]:
        """AUC lost per news category (and on cold / warm candidates) when one modality is replaced by its mean
        (record["attribution"], newsbench.attribution), beside the planted weights and the learnable ceiling's
        attribution from the card, with Spearman's rho across categories per modality."""
        groups = [g for g in self.groups if any(r.get("attribution") for r in g.records)]
        if not groups:
            return None, {}
        planted = planted_weights(self.card, normalise=False)
        ceiling, ceiling_sides = learnable_ceiling_attribution(self.card)
        mods = [m for m in MODALITIES if any(m in (r.get("attribution") or {}).get("modalities", [])
                                             for g in groups for r in g.records)]
        real = [m for m in mods if m != PLACEBO]      # the card plants signals of the real modalities only
        header = ["Configuration", "Category", "n"] + [f"Δ{MOD_LABELS[m]}" for m in mods]
        if planted:
            header += [f"planted {MOD_LABELS[m]}" for m in real]
        if ceiling:
            header += [f"ceiling Δ{MOD_LABELS[m]}" for m in real]
        rows, recs, rho_notes, summary = [], [], [], {}
        side_names = {"cold": "(cold cands)", "warm": "(warm cands)"}
        for g in groups:
            attrs = [r["attribution"] for r in g.records if r.get("attribution")]
            cats = sorted({c for a in attrs for c in a.get("category", {})})
            learned: dict[str, dict[str, float]] = {}
            for c in cats + ["cold", "warm"]:
                blocks = [a["category"].get(c) if c in cats else a.get(c) for a in attrs]
                ns = [(a["n"]["category"].get(c) if c in cats else a["n"].get(c)) for a in attrs]
                if not any(b for b in blocks):
                    continue
                name = c if c in cats else side_names[c]
                row = [Cell(g.label), Cell(name), Cell(_fmt_int(np.mean([n for n in ns if n is not None])))]
                rec = {"configuration": g.label, "category": name,
                       "n": float(np.mean([n for n in ns if n is not None]))}
                for mod in mods:
                    vals = np.asarray([(b or {}).get(mod) if (b or {}).get(mod) is not None else math.nan
                                       for b in blocks], dtype=np.float64)
                    row.append(Cell(_pm(vals, 3) if np.any(np.isfinite(vals)) else "—"))
                    mu, sd = _mean_std(vals)
                    rec[f"drop_{mod}_mean"], rec[f"drop_{mod}_std"] = mu, sd
                    if c in cats:
                        learned.setdefault(c, {})[mod] = mu
                for ref, sides, prefix in ((planted, {}, "planted"), (ceiling, ceiling_sides, "ceiling")):
                    if ref:
                        rv = ref.get(c, {}) if c in cats else sides.get(c, {})
                        row += [Cell(_fmt(rv.get(mod), 3) if rv.get(mod) is not None else "—") for mod in real]
                        rec.update({f"{prefix}_{mod}": rv.get(mod) for mod in real})
                rows.append(row)
                recs.append(rec)
            if planted:
                rho = per_modality_spearman(learned, planted, real)
                summary[g.label] = {"spearman_vs_planted": rho}
                rho_notes.append(f"{g.label}: Spearman ρ(attribution, planted) across categories: "
                                 + ", ".join(f"{MOD_LABELS[k]} {_fmt(v, 2)}" for k, v in rho.items()) + ".")
        notes = ["Δ: mean over dev impressions of the AUC over a category's candidates (or the cold / warm "
                 "candidates) lost when one modality's projected vector is replaced by its mean over news, in "
                 "histories and candidates alike, the fused vector and scores recomputed through the run's own "
                 "fusion; mean ± sample std over seeds. It applies to every fusion, concat and mean included, and "
                 "unlike a softmax weight it does not depend on the scale of the projected vectors. Negative: the "
                 "model ranks better without that modality's differences. n: impressions with a click and a "
                 "non-click among those candidates. Descriptive (no test)."]
        if planted:
            notes.append("Planted: the card's per-category signal weights (popularity → ID, topic → LLM, community "
                         "→ GNN) as planted, not normalised (a row's sum would reorder a modality across "
                         "categories).")
            notes += rho_notes
        if ceiling:
            rho = per_modality_spearman(ceiling, planted, real) if planted else {}
            summary["learnable ceiling"] = {"spearman_vs_planted": rho}
            notes.append("Ceiling Δ: the same measure on the card's learnable ceiling (each true signal replaced by "
                         "its mean)" + (": Spearman ρ(ceiling, planted) across categories: "
                                        + ", ".join(f"{MOD_LABELS[k]} {_fmt(v, 2)}" for k, v in rho.items())
                                        if rho else "") + ".")
        return Table("attribution", "Modality attribution: AUC lost without each modality", header, rows,
                     notes, recs), summary

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
        return Table("breakdown", "AUC by news category and on cold / warm candidates", header, rows, notes, recs)

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
            "cluster": self.cluster, "clustered_by": "user" if self.clustered else None,
            "users_source": self.users_note, "margin": self.margin, "power": POWER,
            "n_resamples": self.n_resamples, "resample_seed": self.seed, "metric": self.metric,
        }
        n_dev = info["n_dev_impressions"]
        unit = "users" if self.clustered else "impressions"
        perm_note = (f" ({self.n_resamples:,} seeded sign flips, exact enumeration when 2^{unit} is fewer)"
                     if self.test == "permutation" else "")
        text = (
            f"Dataset {info['dataset']} (fingerprint {info['fingerprint']}): "
            f"{_fmt_int(n_dev) if n_dev is not None else 'n/a'} dev impressions, "
            f"{_fmt_int(info['n_train_impressions']) if info['n_train_impressions'] is not None else 'n/a'} train "
            f"impressions, {_fmt_int(info['n_news']) if info['n_news'] is not None else 'n/a'} news. "
            f"{plural(len(self.groups), 'configuration')}, {plural(len(records), 'run')}, seeds {', '.join(map(str, seeds))} "
            f"({'/'.join(map(str, per_group))} per configuration); epochs {info['epochs']}; device {info['device']}; "
            f"newsbench {info['newsbench']}, torch {info['torch']}, numpy {info['numpy']}. "
            f"Metrics follow MIND's official per-impression definitions, averaged over dev impressions. "
            f"Significance at two levels: impression level, {self._impression_method()}{perm_note}, on "
            f"per-impression metrics averaged over seeds and paired over common dev impressions, with a bootstrap "
            f"95% CI of the mean difference (resampling {unit}) and Cohen's dz; seed level, paired t-test on "
            f"per-seed means. Holm correction within each table's family of comparisons; alpha = {self.alpha}. "
            f"Equivalence: TOST within ±{self.margin:g} in metric units (--margin). Power: the smallest difference "
            f"the seed-level t-test detects with {POWER:.0%} probability, and the seeds the observed one would need."
        )
        return text, info


CONTROL_NOTE = (f"{CONTROL}: a control: the configuration holds rand, the placebo modality (seeded N(0,1) vectors per "
                f"news, drawn from the run's seed and the news id: no information about the news). A modality is "
                f"worth what it adds over its placebo; a placebo run below `id` is one whose training lets a "
                f"useless input hurt it.")


def _is_control(g: Group) -> bool:
    return PLACEBO in g.modalities


def _config_key(g: Group, replaced: str) -> str:
    """The configuration of `g` without its seed, modality `replaced` swapped for the placebo and the options of
    both left out: equal for a configuration and its placebo counterpart."""
    cfg = identity_fields(g.records[0]["config"])
    cfg.pop("seed", None)
    for m in (replaced, PLACEBO):
        for f in ONLY_WITH.get(m, ()):
            cfg.pop(f, None)
    mods = {PLACEBO if m == replaced else m for m in g.modalities}
    cfg["modalities"] = [m for m in MODALITIES if m in mods]
    return json.dumps(cfg, sort_keys=True, default=str)


def _verdict(different: bool, equivalent: bool, p_tost_holm: float) -> str:
    if not np.isfinite(p_tost_holm) and not different:
        return "n/a"
    if different and equivalent:
        return "different, within margin"
    return "different" if different else ("equivalent" if equivalent else "undecided")


def learnable_ceiling_attribution(card: dict | None) -> tuple[dict[str, dict[str, float]], dict[str, dict]]:
    """(category -> {modality: AUC lost}, {"cold"|"warm": {modality: AUC lost}}) from
    card["reference_attribution"]["learnable_ceiling"], computed by the generator with newsbench.attribution on its
    learnable ceiling; ({}, {}) when absent."""
    try:
        ceiling = card["reference_attribution"]["learnable_ceiling"]
    except (KeyError, TypeError):
        return {}, {}
    if not isinstance(ceiling, dict):
        return {}, {}

    def drops(d) -> dict[str, float]:
        return {m: float(v) for m, v in d.items() if m in MODALITIES and isinstance(v, (int, float))}

    cats = ceiling.get("category")
    by_cat = {str(c): drops(d) for c, d in cats.items() if isinstance(d, dict)} if isinstance(cats, dict) else {}
    sides = {side: drops(ceiling[side]) for side in ("cold", "warm") if isinstance(ceiling.get(side), dict)}
    return by_cat, sides


def per_modality_spearman(values: dict[str, dict[str, float]], reference: dict[str, dict[str, float]],
                          mods) -> dict[str, float]:
    """Spearman's rho across the categories both hold, per modality (NaN with fewer than 3 such categories)."""
    out = {}
    for mod in mods:
        pairs = [(values[c][mod], reference[c][mod]) for c in values
                 if c in reference and mod in reference[c] and np.isfinite(values[c].get(mod, math.nan))]
        out[mod] = _spearman([p[0] for p in pairs], [p[1] for p in pairs])
    return out


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
                 seed: int = 0, cluster: str = "user", margin: float = MARGIN, cache_dir=None,
                 selection: Selection | None = None, metrics=METRICS, reference: str | None = None,
                 k: int = DEFAULT_K, fusion_ci: bool = False) -> Report:
    """Every table and every number of the report of one results folder (no printing, no writing).

    `cluster`: "user" clusters the impression-level tests by user (the user of each dev impression comes from the
    run records or the dataset, see `newsbench.report.users`; when it cannot be found a warning says so and the
    report states that its impression level is not clustered); "none" treats impressions as independent.
    `margin`: the equivalence margin of the TOST verdicts, in metric units.
    `selection`: which records (dataset fingerprint, configurations, seeds; `dataset` is its fingerprint);
    `metrics`: the metric columns of the fusion and ablation tables; `reference`: the ablation table's base row
    (a configuration label; default `id` alone); `k`: the cut-off of the beyond-accuracy table (5 or 10).
    `fusion_ci`: also bootstrap the impression-level interval of each fusion pair on `metric` (the table shows
    none; the forest plot of --plots draws them).
    """
    if k not in KS:
        raise InputError(f"--k must be one of {', '.join(map(str, KS))}, not {k}")
    if cluster not in CLUSTERS:
        raise InputError(f"unknown --cluster {cluster!r}; choose from {', '.join(CLUSTERS)}")
    groups, records = load_groups(results_dir, dataset, selection)
    users, users_note = (impression_users(groups, records, cache_dir) if cluster == "user"
                         else (None, "--cluster none"))
    if cluster == "user" and users is None:
        warn(f"impression-level tests are not clustered by user: {users_note}")
    references = load_references(results_dir, records[0]["dataset"]["fingerprint"])
    b = _Builder(groups, alpha, test, metric, card, n_resamples, seed, cluster, margin, users, users_note,
                 references, metrics, reference)
    b.fusion_ci = fusion_ci
    protocol, info = b.protocol(records)
    tables = [t for t in (b.fusion_table(), b.ablation_table(), b.placebo_table()) if t is not None]
    weights, bars = b.weights_table()
    if weights is not None:
        tables.append(weights)
    attribution, attribution_summary = b.attribution_table()
    if attribution is not None:
        tables.append(attribution)
    breakdown = b.breakdown_table()
    if breakdown is not None:
        tables.append(breakdown)
    beyond = beyond_table(b, k)        # last: the numbers of the tables before it stay what they were
    if beyond is not None:
        tables.append(beyond)
    stale = stale_note(groups)
    if stale is not None:
        protocol += " " + stale
        info["beyond_note"] = stale
    for i, t in enumerate(tables, 1):
        t.number = i
    data = {
        "protocol": {"text": protocol, **info},
        "groups": [_group_summary(g) for g in groups],
        "comparisons": b.comparisons,
        # the thesis' comparison (best three-modality fusion vs best two-modality configuration), also a row of the
        # ablation table; None when the results lack one side
        "thesis": next((c for c in b.comparisons if c["table"] == "thesis"), None),
        "tables": {t.key: {"number": t.number, "title": t.title, "notes": t.notes, "rows": t.records}
                   for t in tables},
        "card": {"planted_weights": planted_weights(card), "oracle": oracle_metrics(card),
                 "reference_rows": dict(oracle_rows(card)),
                 # the same scorers over only the cold / warm candidates (the cold-warm figure's reference lines)
                 "reference_rows_by": {part: dict(oracle_rows(card, part)) for part in ("cold", "warm")},
                 "value_of_adaptivity": card.get("value_of_adaptivity")} if card else None,
        "weights": bars,
        "attribution": attribution_summary or None,
        "baselines": [r.record for r in references] or None,
    }
    return Report(protocol, tables, _clean(data), bars, runs_table(groups))


def runs_table(groups: list[Group]) -> Table:
    """One row per run record (`--table runs`, runs.csv): run id, configuration as the report labels it, the
    configuration fields that vary between the runs (by their option names), seed, the four metrics and the
    timings. Its records are `newsbench.store.records_frame`'s rows, limited to these runs."""
    from newsbench import store
    from newsbench.report.groups import option_name

    records = [r for g in groups for r in g.records]
    label = {r["run_id"]: g.label for g in groups for r in g.records}
    frame = store.records_frame(records)
    varying = store.varying_fields(records)
    recs = []
    for r in frame.to_dict("records"):
        rec = {"run_id": r["run_id"], "configuration": label[r["run_id"]]}
        rec.update({option_name(f): r[f] for f in varying})
        rec.update({"seed": r["seed"], **{m: r.get(m) for m in METRICS},
                    **{k: r.get(k) for k in ("seconds_per_epoch", "eval_seconds", "samples_per_second",
                                             "peak_rss_mb", "params_total")}})
        recs.append(rec)
    header = list(recs[0]) if recs else ["run_id"]
    rows = [[Cell(_runs_cell(v)) for v in rec.values()] for rec in recs]
    header = [stats.METRIC_LABELS.get(h, h) for h in header]
    notes = ["One row per run record; the configuration fields that differ between these runs by their option "
             "names; metrics on the dev impressions; seconds per training epoch, evaluation seconds."]
    return Table("runs", "Runs", header, rows, notes, recs)


def _runs_cell(v) -> str:
    if isinstance(v, float):
        return _fmt(v) if abs(v) < 10 or not math.isfinite(v) else f"{v:,.1f}"
    return "" if v is None else str(v)


def _group_summary(g: Group) -> dict:
    out = {"label": g.label, "group": g.key, "modalities": list(g.modalities), "fusion": g.fusion,
           "control": _is_control(g),
           "seeds": g.seeds, "run_ids": [r["run_id"] for r in g.records],
           # the `newsbench train` command that makes each run again (records since the shared option table)
           "commands": [r.get("command") for r in g.records], "metrics": {}}
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
