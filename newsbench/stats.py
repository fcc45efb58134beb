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

Impressions of one user are not independent (they share the user's history and taste). Given each impression's
user (`clusters=`), the impression level works on each user's *summed* differences: sign flips per user, a t-test or
Wilcoxon test of the per-user sums, and a bootstrap that resamples users. Without it every impression counts as
independent, which makes p-values too small and intervals too narrow wherever users have several impressions.

"Not significant" is not "equal": `tost` is the two one-sided tests of equivalence within a margin, and
`min_detectable_effect` / `pairs_needed` say what a paired t-test over few seeds could detect.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as sps

from newsbench import beyond as _beyond

TESTS = ("ttest", "wilcoxon", "permutation")
LEVELS = ("impression", "seed")

# Record metric name -> per-impression array name in the run's npz (see newsbench.store).
METRIC_ARRAYS = {"auc": "auc", "mrr": "mrr", "ndcg@5": "ndcg5", "ndcg@10": "ndcg10"}
METRIC_LABELS = {"auc": "AUC", "mrr": "MRR", "ndcg@5": "nDCG@5", "ndcg@10": "nDCG@10"}
# The beyond-accuracy metrics' per-impression arrays (newsbench.beyond, e.g. "novelty@10" -> "novelty10"): the same
# paired tests apply to them. `metric_name` leaves them out: --metric and --metrics stay the accuracy metrics.
BEYOND_ARRAYS = _beyond.all_array_names()

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


def array_key(metric: str) -> str:
    """The per-impression array of a metric: an accuracy metric by any of its names, or a beyond-accuracy one."""
    return BEYOND_ARRAYS[metric] if metric in BEYOND_ARRAYS else METRIC_ARRAYS[metric_name(metric)]


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

    def means(idx):
        return np.stack([D[:, j][idx].mean(axis=1) for j in range(k)], axis=1)

    return _percentile_bootstrap(n, k, means, confidence, n_resamples, seed)


def _percentile_bootstrap(n: int, k: int, statistic, confidence: float, n_resamples: int,
                          seed: int) -> list[tuple[float, float]]:
    """The resampling loop of both bootstraps: seeded draws of n units out of n with replacement, in chunks of
    about _CHUNK_ELEMENTS indices; `statistic(idx)` gives the (m, k) resampled means for (m, n) draws."""
    rng = np.random.default_rng(seed)
    means = np.empty((n_resamples, k))
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, step):
        m = min(step, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n), dtype=np.int32 if n < 2**31 else np.int64)
        means[start:start + m] = statistic(idx)
    # Symmetric order statistics (the k-th from each end) keep the interval exactly mirrored under d -> -d;
    # interpolating quantiles would not.
    means.sort(axis=0)
    r = int(math.floor((1.0 - confidence) / 2 * n_resamples))
    return [(float(means[r, j]), float(means[n_resamples - 1 - r, j])) for j in range(k)]


