"""The beyond-accuracy table: diversity, novelty, unexpectedness, calibration and coverage at one k per
configuration, mean ± std over seeds, and each configuration against the ablation's base row (`id` alone by
default) with the ablation's two-level tests, Holm within each metric's family (newsbench.beyond, docs/metrics.md).

The per-impression metrics go through the same paired tests as AUC (impression level clustered by user, seed
level). Coverage is one number per run: its impression level is a paired bootstrap over users (every run of a
dataset stores replicates over the same user draws, so a difference's replicates are the difference of the two
runs' replicates, averaged over seeds), CI and p from their standard error (normal approximation: 200 replicates
resolve no p below 1/200, and a resample with repeated users runs low, so its percentiles are off centre); its
seed level is the paired t-test on per-seed values.

Records made before newsbench recorded these metrics lack their arrays: their configurations are left out and a
note says which; with none at all there is no table, and `stale_note` is the report's one line about it.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from newsbench import beyond, stats
from newsbench.report.tables import SEED_TEST, Cell, Table, _fmt_p, _mean_std, plural

NORMALISED_NAMES = {"ild-cat-norm": "category diversity", "novelty-norm": "novelty",
                    "unexpectedness-norm": "unexpectedness"}
RERUN = ("rerun them into a new results folder (ablate and train reuse recorded runs; `newsbench train --force` "
         "redoes one)")


def has_beyond(g) -> bool:
    return all(beyond.has_arrays(a) for a in g.runs.runs.values())


def stale_note(groups) -> str | None:
    """One line when no configuration's records hold the beyond-accuracy metrics; None otherwise."""
    if any(has_beyond(g) for g in groups):
        return None
    return ("Beyond-accuracy metrics: none, these runs predate them (rerun into a new results folder, or "
            "`newsbench train --force` per run).")


def _fmt(x: float, metric: str) -> str:
    digits = 3 if metric.startswith("novelty") else 4
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _pm(values: np.ndarray, metric: str) -> str:
    mu, sd = _mean_std(values)
    if not math.isfinite(mu):
        return "n/a"
    return _fmt(mu, metric) + (f" ± {_fmt(sd, metric)}" if math.isfinite(sd) else "")


def coverage_family(b, pairs, k: int) -> list[dict]:
    """Coverage@k of each (group, base) pair at both levels, Holm over the pairs at each level."""
    name = f"coverage@{k}"
    out = []
    for g, base in pairs:
        va, vb = _seed_values(g, k), _seed_values(base, k)
        ra, rb = _replicates(g, k), _replicates(base, k)
        diff = float(np.mean(list(va.values())) - np.mean(list(vb.values())))
        d = ra - rb
        se = float(d.std(ddof=1)) if len(d) > 1 else math.nan
        if se > 0:
            p_imp = float(2 * sps.norm.sf(abs(diff) / se))
        else:
            p_imp = 1.0 if diff == 0 else math.nan
        # centred on the observed difference: a resample of users with repeats has fewer distinct users, so the
        # replicates' own coverage runs low; their spread is what they tell
        lo, hi = diff - 1.959963984540054 * se, diff + 1.959963984540054 * se
        seeds = sorted(set(va) & set(vb))
        seed = stats.compare_paired([va[s] for s in seeds], [vb[s] for s in seeds], "seed", b.n_resamples, b.seed)
        out.append({"table": "beyond", "a": g.label, "b": base.label, "metric": name, "diff": diff,
                    "ci_low": float(lo), "ci_high": float(hi), "resamples": len(d), "impression_test":
                    "paired user bootstrap (normal approximation)", "impression_p": p_imp,
                    "seed_test": SEED_TEST, "seed_p": seed.p(SEED_TEST), "seed_n": seed.n, "seed_note": seed.note})
    for level in ("impression", "seed"):
        adj = stats.holm([e[f"{level}_p"] for e in out])
        for e, a in zip(out, adj):
            e[f"{level}_p_holm"] = float(a)
            e["family_size"] = len(out)
    b.comparisons.extend(out)
    return out


def _has(g, name: str) -> bool:
    stem = beyond.array_names(int(name.split("@")[1]))[name]
    return all(stem in a for a in g.runs.runs.values())


def _seed_values(g, k: int) -> dict[int, float]:
    return {s: float(a[f"coverage{k}"][0]) for s, a in g.runs.runs.items()}


def _replicates(g, k: int) -> np.ndarray:
    return np.mean([np.asarray(a[f"coverage{k}_boot"], dtype=np.float64) for a in g.runs.runs.values()], axis=0)


