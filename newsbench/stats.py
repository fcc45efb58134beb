"""Paired significance tests, a bootstrap CI, an effect size and Holm's correction, at two levels.

Everything here is a function over numpy arrays of *paired* values (`a[i]` and `b[i]` measure the same impression or
the same seed). Conventions, so that A vs B always mirrors B vs A:
- the difference is `a - b` (positive: A is better, since every MIND metric is "higher is better");
- every test is two-sided, so swapping A and B keeps the p-value and negates the difference, its CI and dz;
- random tests are seeded and draw the same resamples whichever side is A.

`compare(a, b, metric)` runs the whole protocol for two run groups (one configuration over several seeds):
- impression level: each group's per-impression metric is averaged over its seeds, the two groups are paired over
  their common dev impression ids, and impressions where either side is NaN (metric undefined) are dropped;
- seed level: each seed's mean metric, paired by seed; with fewer than 2 common seeds there is no test at all, and
  the result says "n/a: 1 seed" instead of a number.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as sps

TESTS = ("ttest", "wilcoxon", "permutation")
LEVELS = ("impression", "seed")

# Record metric name -> per-impression array name in the run's npz (see newsbench.store).
METRIC_ARRAYS = {"auc": "auc", "mrr": "mrr", "ndcg@5": "ndcg5", "ndcg@10": "ndcg10"}
METRIC_LABELS = {"auc": "AUC", "mrr": "MRR", "ndcg@5": "nDCG@5", "ndcg@10": "nDCG@10"}

# Chunk resampling matrices to about this many elements, so 73,000 impressions x 10,000 resamples never needs
# gigabytes at once.
_CHUNK_ELEMENTS = 2_000_000


def metric_name(name: str) -> str:
    """Canonical record metric name from what a user may type: 'auc', 'MRR', 'ndcg5', 'nDCG@10'."""
    key = name.strip().lower().replace("_", "@")
    if key in METRIC_ARRAYS:
        return key
    for rec, arr in METRIC_ARRAYS.items():
        if key == arr:
            return rec
    raise ValueError(f"unknown metric {name!r}; choose from {', '.join(METRIC_ARRAYS)}")


# --------------------------------------------------------------------------------------------------------------
# One test result


@dataclass
class TestResult:
    """A two-sided paired test: statistic (None when not computed), p-value (NaN when no test), n pairs, note."""

    test: str
    statistic: float | None
    pvalue: float
    n: int
    note: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _paired(a, b) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired arrays must be 1-D and of equal length: {a.shape} vs {b.shape}")
    return a - b


def _constant(d: np.ndarray) -> bool:
    # Equal up to rounding: differences like 0.7 - 0.65 vs 0.75 - 0.7 differ in the last bits, and scipy would
    # then report a huge t from a variance that is pure rounding noise.
    return bool(np.ptp(d) <= 1e-12 * max(float(np.abs(d).max()), 1e-300))


def paired_ttest(a, b) -> TestResult:
    """Paired Student t-test (scipy.stats.ttest_rel), with the degenerate cases stated instead of NaN."""
    d = _paired(a, b)
    n = len(d)
    if n < 2:
        return TestResult("ttest", None, math.nan, n, f"n/a: {n} pair{'s' if n != 1 else ''}")
    if _constant(d):
        # Zero variance: scipy divides 0 by 0. Identical systems are not different; a constant shift is.
        if not np.any(d):
            return TestResult("ttest", 0.0, 1.0, n, "all differences zero")
        return TestResult("ttest", math.copysign(math.inf, d.mean()), 0.0, n, "constant non-zero difference")
    res = sps.ttest_rel(a, b)
    return TestResult("ttest", float(res.statistic), float(res.pvalue), n)


def wilcoxon_test(a, b) -> TestResult:
    """Wilcoxon signed-rank test (scipy.stats.wilcoxon, zero differences dropped as Wilcoxon did)."""
    d = _paired(a, b)
    n = len(d)
    nz = int(np.count_nonzero(d))
    if nz == 0:
        return TestResult("wilcoxon", 0.0, 1.0, n, "all differences zero")
    if nz < 2:
        return TestResult("wilcoxon", None, math.nan, n, f"n/a: {nz} non-zero difference")
    with warnings.catch_warnings():
        # scipy warns when it falls back to the normal approximation because of ties or zeros; that is fine.
        warnings.simplefilter("ignore", UserWarning)
        res = sps.wilcoxon(d)
    note = "" if nz == n else f"{n - nz} zero differences dropped"
    return TestResult("wilcoxon", float(res.statistic), float(res.pvalue), n, note)


def _random_bits(rng: np.random.Generator, m: int, n: int) -> np.ndarray:
    # Random bytes unpacked to 0/1 are several times cheaper than comparing uniform floats with 0.5.
    packed = rng.integers(0, 256, size=(m, (n + 7) // 8), dtype=np.uint8)
    return np.unpackbits(packed, axis=1, count=n).astype(np.float64)


def permutation_tests(diffs, n_resamples: int = 10_000, seed: int = 0, exact: bool | None = None) -> list[TestResult]:
    """Paired randomisation (sign-flip) tests of mean(d) = 0, two-sided, for each column of `diffs` (n x k).

    Under H0 each difference is as likely to have either sign, so the statistic |sum(s * d)| is compared with its
    value under random sign vectors s. Monte Carlo: p = (count + 1) / (n_resamples + 1), where count is the number of
    random sign vectors at least as extreme (the +1 counts the observed data, so p is never 0). Exact: when
    2**n <= n_resamples (or `exact=True`), every sign vector is enumerated and p = count / 2**n.
    All columns share the same sign vectors, which depend only on (n, n_resamples, seed): a column gives the same p
    alone or in a batch, and d and -d (A vs B, B vs A) give the same p.
    """
    D = np.asarray(diffs, dtype=np.float64)
    if D.ndim == 1:
        D = D[:, None]
    n, k = D.shape
    if n == 0:
        return [TestResult("permutation", None, math.nan, 0, "n/a: 0 pairs") for _ in range(k)]
    # A sign vector s = 2*bits - 1 gives sum(s*d) = 2*(bits @ d) - sum(d): one matrix product per chunk.
    total = D.sum(axis=0)
    obs = np.abs(total)
    # Relative tolerance: sign vectors giving the same |sum| up to rounding (e.g. the all-flipped one) must count.
    tol = 1e-9 * np.maximum(np.abs(D).sum(axis=0), 1e-300)
    counts = np.zeros(k, dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // n)
    if exact is None:
        exact = n <= 30 and 2**n <= n_resamples
    if exact:
        if n > 24:
            raise ValueError(f"exact sign-flip enumeration of n={n} pairs is too large (2**{n})")
        draws = 2**n
        for start in range(0, draws, step):
            codes = np.arange(start, min(start + step, draws), dtype=np.int64)
            bits = ((codes[:, None] >> np.arange(n)) & 1).astype(np.float64)
            counts += np.count_nonzero(np.abs(2.0 * (bits @ D) - total) >= obs - tol, axis=0)
        pvals, note = counts / draws, f"exact over 2^{n} sign vectors"
    else:
        rng = np.random.default_rng(seed)
        for start in range(0, n_resamples, step):
            bits = _random_bits(rng, min(step, n_resamples - start), n)
            counts += np.count_nonzero(np.abs(2.0 * (bits @ D) - total) >= obs - tol, axis=0)
        pvals, note = (counts + 1) / (n_resamples + 1), f"{n_resamples} random sign vectors"
    out = []
    for j in range(k):
        if not np.any(D[:, j]):
            out.append(TestResult("permutation", 0.0, 1.0, n, "all differences zero"))
        else:
            out.append(TestResult("permutation", float(D[:, j].mean()), float(pvals[j]), n, note))
    return out


def permutation_test(a, b, n_resamples: int = 10_000, seed: int = 0, exact: bool | None = None) -> TestResult:
    """Paired randomisation (sign-flip) test of mean(a - b) = 0, two-sided; see `permutation_tests`."""
    return permutation_tests(_paired(a, b), n_resamples, seed, exact)[0]


def run_test(test: str, a, b, n_resamples: int = 10_000, seed: int = 0) -> TestResult:
    """Dispatch by name: 'ttest', 'wilcoxon' or 'permutation'."""
    if test == "ttest":
        return paired_ttest(a, b)
    if test == "wilcoxon":
        return wilcoxon_test(a, b)
    if test == "permutation":
        return permutation_test(a, b, n_resamples=n_resamples, seed=seed)
    raise ValueError(f"unknown test {test!r}; choose from {', '.join(TESTS)}")


# --------------------------------------------------------------------------------------------------------------
# Effect size and interval


def bootstrap_cis(diffs, confidence: float = 0.95, n_resamples: int = 10_000,
                  seed: int = 0) -> list[tuple[float, float]]:
    """Percentile bootstrap CI of mean(d) for each column of `diffs` (n x k): resample pairs with replacement.

    Seeded and vectorised; the resampled indices depend only on (n, n_resamples, seed), so a column gets the same
    interval alone or in a batch, and -d gets exactly the negated interval. Fewer than 2 pairs: (nan, nan).
    """
    D = np.asarray(diffs, dtype=np.float64)
    if D.ndim == 1:
        D = D[:, None]
    n, k = D.shape
    if n < 2:
        return [(math.nan, math.nan)] * k
    rng = np.random.default_rng(seed)
    means = np.empty((n_resamples, k))
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, step):
        m = min(step, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n), dtype=np.int32 if n < 2**31 else np.int64)
        for j in range(k):
            means[start:start + m, j] = D[:, j][idx].mean(axis=1)
    # Symmetric order statistics (the k-th from each end) keep the interval exactly mirrored under d -> -d;
    # interpolating quantiles would not.
    means.sort(axis=0)
    r = int(math.floor((1.0 - confidence) / 2 * n_resamples))
    return [(float(means[r, j]), float(means[n_resamples - 1 - r, j])) for j in range(k)]


def bootstrap_ci(a, b, confidence: float = 0.95, n_resamples: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap CI of mean(a - b); see `bootstrap_cis`."""
    return bootstrap_cis(_paired(a, b), confidence, n_resamples, seed)[0]