def cluster_sums(d, clusters) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums of the rows of `d` (n or n x k) and the number of rows per cluster, clusters in sorted order.

    A test on the sums treats clusters (users) as the independent units: sum(s_u * S_u) over sign flips s_u of whole
    users is the sign-flip statistic of the clustered test, and sum(S_u) is still the sum of all differences.
    """
    D = np.asarray(d, dtype=np.float64)
    codes, inv = np.unique(np.asarray(clusters), return_inverse=True)
    inv = inv.reshape(-1)
    if len(inv) != len(D):
        raise ValueError(f"{len(inv)} cluster labels for {len(D)} differences")
    counts = np.bincount(inv, minlength=len(codes)).astype(np.float64)
    if D.ndim == 1:
        return np.bincount(inv, D, minlength=len(codes)), counts
    return np.stack([np.bincount(inv, D[:, j], minlength=len(codes)) for j in range(D.shape[1])], axis=1), counts


def cluster_bootstrap_cis(diffs, clusters, confidence: float = 0.95, n_resamples: int = 10_000,
                          seed: int = 0) -> list[tuple[float, float]]:
    """Percentile bootstrap CI of mean(d) (the mean over all rows) resampling whole clusters with replacement.

    Each resample draws U clusters out of U; its statistic is (sum of the drawn clusters' sums) / (their row count),
    the same estimand as the plain mean. Seeded, symmetric order statistics as in `bootstrap_cis`, so -d gets
    exactly the negated interval. Fewer than 2 clusters: (nan, nan).
    """
    D = np.asarray(diffs, dtype=np.float64)
    if D.ndim == 1:
        D = D[:, None]
    S, counts = cluster_sums(D, clusters)
    u, k = S.shape
    if u < 2:
        return [(math.nan, math.nan)] * k
    def means(idx):
        rows = counts[idx].sum(axis=1)
        return np.stack([S[:, j][idx].sum(axis=1) / rows for j in range(k)], axis=1)

    return _percentile_bootstrap(u, k, means, confidence, n_resamples, seed)


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
# Equivalence and power


def tost(d, margin: float, clusters=None) -> TestResult:
    """Two one-sided t-tests of equivalence: is the mean difference within (-margin, +margin)?

    H0: mean(d) <= -margin or mean(d) >= +margin; p = max of the two one-sided p-values (equivalence is shown at
    level alpha when p < alpha, which is the (1 - 2 alpha) t interval lying inside the margin). With `clusters`, each
    test is a one-sample t-test of the per-cluster sums shifted by margin x rows, S_u -+ margin * n_u, whose mean is
    zero exactly when the mean per-row difference equals -+margin: the clustered form of the same hypotheses.
    """
    d = np.asarray(d, dtype=np.float64)
    if clusters is None:
        S, counts = d, np.ones(len(d))
    else:
        S, counts = cluster_sums(d, clusters)
    n = len(S)
    if not margin > 0:
        raise ValueError(f"equivalence margin must be positive: {margin}")
    if n < 2:
        return TestResult("tost", None, math.nan, n, f"n/a: {n} {'cluster' if clusters is not None else 'pair'}")
    lower, upper = S + margin * counts, S - margin * counts
    if _constant(lower):     # no spread: the sign of the shifted sums decides, as in paired_ttest
        p_lo = 0.0 if lower.mean() > 0 else 1.0
        p_hi = 0.0 if upper.mean() < 0 else 1.0
        return TestResult("tost", None, max(p_lo, p_hi), n, "no spread")
    lo = sps.ttest_1samp(lower, 0.0, alternative="greater")
    hi = sps.ttest_1samp(upper, 0.0, alternative="less")
    # The statistic reported is the smaller of the two t values in the direction of equivalence (the binding one).
    return TestResult("tost", float(min(lo.statistic, -hi.statistic)), float(max(lo.pvalue, hi.pvalue)), n)


def paired_t_power(effect: float, sd: float, n: int, alpha: float = 0.05) -> float:
    """Power of a two-sided paired t-test at level alpha with n pairs, true mean difference `effect` and sd `sd` of
    the differences: P(|T| > t_crit) where T follows the noncentral t with n - 1 df and noncentrality
    effect / sd * sqrt(n)."""
    if n < 2 or not sd > 0 or not np.isfinite(sd):
        return math.nan
    df = n - 1
    crit = sps.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) / sd * math.sqrt(n)
    # The lower tail as the upper tail of -T (noncentrality -nc): scipy's nct.cdf far in the left tail returns NaN
    # where nct.sf of the mirrored value returns the (negligible) probability.
    return float(sps.nct.sf(crit, df, nc) + sps.nct.sf(crit, df, -nc))


def min_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """Smallest true mean difference a two-sided paired t-test over n pairs (sd of differences `sd`) detects with
    probability `power` at level alpha. NaN with fewer than 2 pairs or no spread."""
    if n < 2 or not sd > 0 or not np.isfinite(sd):
        return math.nan
    hi = sd
    while paired_t_power(hi, sd, n, alpha) < power:
        hi *= 2
    from scipy.optimize import brentq

    return float(brentq(lambda e: paired_t_power(e, sd, n, alpha) - power, 0.0, hi, xtol=sd * 1e-10))


def pairs_needed(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8, limit: int = 1_000_000) -> float:
    """Fewest pairs (seeds) with which a two-sided paired t-test at level alpha reaches `power` for a true mean
    difference `effect` when the differences have sd `sd`; inf beyond `limit`, NaN when undefined (no spread)."""
    if not sd > 0 or not np.isfinite(sd) or not np.isfinite(effect):
        return math.nan
    if effect == 0 or paired_t_power(effect, sd, limit, alpha) < power:
        return math.inf
    lo, hi = 2, limit                     # power grows with n: bisect on the first n that reaches it
    if paired_t_power(effect, sd, lo, alpha) >= power:
        return float(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if paired_t_power(effect, sd, mid, alpha) >= power:
            hi = mid
        else:
            lo = mid
    return float(hi)


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
        key = array_key(metric)
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
        key = array_key(metric)
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
    sd: float = math.nan                  # sample sd of the paired differences (what seed-level power rests on)
    clusters: int | None = None           # independent units when clustered (users); None: every pair is one
    tost: TestResult | None = None        # equivalence within +-margin (see `tost`), when a margin is given
    margin: float | None = None

    def p(self, test: str) -> float:
        t = self.tests.get(test)
        return t.pvalue if t is not None else math.nan

    def to_dict(self) -> dict:
        d = asdict(self)
        d["tests"] = {k: v.to_dict() for k, v in self.tests.items()}
        d["tost"] = self.tost.to_dict() if self.tost is not None else None
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
                   interval: tuple[float, float] | None = None, clusters=None,
                   margin: float | None = None) -> LevelResult:
    """Every test, the bootstrap CI (unless ci=False) and dz on already-paired arrays.

    `clusters` (one label per pair, e.g. the impression's user): the tests run on per-cluster sums of the
    differences and the CI resamples clusters (see the module docstring). `margin`: also the TOST of equivalence.
    `permutation` and `interval` pass results computed in a batch (see `compare_many`) instead of recomputing.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = len(a)
    n_clusters = None if clusters is None else len(np.unique(clusters))
    if n < 2 or (n_clusters is not None and n_clusters < 2):
        units = n if n_clusters is None else n_clusters
        what = "seed" if level == "seed" else ("impression" if n_clusters is None else "user")
        note = f"n/a: {units} {what}" + ("" if units == 1 else "s")
        mean_a = float(a.mean()) if n else math.nan
        mean_b = float(b.mean()) if n else math.nan
        return LevelResult(level, n, mean_a, mean_b, mean_a - mean_b, math.nan, math.nan, math.nan,
                           {t: TestResult(t, None, math.nan, units, note) for t in TESTS}, note,
                           clusters=n_clusters, margin=margin)
    d = a - b
    if clusters is None:
        if interval is None:
            interval = bootstrap_ci(a, b, confidence, n_resamples, seed) if ci else (math.nan, math.nan)
        tests = {
            "ttest": paired_ttest(a, b),
            "wilcoxon": wilcoxon_test(a, b),
            "permutation": permutation or permutation_test(a, b, n_resamples, seed),
        }
    else:
        if interval is None:
            interval = (cluster_bootstrap_cis(d, clusters, confidence, n_resamples, seed)[0] if ci
                        else (math.nan, math.nan))
        sums, _ = cluster_sums(d, clusters)
        zeros = np.zeros_like(sums)
        tests = {
            "ttest": paired_ttest(sums, zeros),
            "wilcoxon": wilcoxon_test(sums, zeros),
            "permutation": permutation or permutation_tests(sums, n_resamples, seed)[0],
        }
    return LevelResult(level, n, float(a.mean()), float(b.mean()), float(d.mean()), interval[0], interval[1],
                       cohens_dz(a, b), tests, sd=float(d.std(ddof=1)), clusters=n_clusters,
                       tost=tost(d, margin, clusters) if margin is not None else None, margin=margin)


def _impression_pairs(a: RunGroup, b: RunGroup, metric: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    ids_a, va = a.impression_means(metric)
    ids_b, vb = b.impression_means(metric)
    common, ia, ib = np.intersect1d(ids_a, ids_b, assume_unique=True, return_indices=True)
    xa, xb = va[ia], vb[ib]
    keep = ~(np.isnan(xa) | np.isnan(xb))          # pairwise: drop impressions undefined on either side
    return xa[keep], xb[keep], common[keep], len(common) - int(keep.sum())


def users_of(ids: np.ndarray, users: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """The user of each impression id, from `users` = (impression ids, user labels) of the dataset's dev split."""
    map_ids, map_users = (np.asarray(x) for x in users)
    order = np.argsort(map_ids, kind="stable")
    pos = np.searchsorted(map_ids, ids, sorter=order)
    pos = order[np.minimum(pos, len(order) - 1)]
    if len(ids) and not np.array_equal(map_ids[pos], ids):
        missing = np.asarray(ids)[map_ids[pos] != ids]
        raise ValueError(f"{len(missing)} impression ids have no known user (first: {missing[0]})")
    return np.asarray(map_users)[pos]


def compare_many(pairs: list[tuple[RunGroup, RunGroup]], metric: str = "auc", n_resamples: int = 10_000,
                 seed: int = 0, confidence: float = 0.95, ci: bool = True,
                 users: tuple[np.ndarray, np.ndarray] | None = None, margin: float | None = None) -> list[Comparison]:
    """`compare` for several pairs at once: pairs with the same impressions (and users) share one batch of sign
    vectors and bootstrap indices (identical results to one-by-one calls, a fraction of the time).

    `users` = (impression ids, user labels): the impression level is clustered by user (see the module docstring);
    None treats every impression as independent. `margin`: also test equivalence (TOST) at both levels.
    """
    metric = metric if metric in BEYOND_ARRAYS else metric_name(metric)
    prepared = [_impression_pairs(a, b, metric) for a, b in pairs]
    clusters = [users_of(ids, users) if users is not None else None for _, _, ids, _ in prepared]
    perm: dict[int, TestResult] = {}
    intervals: dict[int, tuple[float, float]] = {}
    batches: dict[tuple, list[int]] = {}
    for i, (xa, _, _, _) in enumerate(prepared):
        # Sign vectors and bootstrap draws depend on the number of units only; with clusters the units are users,
        # and the per-user sums line up across pairs only when the impressions (hence users) are the same.
        key = (len(xa),) if clusters[i] is None else (len(xa), clusters[i].tobytes())
        batches.setdefault(key, []).append(i)
    for idxs in batches.values():
        cl = clusters[idxs[0]]
        n = len(prepared[idxs[0]][0])
        if n < 2 or (cl is not None and len(np.unique(cl)) < 2):
            continue
        D = np.stack([prepared[i][0] - prepared[i][1] for i in idxs], axis=1)
        units = D if cl is None else cluster_sums(D, cl)[0]
        for i, r in zip(idxs, permutation_tests(units, n_resamples, seed)):
            perm[i] = r
        if ci:
            cis = bootstrap_cis(D, confidence, n_resamples, seed) if cl is None else \
                cluster_bootstrap_cis(D, cl, confidence, n_resamples, seed)
            for i, r in zip(idxs, cis):
                intervals[i] = r
    out = []
    for i, ((a, b), (xa, xb, _, dropped)) in enumerate(zip(pairs, prepared)):
        imp = compare_paired(xa, xb, "impression", n_resamples, seed, confidence, ci=ci,
                             permutation=perm.get(i), interval=intervals.get(i, None if ci else (math.nan, math.nan)),
                             clusters=clusters[i], margin=margin)
        if dropped:
            imp.note = (imp.note + "; " if imp.note else "") + f"{dropped} impressions with an undefined metric dropped"
        sa, sb = a.seed_means(metric), b.seed_means(metric)
        seeds = sorted(set(sa) & set(sb))
        sd = compare_paired([sa[s] for s in seeds], [sb[s] for s in seeds], "seed", n_resamples, seed, confidence,
                            margin=margin)
        out.append(Comparison(a.label, b.label, metric, imp, sd))
    return out


def compare(a: RunGroup, b: RunGroup, metric: str = "auc", n_resamples: int = 10_000, seed: int = 0,
            confidence: float = 0.95, ci: bool = True, users: tuple[np.ndarray, np.ndarray] | None = None,
            margin: float | None = None) -> Comparison:
    """Group A vs group B on one metric, at impression level and at seed level (see the module docstring)."""
    return compare_many([(a, b)], metric, n_resamples, seed, confidence, ci, users, margin)[0]
