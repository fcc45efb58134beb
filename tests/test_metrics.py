"""Metrics: the vectorised CSR path against the per-impression reference, the reference against MIND's official
formulas and scikit-learn, the undefined cases, and Hypothesis properties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsbench.metrics import (
    auc_score,
    by_group,
    dcg_score,
    impression_metrics,
    mean_metrics,
    mrr_score,
    ndcg_score,
)

sklearn_metrics = pytest.importorskip("sklearn.metrics")

KEYS = ("auc", "mrr", "ndcg5", "ndcg10")


# --- MIND's official scorer, literally: default (unstable) argsort, sklearn AUC --------------------------------------


def official_mrr(y_true, y_score):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order)
    rr = y_true / (np.arange(len(y_true)) + 1)
    return np.sum(rr) / np.sum(y_true)


def official_dcg(y_true, y_score, k):
    order = np.argsort(y_score)[::-1]
    y_true = np.take(y_true, order[:k])
    gains = 2**y_true - 1
    discounts = np.log2(np.arange(len(y_true)) + 2)
    return np.sum(gains / discounts)


def official_ndcg(y_true, y_score, k):
    return official_dcg(y_true, y_score, k) / official_dcg(y_true, y_true, k)


# --- helpers ---------------------------------------------------------------------------------------------------------


def reference(scores, labels, ptr) -> dict[str, np.ndarray]:
    """The reference functions, one impression at a time."""
    out = {k: np.empty(len(ptr) - 1) for k in KEYS}
    for i in range(len(ptr) - 1):
        y, s = labels[ptr[i] : ptr[i + 1]], scores[ptr[i] : ptr[i + 1]]
        out["auc"][i] = auc_score(y, s)
        out["mrr"][i] = mrr_score(y, s)
        out["ndcg5"][i] = ndcg_score(y, s, 5)
        out["ndcg10"][i] = ndcg_score(y, s, 10)
    return out


def assert_same(fast, ref):
    for key in KEYS:
        np.testing.assert_array_equal(np.isnan(fast[key]), np.isnan(ref[key]), err_msg=key)
        # AUC is one division of exact integers on both sides; MRR and nDCG sum the same terms in another order.
        rtol = 0 if key == "auc" else 1e-12
        np.testing.assert_allclose(fast[key], ref[key], rtol=rtol, atol=0, equal_nan=True, err_msg=key)


def random_csr(rng, n_imps=400, max_len=60, n_levels=4, click_rate=0.25, dtype=np.float64):
    """Impressions of 0..max_len candidates, scores on a few levels (many ties), some with no or only clicks."""
    lengths = rng.integers(0, max_len + 1, n_imps)
    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    nnz = int(ptr[-1])
    scores = (rng.integers(0, n_levels, nnz) / n_levels - 0.4).astype(dtype)
    labels = (rng.random(nnz) < click_rate).astype(np.int8)
    labels[ptr[1] : ptr[2]] = 0  # an impression without click
    labels[ptr[2] : ptr[3]] = 1  # and one with only clicks
    return scores, labels, ptr


# --- reference: worked examples --------------------------------------------------------------------------------------


def test_reference_on_a_worked_example():
    labels = [0, 1, 0, 1]
    scores = [0.1, 0.9, 0.3, 0.2]
    # Ranked: 0.9 (click), 0.3, 0.2 (click), 0.1 -> clicks at ranks 1 and 3.
    assert mrr_score(labels, scores) == pytest.approx((1 / 1 + 1 / 3) / 2)
    dcg = 1 / np.log2(1 + 1) + 1 / np.log2(3 + 1)
    ideal = 1 / np.log2(1 + 1) + 1 / np.log2(2 + 1)
    assert dcg_score(labels, scores, 5) == pytest.approx(dcg)
    assert ndcg_score(labels, scores, 5) == pytest.approx(dcg / ideal)
    assert ndcg_score(labels, scores, 1) == pytest.approx(1.0)  # the top item is a click
    # Click/non-click pairs: 0.9 beats 0.1 and 0.3; 0.2 beats 0.1 but not 0.3 -> 3 of 4.
    assert auc_score(labels, scores) == pytest.approx(3 / 4)


def test_tie_rule_ranks_the_later_listed_candidate_first():
    # argsort(kind="stable")[::-1]: among equal scores the later candidate comes first.
    assert mrr_score([1, 0], [0.5, 0.5]) == pytest.approx(1 / 2)
    assert mrr_score([0, 1], [0.5, 0.5]) == pytest.approx(1 / 1)
    assert auc_score([1, 0], [0.5, 0.5]) == 0.5  # AUC counts a tie 1/2 whatever the order
    fast = impression_metrics(np.array([0.5, 0.5, 0.5, 0.5]), np.array([1, 0, 0, 1]), np.array([0, 2, 4]))
    np.testing.assert_allclose(fast["mrr"], [mrr_score([1, 0], [0.5, 0.5]), mrr_score([0, 1], [0.5, 0.5])])


def test_undefined_cases_are_nan():
    # impressions: no click | only clicks | empty | one clicked candidate | one unclicked candidate
    scores = np.array([0.3, 0.1, 0.9, 0.2, 0.4, 0.7])
    labels = np.array([0, 0, 1, 1, 1, 0])
    ptr = np.array([0, 2, 4, 4, 5, 6])
    fast = impression_metrics(scores, labels, ptr)
    np.testing.assert_array_equal(np.isnan(fast["auc"]), [True, True, True, True, True])
    for key in ("mrr", "ndcg5", "ndcg10"):
        np.testing.assert_array_equal(np.isnan(fast[key]), [True, False, True, False, True], err_msg=key)
    # All clicks: every ranking is ideal; MRR is the mean of 1/rank over all ranks.
    assert fast["ndcg5"][1] == pytest.approx(1.0) and fast["mrr"][1] == pytest.approx((1 / 1 + 1 / 2) / 2)
    assert np.isnan(auc_score([0, 0], [0.3, 0.1])) and np.isnan(auc_score([1, 1], [0.3, 0.1]))
    assert np.isnan(mrr_score([0, 0], [0.3, 0.1])) and np.isnan(ndcg_score([0, 0], [0.3, 0.1], 5))
    assert np.isnan(auc_score([], []))
    assert_same(fast, reference(scores, labels, ptr))


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        impression_metrics(np.zeros(2), np.array([1, -1]), np.array([0, 2]))
    with pytest.raises(ValueError, match="NaN"):
        impression_metrics(np.array([0.1, np.nan]), np.array([1, 0]), np.array([0, 2]))
    with pytest.raises(ValueError, match="ptr"):
        impression_metrics(np.zeros(3), np.array([1, 0, 0]), np.array([0, 2]))
    with pytest.raises(ValueError, match="ptr"):
        impression_metrics(np.zeros(3), np.array([1, 0, 0]), np.array([0, 2, 1, 3]))
    with pytest.raises(ValueError, match="one length"):
        auc_score([1, 0, 1], [0.1, 0.2])


# --- reference vs the official formulas and scikit-learn ------------------------------------------------------------


def test_auc_equals_sklearn_on_random_inputs_with_ties():
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(200):
        n = int(rng.integers(2, 80))
        scores = np.round(rng.random(n), int(rng.integers(0, 3)))  # 0-2 decimals: many ties
        labels = (rng.random(n) < 0.3).astype(int)
        if labels.min() == labels.max():
            assert np.isnan(auc_score(labels, scores))
            continue
        assert auc_score(labels, scores) == pytest.approx(sklearn_metrics.roc_auc_score(labels, scores), abs=1e-12)
        checked += 1
    assert checked > 120


def test_reference_equals_official_formula_without_ties():
    # Realistic MIND impressions (~37 candidates, continuous scores): the tie rule never comes into play.
    rng = np.random.default_rng(1)
    for _ in range(300):
        n = int(rng.integers(2, 300)) if rng.random() < 0.1 else int(rng.integers(2, 75))
        scores = rng.standard_normal(n).astype(np.float32)
        labels = np.zeros(n, dtype=int)
        labels[rng.choice(n, size=int(rng.integers(1, max(2, n // 8))), replace=False)] = 1
        assert mrr_score(labels, scores) == pytest.approx(official_mrr(labels, scores), rel=1e-12)
        for k in (5, 10):
            assert ndcg_score(labels, scores, k) == pytest.approx(official_ndcg(labels, scores, k), rel=1e-12)


def _extremes(metric, labels, scores):
    """The metric under the worst and the best order of tied candidates (clicks last / first among equals)."""
    values = []
    for order in (np.lexsort((labels, -scores)), np.lexsort((-labels, -scores))):
        untied = np.empty(len(scores))
        untied[order] = -np.arange(len(scores))  # tie-free scores that rank exactly in that order
        values.append(metric(labels, untied))
    return values


def test_with_ties_both_orders_lie_between_the_worst_and_best_tie_order():
    # With ties the official value depends on NumPy's sort (CPU-dependent); ours is one fixed, possible order.
    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(2, 60))
        scores = rng.integers(0, 3, n).astype(np.float64)
        labels = (rng.random(n) < 0.3).astype(int)
        if not labels.any():
            continue
        pairs = [(mrr_score, official_mrr), (lambda y, s: ndcg_score(y, s, 5), lambda y, s: official_ndcg(y, s, 5))]
        for ours, official in pairs:
            lo, hi = _extremes(ours, labels, scores)
            assert lo <= hi
            assert lo - 1e-12 <= ours(labels, scores) <= hi + 1e-12
            assert lo - 1e-12 <= official(labels, scores) <= hi + 1e-12


# --- vectorised vs reference -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32, "float32-in-float64"])
@pytest.mark.parametrize("seed", [0, 1])
def test_vectorised_equals_reference_on_random_csr_with_ties(dtype, seed):
    # float32 takes the packed-key sort; float64 the lexsort; float64 holding float32 values the packed one again.
    rng = np.random.default_rng(seed)
    as_dtype = np.float32 if dtype == "float32-in-float64" else dtype
    scores, labels, ptr = random_csr(rng, n_levels=int(rng.integers(2, 6)), dtype=as_dtype)
    if dtype == "float32-in-float64":
        scores = scores.astype(np.float64)
    scores[::7], scores[3::7] = 0.0, -0.0  # signed zeros are equal scores
    fast = impression_metrics(scores, labels, ptr)
    assert set(fast) == set(KEYS) and all(v.dtype == np.float64 and v.shape == (len(ptr) - 1,) for v in fast.values())
    assert_same(fast, reference(scores, labels, ptr))


def test_vectorised_on_continuous_scores_and_other_cutoffs():
    rng = np.random.default_rng(3)
    lengths = rng.integers(1, 120, 300)
    ptr = np.concatenate([[0], np.cumsum(lengths)])
    scores = rng.standard_normal(ptr[-1])
    labels = (rng.random(ptr[-1]) < 0.1).astype(np.int64)
    fast = impression_metrics(scores, labels, ptr, ks=(1, 3, 50))
    assert set(fast) == {"auc", "mrr", "ndcg1", "ndcg3", "ndcg50"}
    for i in range(len(lengths)):
        y, s = labels[ptr[i] : ptr[i + 1]], scores[ptr[i] : ptr[i + 1]]
        for k in (1, 3, 50):
            np.testing.assert_allclose(fast[f"ndcg{k}"][i], ndcg_score(y, s, k), rtol=1e-12)


def test_vectorised_on_no_impressions():
    fast = impression_metrics(np.zeros(0, np.float32), np.zeros(0, np.int8), np.array([0]))
    assert all(v.shape == (0,) for v in fast.values())


def test_vectorised_on_real_mind_impressions(real_mind):
    # Real impression sizes and click patterns (MIND-small train sample), with random float32 scores.
    lines = (real_mind / "small-sample" / "train" / "behaviors.tsv").read_text(encoding="utf-8").splitlines()[:2000]
    impressions = [[int(tok.rsplit("-", 1)[1]) for tok in line.split("\t")[4].split()] for line in lines]
    ptr = np.concatenate([[0], np.cumsum([len(imp) for imp in impressions])])
    labels = np.array([y for imp in impressions for y in imp], dtype=np.int8)
    scores = np.random.default_rng(5).standard_normal(len(labels)).astype(np.float32)
    fast = impression_metrics(scores, labels, ptr)
    assert not any(np.isnan(v).any() for v in fast.values())  # every MIND impression has a click and a non-click
    assert_same(fast, reference(scores, labels, ptr))


# --- averages --------------------------------------------------------------------------------------------------------


def test_mean_metrics_skips_undefined_impressions():
    per = {"auc": np.array([0.5, np.nan, 1.0]), "mrr": np.array([1.0, 0.5, np.nan]), "ndcg5": np.array([np.nan] * 3),
           "ndcg10": np.array([0.2, 0.4, 0.6])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an all-NaN column gives NaN, not a RuntimeWarning
        means = mean_metrics(per)
    assert set(means) == {"auc", "mrr", "ndcg@5", "ndcg@10"}
    assert means["auc"] == pytest.approx(np.nanmean(per["auc"]))
    assert means["ndcg@10"] == pytest.approx(np.mean(per["ndcg10"]))
    assert np.isnan(means["ndcg@5"])


def test_by_group_is_the_nanmean_per_group():
    rng = np.random.default_rng(4)
    values = rng.random(500)
    values[rng.random(500) < 0.2] = np.nan
    groups = rng.integers(0, 7, 500)  # group 7 stays empty
    got = by_group(values, groups, 8)
    for g in range(7):
        assert got[g] == pytest.approx(np.nanmean(values[groups == g]))
    assert np.isnan(got[7])
    with pytest.raises(ValueError):
        by_group(values, groups, 3)


# --- Hypothesis properties -------------------------------------------------------------------------------------------

tie_prone = st.sampled_from([-np.inf, -2.0, -0.0, 0.0, 0.5, 1.0, 1e30, np.inf])
any_score = st.one_of(tie_prone, st.floats(allow_nan=False, width=32), st.floats(allow_nan=False))
impression = st.lists(st.tuples(any_score, st.integers(0, 1)), max_size=25)
csr = st.tuples(st.lists(impression, min_size=1, max_size=12), st.sampled_from([np.float32, np.float64]))
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def build(imps, dtype):
    lengths = [len(imp) for imp in imps]
    ptr = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    scores = np.array([s for imp in imps for s, _ in imp], dtype=np.float64)
    with np.errstate(over="ignore"):  # float64 extremes become +-inf in float32: still valid scores
        scores = scores.astype(dtype)
    labels = np.array([y for imp in imps for _, y in imp], dtype=np.int8)
    return scores, labels, ptr


@FAST
@given(csr)
def test_property_vectorised_equals_reference_and_stays_in_range(data):
    scores, labels, ptr = build(*data)
    fast = impression_metrics(scores, labels, ptr)
    assert_same(fast, reference(scores, labels, ptr))
    for key in KEYS:
        defined = fast[key][~np.isnan(fast[key])]
        assert ((defined >= 0) & (defined <= 1 + 1e-12)).all(), key
    # MRR and nDCG are defined exactly when there is a click; AUC when there are both classes.
    seg = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    n_pos = np.bincount(seg, weights=labels, minlength=len(ptr) - 1)
    np.testing.assert_array_equal(~np.isnan(fast["mrr"]), n_pos > 0)
    np.testing.assert_array_equal(~np.isnan(fast["auc"]), (n_pos > 0) & (n_pos < np.diff(ptr)))


@FAST
@given(st.lists(st.integers(0, 1), min_size=1, max_size=40), st.randoms(use_true_random=False), st.data())
def test_property_candidate_order_does_not_matter_without_ties(labels, rnd, data):
    n = len(labels)
    scores = np.array(data.draw(st.lists(st.floats(-1e6, 1e6), min_size=n, max_size=n, unique=True)))
    labels = np.array(labels)
    perm = list(range(n))
    rnd.shuffle(perm)
    ptr = np.array([0, n, 2 * n])
    fast = impression_metrics(np.concatenate([scores, scores[perm]]), np.concatenate([labels, labels[perm]]), ptr)
    for key in KEYS:
        np.testing.assert_allclose(fast[key][0], fast[key][1], rtol=1e-12, equal_nan=True, err_msg=key)


@settings(FAST, max_examples=60)
@given(csr)
def test_property_negating_scores_mirrors_auc(data):
    scores, labels, ptr = build(*data)
    auc = impression_metrics(scores, labels, ptr)["auc"]
    flipped = impression_metrics(-scores, labels, ptr)["auc"]
    np.testing.assert_allclose(flipped, 1 - auc, rtol=0, atol=1e-12, equal_nan=True)