def cohens_dz(a, b) -> float:
    """Cohen's dz for paired data: mean(a - b) / sd(a - b) (sd with ddof=1). NaN when undefined."""
    d = _paired(a, b)
    if len(d) < 2:
        return math.nan
    sd = float(d.std(ddof=1))
    if sd == 0 or _constant(d):
        return math.nan
    return float(d.mean()) / sd


# --------------------------------------------------------------------------------------------------------------
# Multiple comparisons


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values; NaN entries stay NaN and do not count in the family.

    Sorted ascending p_(1) <= ... <= p_(m): adjusted p_(i) = max over j <= i of min(1, (m - j + 1) * p_(j)).
    Rejecting where adjusted p < alpha is Holm's procedure at level alpha (family-wise error control).
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out[order] = np.maximum.accumulate(scaled)
    return out


# --------------------------------------------------------------------------------------------------------------
# Run groups and the two-level comparison


@dataclass
class RunGroup:
    """One configuration over several seeds: seed -> that run's arrays (impression_id + per-impression metrics)."""

    label: str
    runs: dict[int, dict[str, np.ndarray]]

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs)

    def impression_means(self, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """(impression ids, metric averaged over seeds) on the impressions every seed evaluated, sorted by id.

        NaN (undefined) values are skipped in the average; an impression NaN in every seed stays NaN.
        """
        key = METRIC_ARRAYS[metric_name(metric)]
        seeds = self.seeds
        ids = None
        for s in seeds:
            ids = self.runs[s]["impression_id"] if ids is None else np.intersect1d(ids, self.runs[s]["impression_id"])
        ids = np.unique(ids)
        stack = np.empty((len(seeds), len(ids)))
        for row, s in enumerate(seeds):
            arr = self.runs[s]
            order = np.argsort(arr["impression_id"], kind="stable")
            pos = order[np.searchsorted(arr["impression_id"], ids, sorter=order)]
            stack[row] = np.asarray(arr[key], dtype=np.float64)[pos]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)   # all-NaN columns: NaN is the right answer
            return ids, np.nanmean(stack, axis=0)

    def seed_means(self, metric: str) -> dict[int, float]:
        """Seed -> mean of the per-impression metric over the impressions where it is defined."""
        key = METRIC_ARRAYS[metric_name(metric)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return {s: float(np.nanmean(np.asarray(self.runs[s][key], dtype=np.float64))) for s in self.seeds}


@dataclass
class LevelResult:
    """A vs B at one level: n pairs, means, the mean difference a - b with its CI, dz, and every test."""

    level: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    dz: float
    tests: dict[str, TestResult] = field(default_factory=dict)
    note: str = ""

    def p(self, test: str) -> float:
        t = self.tests.get(test)
        return t.pvalue if t is not None else math.nan

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tests"] = {k: v.to_dict() for k, v in self.tests.items()}
        return d


@dataclass
class Comparison:
    a: str
    b: str
    metric: str
    impression: LevelResult
    seed: LevelResult

    def level(self, level: str) -> LevelResult:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        return self.impression if level == "impression" else self.seed

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "metric": self.metric,
                "impression": self.impression.to_dict(), "seed": self.seed.to_dict()}


