"""newsbench.stats against scipy, exact enumeration, a hand-worked Holm example and symmetry properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats as sps

from newsbench import stats


def _pair(n=200, shift=0.0, seed=0):
    rng = np.random.default_rng(seed)
    b = rng.normal(0.6, 0.1, n)
    a = b + shift + rng.normal(0, 0.05, n)
    return a, b


# ---- each test against scipy -----------------------------------------------------------------------------------

def test_ttest_matches_scipy():
    a, b = _pair(shift=0.01, seed=1)
    got = stats.paired_ttest(a, b)
    ref = sps.ttest_rel(a, b)
    assert got.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert got.n == len(a)


def test_wilcoxon_matches_scipy():
    a, b = _pair(n=80, shift=0.01, seed=2)
    got = stats.wilcoxon_test(a, b)
    ref = sps.wilcoxon(a - b)
    assert got.pvalue == pytest.approx(ref.pvalue, rel=1e-12)


def test_permutation_close_to_ttest_on_large_n():
    # With many pairs the sign-flip null distribution of the mean is nearly normal, so p agrees with the t-test.
    a, b = _pair(n=400, shift=0.004, seed=3)
    got = stats.permutation_test(a, b, n_resamples=20_000, seed=0).pvalue
    ref = sps.ttest_rel(a, b).pvalue
    assert abs(got - ref) < 0.03


def test_bootstrap_ci_close_to_scipy_percentile():
    a, b = _pair(n=150, shift=0.01, seed=4)
    lo, hi = stats.bootstrap_ci(a, b, n_resamples=20_000, seed=0)
    ref = sps.bootstrap(((a - b),), np.mean, n_resamples=20_000, method="percentile",
                        random_state=np.random.default_rng(1)).confidence_interval
    width = ref.high - ref.low
    assert lo < (a - b).mean() < hi
    assert abs(lo - ref.low) < 0.05 * width and abs(hi - ref.high) < 0.05 * width


def test_cohens_dz():
    a, b = _pair(n=50, shift=0.02, seed=5)
    d = a - b
    assert stats.cohens_dz(a, b) == pytest.approx(d.mean() / d.std(ddof=1))


# ---- known answers ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("test", stats.TESTS)
def test_identical_systems_not_significant(test):
    a, _ = _pair(seed=6)
    res = stats.run_test(test, a, a.copy(), n_resamples=2000)
    assert res.pvalue == 1.0
    assert "zero" in res.note


@pytest.mark.parametrize("test", stats.TESTS)
def test_constant_shift_significant(test):
    a, b = _pair(n=100, shift=0.0, seed=7)
    res = stats.run_test(test, b + 0.01, b, n_resamples=2000)
    assert res.pvalue < 0.001


@pytest.mark.parametrize("test", stats.TESTS)
def test_noise_only_rarely_significant(test):
    # Under H0 the p-value is roughly uniform: over 40 independent null datasets, few fall below 0.05.
    rng = np.random.default_rng(8)
    ps = [stats.run_test(test, rng.normal(size=60), rng.normal(size=60), n_resamples=999, seed=i).pvalue
          for i in range(40)]
    assert sum(p < 0.05 for p in ps) <= 7


def _exact_sign_flip(d):
    obs = abs(np.mean(d))
    hits = [abs(np.mean(np.array(s) * d)) >= obs - 1e-12 for s in itertools.product((-1, 1), repeat=len(d))]
    return sum(hits) / len(hits)


@pytest.mark.parametrize("n,seed", [(3, 0), (5, 1), (8, 2), (10, 3)])
def test_permutation_matches_exact_enumeration(n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0.3, 1, n), rng.normal(0, 1, n)
    exact = _exact_sign_flip(a - b)
    assert stats.permutation_test(a, b, exact=True).pvalue == pytest.approx(exact, abs=1e-12)
    mc = stats.permutation_test(a, b, n_resamples=20_000, seed=seed, exact=False).pvalue
    assert abs(mc - exact) < 4 * math.sqrt(exact * (1 - exact) / 20_000) + 1e-3


def test_permutation_monte_carlo_p_never_zero():
    a, b = _pair(n=100, shift=0.05)
    p = stats.permutation_test(a, b, n_resamples=999).pvalue
    assert p == pytest.approx(1 / 1000)


# ---- Holm ------------------------------------------------------------------------------------------------------

def _holm_reference(p):
    """Straightforward transcription of Holm (1979): walk the sorted p-values, multiply by (m - rank), keep monotone."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        value = min(1.0, (m - rank) * p[i])
        running = max(running, value)
        adjusted[i] = running
    return adjusted


def test_holm_hand_worked():
    # m = 4: sorted 0.01, 0.02, 0.03, 0.5 -> 0.04, max(0.04, 0.06), max(.06, .06), max(.06, 0.5)
    got = stats.holm([0.03, 0.01, 0.5, 0.02])
    np.testing.assert_allclose(got, [0.06, 0.04, 0.5, 0.06])


