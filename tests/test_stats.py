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


# ---- user-clustered impression level ---------------------------------------------------------------------------

def _clustered(n_users=40, per_user=(1, 6), user_sd=0.05, shift=0.0, seed=0):
    """Paired per-impression differences where impressions of one user share a user effect."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(per_user[0], per_user[1] + 1, n_users)
    users = np.repeat(np.arange(n_users) * 7 + 3, sizes)            # labels need not be 0..U-1
    d = shift + rng.normal(0, user_sd, n_users)[np.repeat(np.arange(n_users), sizes)] + rng.normal(0, 0.02, len(users))
    perm = rng.permutation(len(users))                              # impressions of a user need not be adjacent
    return d[perm], users[perm]


def test_cluster_sums_match_pandas_groupby():
    import pandas as pd

    d, users = _clustered(seed=1)
    sums, counts = stats.cluster_sums(d, users)
    ref = pd.DataFrame({"u": users, "d": d}).groupby("u")["d"].agg(["sum", "size"])
    np.testing.assert_allclose(sums, ref["sum"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(counts, ref["size"].to_numpy())


def test_clustered_sign_flip_exact_matches_enumeration_over_users():
    # Direct transcription: flip the signs of all impressions of a user together, every one of 2^U patterns.
    d, users = _clustered(n_users=10, shift=0.01, seed=2)
    got = stats.compare_paired(d, np.zeros_like(d), "impression", n_resamples=4096, clusters=users)
    codes = np.unique(users)
    obs = abs(d.sum())
    count = 0
    for signs in itertools.product((1.0, -1.0), repeat=len(codes)):
        s = dict(zip(codes, signs))
        count += abs(sum(s[u] * x for u, x in zip(users, d))) >= obs - 1e-12
    assert got.tests["permutation"].pvalue == pytest.approx(count / 2 ** len(codes), abs=1e-12)
    assert got.clusters == 10 and got.tests["permutation"].n == 10


def test_one_impression_per_user_is_the_unclustered_test():
    a, b = _pair(n=120, shift=0.01, seed=5)
    users = np.arange(120) * 3        # in impression order: the per-user sums are the differences, in the same order
    plain = stats.compare_paired(a, b, "impression", n_resamples=2000, seed=3)
    clus = stats.compare_paired(a, b, "impression", n_resamples=2000, seed=3, clusters=users)
    for t in stats.TESTS:
        assert clus.tests[t].pvalue == pytest.approx(plain.tests[t].pvalue, rel=1e-9), t
    # The bootstrap draws users instead of rows, so only the distribution agrees: close, not identical.
    assert abs(clus.ci_low - plain.ci_low) < 0.1 * (plain.ci_high - plain.ci_low)


def test_cluster_bootstrap_matches_transcription():
    d, users = _clustered(n_users=25, seed=3)
    got = stats.cluster_bootstrap_cis(d, users, n_resamples=400, seed=7)[0]
    # Transcription: the same draws of user positions, each resample concatenates the drawn users' impressions.
    codes = np.unique(users)
    rng = np.random.default_rng(7)
    idx = rng.integers(0, len(codes), size=(400, len(codes)), dtype=np.int32)
    means = np.sort([np.concatenate([d[users == codes[j]] for j in row]).mean() for row in idx])
    assert got == pytest.approx((means[10], means[389]), rel=1e-12)
    lo, hi = stats.cluster_bootstrap_cis(-d, users, n_resamples=400, seed=7)[0]
    assert (lo, hi) == pytest.approx((-got[1], -got[0]), rel=1e-12)


def test_clustering_keeps_the_false_positive_rate_where_users_share_effects():
    # Under H0 (no true difference) with a strong per-user effect, the unclustered t-test rejects far more often
    # than alpha; the test on per-user sums stays near alpha. 300 null data sets of 60 users x 1..8 impressions.
    plain, clus = 0, 0
    for rep in range(300):
        d, users = _clustered(n_users=60, per_user=(1, 8), user_sd=0.05, seed=100 + rep)
        z = np.zeros_like(d)
        plain += stats.compare_paired(d, z, "impression", ci=False, n_resamples=1, clusters=None).p("ttest") < 0.05
        clus += stats.compare_paired(d, z, "impression", ci=False, n_resamples=1, clusters=users).p("ttest") < 0.05
    assert plain / 300 > 0.25
    assert clus / 300 < 0.09


def test_users_of_maps_ids_and_refuses_unknown_ones():
    ids = np.array([30, 10, 20])
    assert stats.users_of(np.array([10, 30]), (ids, np.array([7, 5, 6]))).tolist() == [5, 7]
    with pytest.raises(ValueError, match="no known user"):
        stats.users_of(np.array([10, 99]), (ids, np.array([7, 5, 6])))


def test_compare_many_clustered_equals_one_by_one():
    rng = np.random.default_rng(4)
    ids = np.arange(300)
    users = (ids // 5, rng.integers(0, 40, 300))[1]
    base = rng.uniform(0.4, 0.8, 300)
    groups = [stats.RunGroup(f"g{k}", {s: {"impression_id": ids, "auc": np.clip(base + 0.01 * k + rng.normal(
        0, 0.05, 300), 0, 1), "mrr": base, "ndcg5": base, "ndcg10": base} for s in range(2)}) for k in range(3)]
    pairs = [(groups[1], groups[0]), (groups[2], groups[0])]
    batch = stats.compare_many(pairs, "auc", n_resamples=500, users=(ids, users), margin=0.01)
    for (a, b), c in zip(pairs, batch):
        one = stats.compare(a, b, "auc", n_resamples=500, users=(ids, users), margin=0.01)
        assert one.to_dict() == c.to_dict()
        assert c.impression.clusters == len(np.unique(users))


# ---- equivalence (TOST) ----------------------------------------------------------------------------------------

def test_tost_is_two_one_sided_scipy_ttests():
    a, b = _pair(n=150, shift=0.002, seed=6)
    for margin in (0.005, 0.02):
        got = stats.tost(a - b, margin)
        p_lo = sps.ttest_rel(a + margin, b, alternative="greater").pvalue
        p_hi = sps.ttest_rel(a - margin, b, alternative="less").pvalue
        assert got.pvalue == pytest.approx(max(p_lo, p_hi), rel=1e-10)
    assert stats.tost(a - b, 0.02).pvalue < 0.05 < stats.tost(a - b, 0.0005).pvalue


def test_tost_clustered_tests_shifted_user_sums():
    import pandas as pd

    d, users = _clustered(n_users=50, shift=0.004, seed=8)
    margin = 0.03
    g = pd.DataFrame({"u": users, "d": d}).groupby("u")["d"].agg(["sum", "size"])
    p_lo = sps.ttest_1samp(g["sum"] + margin * g["size"], 0, alternative="greater").pvalue
    p_hi = sps.ttest_1samp(g["sum"] - margin * g["size"], 0, alternative="less").pvalue
    got = stats.tost(d, margin, users)
    assert got.pvalue == pytest.approx(max(p_lo, p_hi), rel=1e-10) and got.n == 50


# ---- power at seed level ---------------------------------------------------------------------------------------

def test_power_matches_simulation_at_the_min_detectable_effect():
    sd, n = 0.004, 3
    mde = stats.min_detectable_effect(sd, n, alpha=0.05)
    assert stats.paired_t_power(mde, sd, n) == pytest.approx(0.8, abs=1e-8)
    rng = np.random.default_rng(0)
    d = rng.normal(mde, sd, size=(40_000, n))
    t = d.mean(axis=1) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    rejected = np.mean(np.abs(t) > sps.t.ppf(0.975, n - 1))
    assert rejected == pytest.approx(0.8, abs=0.01)


def test_min_detectable_effect_approaches_the_normal_formula_for_many_pairs():
    sd, n = 1.0, 5000
    z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
    assert stats.min_detectable_effect(sd, n) == pytest.approx(z * sd / math.sqrt(n), rel=2e-3)


def test_pairs_needed_is_the_first_n_reaching_the_power():
    n = stats.pairs_needed(0.003, 0.004)
    assert n > 3
    assert stats.paired_t_power(0.003, 0.004, int(n)) >= 0.8 > stats.paired_t_power(0.003, 0.004, int(n) - 1)
    assert stats.pairs_needed(0.0, 0.004) == math.inf
    assert math.isnan(stats.pairs_needed(0.003, 0.0)) and math.isnan(stats.min_detectable_effect(0.004, 1))