def beyond_table(b, k: int) -> Table | None:
    """The table at cut-off k for the builder `b` (newsbench.report.builder._Builder); None when no configuration
    has the metrics."""
    if k not in beyond.KS:
        raise ValueError(f"k must be one of {beyond.KS}")
    groups = [g for g in b.groups if has_beyond(g)]
    if not groups:
        return None
    missing = [g.label for g in b.groups if not has_beyond(g)]
    base, base_note = b.ablation_base()
    tested = has_beyond(base)
    others = [g for g in groups if g is not base] if tested else []
    header = ["Metric", "Configuration", "Mean ± std", "Δ vs base", "95% CI Δ", "p impr. (Holm)", "p seed (Holm)",
              "Seeds"]
    rows, recs, notes = [], [], []
    sizes = []
    # the normalised values came later than the others (category diversity last): a normalised metric that some
    # configuration's records lack is left out for all
    lacking = {m: [g.label for g in groups if not _has(g, f"{m}@{k}")] for m in beyond.NORMALISED}
    lacking = {m: labels for m, labels in lacking.items() if labels}
    for metric in beyond.NAMES:
        if metric in lacking:
            continue
        name = f"{metric}@{k}"
        if metric == "coverage":
            entries = coverage_family(b, [(g, base) for g in others], k) if others else []
        else:
            entries = b.family([(g, base) for g in others], name, "beyond") if others else []
        if entries:
            sizes.append(len(entries))
        for g in groups:
            vals = (np.array(list(_seed_values(g, k).values())) if metric == "coverage"
                    else np.array(list(g.runs.seed_means(name).values())))
            mu, sd = _mean_std(vals)
            rec = {"metric": name, "configuration": g.label, "k": k, "mean": mu, "std": sd, "seeds": len(g.seeds),
                   "baseline": g is base}
            row = [Cell(f"{beyond.LABELS[metric]}@{k}"), Cell(g.label), Cell(_pm(vals, name))]
            if g is base or g not in others:
                row += [Cell("baseline" if g is base else "—"), Cell("—"), Cell("—"), Cell("—")]
            else:
                e = entries[others.index(g)]
                if metric == "coverage":
                    diff, lo, hi = e["diff"], e["ci_low"], e["ci_high"]
                    p_imp, p_seed, n_seed = e["impression_p_holm"], e["seed_p_holm"], e["seed_n"]
                    seed_note = e["seed_note"]
                else:
                    imp, sd_ = e["impression"], e["seed"]
                    diff, lo, hi = imp["diff"], imp["ci_low"], imp["ci_high"]
                    p_imp, p_seed, n_seed, seed_note = e["impression_p_holm"], e["seed_p_holm"], sd_["n"], sd_["note"]
                row += [Cell(f"{diff:+.4f}" if math.isfinite(diff) else "n/a"),
                        Cell(f"[{lo:+.4f}, {hi:+.4f}]" if math.isfinite(lo) else "n/a"),
                        Cell(_fmt_p(p_imp), bold=bool(p_imp < b.alpha)),
                        Cell(_fmt_p(p_seed) if n_seed >= 2 else seed_note, bold=bool(p_seed < b.alpha))]
                rec.update({"diff": diff, "ci_low": lo, "ci_high": hi, "p_impression_holm": p_imp,
                            "p_seed_holm": p_seed, "n_seeds": n_seed})
            row.append(Cell(str(len(g.seeds))))
            rows.append(row)
            recs.append(rec)
    notes.append(f"Top {k} of each dev impression's ranking (ties: as nDCG@{k}); definitions and references in "
                 f"docs/metrics.md. ILD: intra-list diversity by category and by embedding (hash-encoded titles, "
                 f"the same vectors for every configuration); novelty: mean -log2 of train-click popularity "
                 f"(users, add-one); unexp.: mean cosine distance of the top {k} to the user's history; calib. JS: "
                 f"Jensen-Shannon divergence between the history's and the top {k}'s categories (lower: closer); "
                 f"coverage: share of the distinct dev candidates in any top {k}; norm.: (v - min) / (max - min) over "
                 f"the top-{k} lists the impression's candidates allow (EB-NeRD), n/a with {k} or fewer candidates "
                 f"(for ILD cat.: or no choice of categories).")
    if others:
        notes.append(f"Δ: configuration − {base_note}, mean over seeds. Per-impression metrics: "
                     + b._levels_note(len(others), ("comparisons" if len(others) > 1 else "comparison")
                                      + f" with the base within each metric (a family per metric)")
                     + f" Coverage: impression level a paired bootstrap over users ({beyond.COVERAGE_RESAMPLES} "
                       f"resamples recorded with each run, the same draws for every run): 95% CI and p from the "
                       f"bootstrap standard error (normal approximation); seed level the paired t-test on per-seed "
                       f"values.")
    elif not tested:
        notes.append(f"No tests: the base row ({base_note}) was made before beyond-accuracy metrics were recorded.")
    by_labels: dict[tuple, list[str]] = {}
    for m, labels in lacking.items():
        by_labels.setdefault(tuple(labels), []).append(NORMALISED_NAMES[m])
    for labels, names in by_labels.items():
        what = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        notes.append(f"No normalised {what}: the records of {', '.join(labels)} predate them; {RERUN}.")
    if missing:
        notes.append(f"Left out, made before newsbench recorded these metrics: {', '.join(missing)}; {RERUN}.")
    title = f"Beyond accuracy at k = {k} against {base_note} ({plural(len(groups), 'configuration')})"
    return Table("beyond", title, header, rows, notes, recs)