def compare_paired(a, b, level: str, n_resamples: int = 10_000, seed: int = 0, confidence: float = 0.95,
                   ci: bool = True, permutation: TestResult | None = None,
                   interval: tuple[float, float] | None = None) -> LevelResult:
    """Every test, the bootstrap CI (unless ci=False) and dz on already-paired arrays.

    `permutation` and `interval` pass results computed in a batch (see `compare_many`) instead of recomputing.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = len(a)
    if n < 2:
        note = f"n/a: {n} seed" if level == "seed" else f"n/a: {n} impression"
        note += "" if n == 1 else "s"
        mean_a = float(a.mean()) if n else math.nan
        mean_b = float(b.mean()) if n else math.nan
        return LevelResult(level, n, mean_a, mean_b, mean_a - mean_b, math.nan, math.nan, math.nan,
                           {t: TestResult(t, None, math.nan, n, note) for t in TESTS}, note)
    if interval is None:
        interval = bootstrap_ci(a, b, confidence, n_resamples, seed) if ci else (math.nan, math.nan)
    tests = {
        "ttest": paired_ttest(a, b),
        "wilcoxon": wilcoxon_test(a, b),
        "permutation": permutation or permutation_test(a, b, n_resamples, seed),
    }
    return LevelResult(level, n, float(a.mean()), float(b.mean()), float((a - b).mean()), interval[0], interval[1],
                       cohens_dz(a, b), tests)


def _impression_pairs(a: RunGroup, b: RunGroup, metric: str) -> tuple[np.ndarray, np.ndarray, int]:
    ids_a, va = a.impression_means(metric)
    ids_b, vb = b.impression_means(metric)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    xa, xb = va[ia], vb[ib]
    keep = ~(np.isnan(xa) | np.isnan(xb))          # pairwise: drop impressions undefined on either side
    return xa[keep], xb[keep], len(common) - int(keep.sum())


def compare_many(pairs: list[tuple[RunGroup, RunGroup]], metric: str = "auc", n_resamples: int = 10_000,
                 seed: int = 0, confidence: float = 0.95, ci: bool = True) -> list[Comparison]:
    """`compare` for several pairs at once: pairs with the same number of impressions share one batch of sign
    vectors and bootstrap indices (identical results to one-by-one calls, a fraction of the time)."""
    metric = metric_name(metric)
    prepared = [_impression_pairs(a, b, metric) for a, b in pairs]
    perm: dict[int, TestResult] = {}
    intervals: dict[int, tuple[float, float]] = {}
    by_n: dict[int, list[int]] = {}
    for i, (xa, _, _) in enumerate(prepared):
        by_n.setdefault(len(xa), []).append(i)
    for n, idxs in by_n.items():
        if n < 2:
            continue
        D = np.stack([prepared[i][0] - prepared[i][1] for i in idxs], axis=1)
        for i, r in zip(idxs, permutation_tests(D, n_resamples, seed)):
            perm[i] = r
        if ci:
            for i, r in zip(idxs, bootstrap_cis(D, confidence, n_resamples, seed)):
                intervals[i] = r
    out = []
    for i, ((a, b), (xa, xb, dropped)) in enumerate(zip(pairs, prepared)):
        imp = compare_paired(xa, xb, "impression", n_resamples, seed, confidence, ci=ci,
                             permutation=perm.get(i), interval=intervals.get(i, None if ci else (math.nan, math.nan)))
        if dropped:
            imp.note = (imp.note + "; " if imp.note else "") + f"{dropped} impressions with an undefined metric dropped"
        sa, sb = a.seed_means(metric), b.seed_means(metric)
        seeds = sorted(set(sa) & set(sb))
        sd = compare_paired([sa[s] for s in seeds], [sb[s] for s in seeds], "seed", n_resamples, seed, confidence)
        out.append(Comparison(a.label, b.label, metric, imp, sd))
    return out


def compare(a: RunGroup, b: RunGroup, metric: str = "auc", n_resamples: int = 10_000, seed: int = 0,
            confidence: float = 0.95, ci: bool = True) -> Comparison:
    """Group A vs group B on one metric, at impression level and at seed level (see the module docstring)."""
    return compare_many([(a, b)], metric, n_resamples, seed, confidence, ci)[0]