@given(arrays(np.float64, st.integers(1, 20), elements=st.floats(0, 1)))
@settings(max_examples=100, deadline=None)
def test_holm_matches_reference(p):
    np.testing.assert_allclose(stats.holm(p), _holm_reference(list(p)), rtol=1e-12, atol=0)


def test_holm_ignores_nan():
    got = stats.holm([0.01, math.nan, 0.04])
    assert math.isnan(got[1])
    np.testing.assert_allclose(got[[0, 2]], [0.02, 0.04])


def test_holm_is_not_benjamini_hochberg():
    p = [0.01, 0.02, 0.03, 0.04]
    assert not np.allclose(stats.holm(p), sps.false_discovery_control(p))


# ---- symmetry (issue 9): A vs B mirrors B vs A -----------------------------------------------------------------

_vals = st.floats(-1, 1, allow_nan=False, width=64)


@given(st.integers(2, 40).flatmap(lambda n: st.tuples(arrays(np.float64, n, elements=_vals),
                                                      arrays(np.float64, n, elements=_vals))),
       st.integers(0, 2**16))
@settings(max_examples=40, deadline=None)
def test_symmetry_property(ab, seed):
    a, b = ab
    fwd = stats.compare_paired(a, b, "impression", n_resamples=300, seed=seed)
    rev = stats.compare_paired(b, a, "impression", n_resamples=300, seed=seed)
    for t in stats.TESTS:
        pf, pr = fwd.p(t), rev.p(t)
        assert (math.isnan(pf) and math.isnan(pr)) or pf == pytest.approx(pr, rel=1e-9, abs=1e-12)
    assert rev.diff == pytest.approx(-fwd.diff, abs=1e-12)
    assert rev.ci_low == pytest.approx(-fwd.ci_high, abs=1e-12)
    assert rev.ci_high == pytest.approx(-fwd.ci_low, abs=1e-12)
    if math.isnan(fwd.dz):
        assert math.isnan(rev.dz)
    else:
        assert rev.dz == pytest.approx(-fwd.dz, rel=1e-9, abs=1e-12)


# ---- groups and the two levels ---------------------------------------------------------------------------------

def _group(label, seeds, base, shift, n=300, seed_offset=0):
    runs = {}
    for s in seeds:
        rng = np.random.default_rng(100 + s + seed_offset)
        ids = np.arange(1000, 1000 + n)
        perm = rng.permutation(n)                        # arrays need not be sorted by impression id
        auc = base + shift + rng.normal(0, 0.02, n)
        auc[::50] = np.nan                               # undefined impressions
        runs[s] = {"impression_id": ids[perm], "auc": auc[perm], "mrr": auc[perm] / 2,
                   "ndcg5": auc[perm], "ndcg10": auc[perm]}
    return stats.RunGroup(label, runs)


def test_compare_two_levels():
    base = np.random.default_rng(0).uniform(0.4, 0.8, 300)
    a = _group("A", [0, 1, 2], base, 0.03)
    b = _group("B", [0, 1, 2], base, 0.0, seed_offset=50)
    c = stats.compare(a, b, "auc", n_resamples=2000)
    assert c.impression.n == 300 - 6                     # NaN every 50th impression, dropped pairwise
    assert "dropped" in c.impression.note
    assert c.impression.diff == pytest.approx(0.03, abs=0.01)
    assert c.impression.p("permutation") < 0.01
    assert c.seed.n == 3 and not math.isnan(c.seed.p("ttest"))
    back = stats.compare(b, a, "auc", n_resamples=2000)
    assert back.impression.p("permutation") == c.impression.p("permutation")
    assert back.seed.p("ttest") == pytest.approx(c.seed.p("ttest"))


def test_impression_level_averages_seeds_first():
    base = np.linspace(0.4, 0.8, 100)
    a = _group("A", [0, 1], base, 0.0, n=100)
    ids, means = a.impression_means("auc")
    s0 = dict(zip(a.runs[0]["impression_id"], a.runs[0]["auc"]))
    s1 = dict(zip(a.runs[1]["impression_id"], a.runs[1]["auc"]))
    i = 7
    assert means[i] == pytest.approx((s0[ids[i]] + s1[ids[i]]) / 2)


def test_one_seed_gives_no_seed_level_test():
    base = np.linspace(0.4, 0.8, 300)
    c = stats.compare(_group("A", [0], base, 0.05), _group("B", [0], base, 0.0, seed_offset=9), "auc",
                      n_resamples=500)
    assert c.seed.n == 1
    assert c.seed.note == "n/a: 1 seed"
    assert all(math.isnan(c.seed.p(t)) for t in stats.TESTS)
    assert c.impression.p("ttest") < 0.01


def test_metric_names():
    assert stats.metric_name("nDCG@10") == "ndcg@10"
    assert stats.metric_name("ndcg5") == "ndcg@5"
    with pytest.raises(ValueError):
        stats.metric_name("precision")
