"""Beyond-accuracy metrics (newsbench.beyond) against direct transcriptions of their formulas (docs/metrics.md):
loops over one impression's top list, its pairs and its history, written from the definitions and sharing no code
with the vectorised implementation. Hand-made impressions (ties, fewer than k candidates, empty histories, zero
vectors), then random ones (hypothesis)."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from newsbench import beyond
from newsbench.metrics import ndcg_score, unit_rows


# ------------------------------------------------------------------------------------------ transcriptions
def ref_top(scores, k):
    """Positions of the top k: score descending; among equal scores the later-listed candidate first."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], -i))[:k]


def ref_cos(a, b):
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(x * x for x in b))
    if na == 0 or nb == 0:
        return 0.0
    return sum(x * y for x, y in zip(a, b)) / (na * nb)


def ref_metrics(scores, news, history, k, category, novelty, vectors):
    """One impression's metrics from the formulas: candidates `news`, their `scores`, the user's `history`."""
    top = [news[i] for i in ref_top(scores, k)]
    n = len(top)
    pairs = [(top[i], top[j]) for i in range(n) for j in range(i + 1, n)]
    out = {}
    out["ild_cat"] = (sum(category[a] != category[b] for a, b in pairs) / len(pairs)) if pairs else math.nan
    out["ild_emb"] = (1 - sum(ref_cos(vectors[a], vectors[b]) for a, b in pairs) / len(pairs)) if pairs else math.nan
    out["novelty"] = sum(novelty[i] for i in top) / n
    if history:
        out["unexp"] = sum(1 - ref_cos(vectors[i], vectors[h]) for i in top for h in history) / (n * len(history))
        cats = sorted(set(category))
        p = [sum(category[h] == c for h in history) / len(history) for c in cats]
        q = [sum(category[i] == c for i in top) / n for c in cats]
        js = 0.0
        for a, b in zip(p, q):
            mid = (a + b) / 2
            if a > 0:
                js += 0.5 * a * math.log2(a / mid)
            if b > 0:
                js += 0.5 * b * math.log2(b / mid)
        out["calib"] = js
    else:
        out["unexp"] = out["calib"] = math.nan
    # normalised: min and max of the list's mean over every list of n news the candidates allow (EB-NeRD's
    # definition, exhaustive), the resolution of beyond.NORM_TOL counting as a range of 0
    # category diversity over every list of n of the candidates (EB-NeRD samples such lists; here all of them): a
    # list's different-category pairs depend only on its count per category, so every count vector the candidates
    # allow stands for every list with those counts
    avail = [sum(category[i] == c for i in news) for c in sorted({category[i] for i in news})]
    ilds = [math.comb(n, 2) - sum(math.comb(q, 2) for q in counts) for counts in ref_compositions(avail, n)]
    lo, hi = (min(ilds), max(ilds)) if n >= 2 else (0, 0)
    differ = sum(category[a] != category[b] for a, b in pairs)
    out["ild_cat_norm"] = (differ - lo) / (hi - lo) if hi > lo else math.nan
    per_item = {"novelty_norm": {i: novelty[i] for i in news}}
    if history:
        per_item["unexp_norm"] = {i: sum(1 - ref_cos(vectors[i], vectors[h]) for h in history) / len(history)
                                  for i in news}
    else:
        out["unexp_norm"] = math.nan
    for key, val in per_item.items():
        lo, hi = ref_extremes([val[i] for i in news], n)
        mean = sum(val[i] for i in top) / n
        tol = beyond.NORM_TOL[key[:-5]]
        out[key] = (mean - lo) / (hi - lo) if hi - lo > tol else math.nan
    return out


def ref_compositions(avail, n):
    """Every tuple (q_1, ..., q_c) with 0 <= q_j <= avail[j] and sum n."""
    if not avail:
        if n == 0:
            yield ()
        return
    for q in range(min(avail[0], n) + 1):
        for rest in ref_compositions(avail[1:], n - q):
            yield (q, *rest)


def ref_extremes(values, n):
    """(min, max) over the n-subsets of `values` of their mean: every subset when there are few, else the n
    smallest and the n largest (which is what the minimum and the maximum of a mean of per-item values are)."""
    if math.comb(len(values), n) <= 3000:
        means = [sum(c) / n for c in itertools.combinations(values, n)]
        return min(means), max(means)
    srt = sorted(values)
    return sum(srt[:n]) / n, sum(srt[-n:]) / n


def context(impressions, category, novelty, vectors, users=None):
    """A DevContext over hand-made impressions [(news, scores, history)], users 0..M-1 unless given."""
    cand = np.array([c for news, _, _ in impressions for c in news], dtype=np.int64)
    ptr = np.cumsum([0] + [len(news) for news, _, _ in impressions])
    hist = np.array([h for _, _, hs in impressions for h in hs], dtype=np.int64)
    hptr = np.cumsum([0] + [len(hs) for _, _, hs in impressions])
    users = np.arange(len(impressions)) if users is None else np.asarray(users)
    ctx = beyond.DevContext(cand, ptr, users, hptr, hist, np.asarray(category), np.asarray(novelty, dtype=float),
                            unit_rows(np.asarray(vectors, dtype=np.float64)))
    scores = np.array([s for _, ss, _ in impressions for s in ss], dtype=np.float32)
    return ctx, scores, ptr


def check_all(impressions, k, category, novelty, vectors):
    ctx, scores, ptr = context(impressions, category, novelty, vectors)
    got = ctx.values(beyond.top_slots(scores, ptr, k))
    for i, (news, ss, hs) in enumerate(impressions):
        want = ref_metrics(list(np.float32(ss)), news, hs, k, category, novelty, vectors)
        for key, v in want.items():
            assert got[key][i] == pytest.approx(v, abs=tolerance(key), nan_ok=True), (key, i)
    return got


def tolerance(key):
    # a normalised value divides float32 rounding (1e-7) by the candidates' range
    return 1e-4 if key.endswith("_norm") else 1e-5


CAT = [0, 0, 1, 2, 1, 0]
NOV = [1.0, 2.0, 3.0, 0.5, 4.0, 2.5]
VEC = [[1, 0, 0], [2, 0, 0], [0, 1, 0], [0, 0, 3], [1, 1, 0], [0, 0, 0]]      # news 5: an empty title's zero row


# ------------------------------------------------------------------------------------------------- ranking
def test_top_slots_break_ties_as_ndcg_does():
    scores = np.array([0.5, 0.9, 0.5, 0.9, 0.1], dtype=np.float32)
    top = beyond.top_slots(scores, np.array([0, 5]), 3)
    assert top.tolist() == [[3, 1, 2]]                  # the later of two equal scores first
    assert [int(i) for i in top[0]] == ref_top(list(scores), 3)
    # nDCG@k over the same top list: a click on the first-listed 0.9 is at rank 2
    labels = np.array([0, 1, 0, 0, 0])
    assert ndcg_score(labels, scores, 3) == pytest.approx(1 / math.log2(3))


def test_top_slots_pad_impressions_with_fewer_than_k_candidates():
    scores = np.array([0.2, 0.7, 0.1, 0.4, 0.3], dtype=np.float32)
    top = beyond.top_slots(scores, np.array([0, 2, 2, 5]), 4)      # 2 candidates, none, 3
    assert top.tolist() == [[1, 0, -1, -1], [-1, -1, -1, -1], [3, 4, 2, -1]]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 3), min_size=0, max_size=12), min_size=1, max_size=6),
       st.integers(1, 10))
def test_top_slots_match_transcription(imps, k):
    scores = np.array([s for imp in imps for s in imp], dtype=np.float32)
    ptr = np.cumsum([0] + [len(imp) for imp in imps])
    top = beyond.top_slots(scores, ptr, k)
    for i, imp in enumerate(imps):
        want = [int(ptr[i]) + j for j in ref_top(imp, k)]
        assert top[i].tolist() == want + [-1] * (k - len(want))


# ------------------------------------------------------------------------------------------- hand-made
def test_category_diversity_by_hand():
    # top 3 of categories (0, 0, 1): 2 of 3 pairs differ
    got = check_all([([0, 1, 2], [3, 2, 1], [])], 3, CAT, NOV, VEC)
    assert got["ild_cat"][0] == pytest.approx(2 / 3)


def test_one_candidate_leaves_pairwise_metrics_undefined():
    got = check_all([([2], [1.0], [0])], 5, CAT, NOV, VEC)
    assert math.isnan(got["ild_cat"][0]) and math.isnan(got["ild_emb"][0])
    assert got["novelty"][0] == 3.0


def test_embedding_diversity_by_hand():
    # news 0 and 1 point the same way (cosine 1), news 3 is orthogonal to both: mean cosine of 3 pairs = 1/3
    got = check_all([([0, 1, 3], [3, 2, 1], [])], 3, CAT, NOV, VEC)
    assert got["ild_emb"][0] == pytest.approx(1 - 1 / 3)


def test_zero_vector_counts_as_cosine_zero():
    got = check_all([([0, 5], [2, 1], [5])], 2, CAT, NOV, VEC)
    assert got["ild_emb"][0] == pytest.approx(1.0)
    assert got["unexp"][0] == pytest.approx(1.0)


def test_unexpectedness_by_hand_and_empty_history():
    # top (0, 2); history (1, 4): cos(0,1)=1, cos(0,4)=1/sqrt2, cos(2,1)=0, cos(2,4)=1/sqrt2
    got = check_all([([0, 2], [2, 1], [1, 4]), ([0, 2], [2, 1], [])], 5, CAT, NOV, VEC)
    assert got["unexp"][0] == pytest.approx(1 - (1 + 2 / math.sqrt(2)) / 4)
    assert math.isnan(got["unexp"][1]) and math.isnan(got["calib"][1])


def test_calibration_by_hand():
    # history all category 0; top (0, 2) half 0, half 1: JS = 1/2 log2(1/0.75) + 1/2 (1/2 log2(2/3) + 1/2 log2 2)
    got = check_all([([0, 2], [2, 1], [0, 1]), ([0, 1], [2, 1], [0]), ([3, 2], [2, 1], [0, 1])], 5, CAT, NOV, VEC)
    want = 0.5 * math.log2(1 / 0.75) + 0.5 * (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(2.0))
    assert got["calib"][0] == pytest.approx(want)
    assert got["calib"][1] == pytest.approx(0.0, abs=1e-12)        # same distribution
    assert got["calib"][2] == pytest.approx(1.0)                   # disjoint categories


def test_ties_and_fewer_than_k_in_one_batch():
    imps = [([0, 1, 2, 3], [1, 1, 1, 1], [2]),            # all tied: the last listed first
            ([4, 5], [0.3, 0.3], [0, 3]),                  # 2 candidates, k = 3
            ([1, 3, 4, 0, 2, 5], [5, 1, 5, 2, 2, 0], [4, 4])]
    check_all(imps, 3, CAT, NOV, VEC)


# --------------------------------------------------------------------------- normalised (EB-NeRD's min-max)
def test_normalised_novelty_by_hand():
    # candidates 0..4, novelty 1, 2, 3, 0.5, 4; top 2 = news 2 and 1 (mean 2.5); least novel pair (3, 0): 0.75,
    # most novel pair (4, 2): 3.5
    got = check_all([([0, 1, 2, 3, 4], [1, 4, 5, 2, 3], [0])], 2, CAT, NOV, VEC)
    assert got["novelty_norm"][0] == pytest.approx((2.5 - 0.75) / (3.5 - 0.75))


def test_normalised_category_diversity_by_hand():
    cat = [0, 0, 0, 1, 2, 0]
    # candidates 0..4 (categories 0, 0, 0, 1, 2), k = 3: the most even list (0, 1, 2) has no same-category pair,
    # the most concentrated (0, 0, 0) has 3; the top (news 4, 1, 0: categories 2, 0, 0) has 1 -> (3 - 1) / 3
    got = check_all([([0, 1, 2, 3, 4], [1, 2, 0, 0, 3], [])], 3, cat, NOV, VEC)
    assert got["ild_cat_norm"][0] == pytest.approx(2 / 3)
    # only two of category 0 among the candidates: at most 1 same pair; the top (news 5, 0, 4: categories 0, 0, 2)
    # is the least diverse list, the top (4, 3, 0: categories 2, 1, 0) the most
    got = check_all([([0, 3, 4, 5], [2, 0, 0, 3], []), ([0, 3, 4, 5], [1, 2, 3, 0], [])], 3, cat, NOV, VEC)
    assert got["ild_cat_norm"].tolist() == [0.0, 1.0]
    # every candidate of one category, or k covering them all: no range, no value
    got = check_all([([0, 1, 2], [3, 2, 1], []), ([0, 3, 4], [1, 2, 3], [])], 3, cat, NOV, VEC)
    assert np.isnan(got["ild_cat_norm"]).all()


def test_normalised_values_reach_0_and_1_at_the_extreme_lists():
    nov = [5.0, 1.0, 3.0, 2.0, 4.0, 0.0]
    imps = [([0, 1, 2, 3, 4, 5], [9, 1, 2, 1, 8, 0], [2]),        # top 2 = news 0, 4: the two most novel
            ([0, 1, 2, 3, 4, 5], [0, 8, 1, 9, 2, 7], [2])]        # top 3 = news 3, 1, 5: the three least
    for k, i, want in ((2, 0, 1.0), (3, 1, 0.0)):
        got = check_all(imps, k, CAT, nov, VEC)
        assert got["novelty_norm"][i] == want


def test_normalised_values_with_ties():
    # novelty tied at the edges of the ranges: 2, 2, 2, 5, 5; top 2 = news 1 and 3 (2 and 5): mean 3.5 of [2, 5]
    nov = [2.0, 2.0, 2.0, 5.0, 5.0, 0.0]
    got = check_all([([0, 1, 2, 3, 4], [1, 5, 2, 4, 3], [0]),
                     ([0, 1, 2], [3, 2, 1], [0])], 2, CAT, nov, VEC)      # all candidates tied: no range
    assert got["novelty_norm"][0] == pytest.approx(0.5)
    assert math.isnan(got["novelty_norm"][1])
    # unexpectedness tied: news 0 and 1 point the same way, so are equally far from any history
    # from a history of news 0: distances 0 (news 0, 1) and 1 - 1/sqrt2 (news 4); k = 1
    got = check_all([([0, 1], [2, 1], [3]), ([0, 1, 4], [3, 2, 1], [0]), ([0, 1, 4], [1, 2, 3], [0])], 1, CAT,
                    NOV, VEC)
    assert math.isnan(got["unexp_norm"][0])
    assert got["unexp_norm"][1] == pytest.approx(0.0, abs=1e-6) and got["unexp_norm"][2] == pytest.approx(1.0)


def test_normalised_values_undefined_with_k_or_fewer_candidates_or_no_history():
    imps = [([0, 2], [2, 1], [1]),                  # 2 candidates, k = 3: the list is all of them
            ([0, 2, 4], [1, 2, 3], [1]),            # exactly k
            ([0, 2, 3, 4], [1, 2, 3, 4], []),       # no history: unexpectedness undefined, novelty not
            ([0, 2, 3, 4], [1, 2, 3, 4], [1])]
    got = check_all(imps, 3, CAT, NOV, VEC)
    for i in (0, 1):
        assert math.isnan(got["novelty_norm"][i]) and math.isnan(got["unexp_norm"][i])
    assert math.isnan(got["unexp_norm"][2]) and math.isfinite(got["novelty_norm"][2])
    # top 3 = news 4, 3, 2 of 0, 2, 3, 4; history news 1 = (1, 0, 0): distances 0, 1, 1, 1 - 1/sqrt2
    d = {0: 0.0, 2: 1.0, 3: 1.0, 4: 1 - 1 / math.sqrt(2)}
    lo, hi = (d[0] + d[4] + d[2]) / 3, (d[2] + d[3] + d[4]) / 3
    assert got["unexp_norm"][3] == pytest.approx(((d[4] + d[3] + d[2]) / 3 - lo) / (hi - lo))


def test_normalised_summaries_and_arrays_recorded():
    news = list(range(12))
    imps = [(news, [(7 * i) % 12 for i in news], [0, 3]), (news[:8], news[:8], [5]), (news[:4], news[:4], [1])]
    ctx, scores, ptr = context(imps, [i % 3 for i in news], [float(i % 5) for i in news], np.eye(12))
    arrays = beyond.run_arrays(scores, None, context=ctx)
    s = beyond.summary(arrays)["metrics"]
    for k in beyond.KS:
        for name in beyond.NORMALISED:
            values = arrays[beyond.array_names(k)[f"{name}@{k}"]]
            assert values.shape == (3,) and math.isnan(values[2])             # 4 candidates: no range
            assert s[f"{name}@{k}"] == pytest.approx(float(np.nanmean(values)))
    assert set(beyond.NORMALISED) <= set(beyond.PER_IMPRESSION)


def test_novelty_counts_users_with_add_one_smoothing():
    # train: user 0 clicks news 1 twice (two impressions), user 1 clicks news 1 and 2; 3 users in train
    train = SimpleNamespace(user=np.array([0, 0, 1, 2]), cand_ptr=np.array([0, 2, 4, 6, 7]),
                            cand=np.array([1, 0, 1, 3, 2, 1, 0]), label=np.array([1, 0, 1, 0, 1, 1, 0]))
    nov = beyond.novelty_values(train, 4)
    n_users = 3
    clicked_by = {0: set(), 1: {0, 1}, 2: {1}, 3: set()}
    for i in range(4):
        assert nov[i] == pytest.approx(-math.log2((len(clicked_by[i]) + 1) / (n_users + 1)))


def test_coverage_by_hand():
    ctx, scores, ptr = context([([0, 1, 2], [3, 2, 1], []), ([0, 3, 4], [3, 2, 1], [])], CAT, NOV, VEC)
    value, _ = ctx.coverage(beyond.top_slots(scores, ptr, 1))
    assert value == pytest.approx(1 / 5)                   # news 0 tops both lists; 5 distinct candidates
    value, _ = ctx.coverage(beyond.top_slots(scores, ptr, 2))
    assert value == pytest.approx(3 / 5)


def test_coverage_replicates_match_transcription():
    rng = np.random.default_rng(3)
    imps, users = [], []
    for i in range(14):
        news = list(rng.choice(30, size=rng.integers(1, 8), replace=False))
        imps.append((news, list(rng.integers(0, 4, size=len(news))), []))
        users.append(int(rng.integers(0, 6)) * 7)           # 6 users with sparse codes, several impressions each
    cat, nov, vec = [i % 4 for i in range(30)], [0.0] * 30, np.eye(30)
    ctx, scores, ptr = context(imps, cat, nov, vec, users)
    k = 3
    _, boot = ctx.coverage(beyond.top_slots(scores, ptr, k))
    codes = {u: j for j, u in enumerate(sorted(set(users)))}
    draws = np.random.default_rng(beyond.COVERAGE_SEED).integers(0, len(codes), size=(beyond.COVERAGE_RESAMPLES,
                                                                                       len(codes)))
    for b in range(0, beyond.COVERAGE_RESAMPLES, 37):
        drawn = set(draws[b].tolist())
        shown, pool = set(), set()
        for (news, ss, _), u in zip(imps, users):
            if codes[u] in drawn:
                pool |= set(news)
                shown |= {news[j] for j in ref_top(list(np.float32(ss)), k)}
        assert boot[b] == pytest.approx(len(shown) / len(pool))


# ---------------------------------------------------------------------------------------------- random
@settings(max_examples=40, deadline=None)
@given(st.data())
def test_random_impressions_match_transcription(data):
    n_news = data.draw(st.integers(2, 9))
    cat = data.draw(st.lists(st.integers(0, 3), min_size=n_news, max_size=n_news))
    nov = data.draw(st.lists(st.floats(0, 10), min_size=n_news, max_size=n_news))
    vec = data.draw(st.lists(st.lists(st.integers(-2, 2), min_size=3, max_size=3), min_size=n_news,
                             max_size=n_news))
    imps = []
    for _ in range(data.draw(st.integers(1, 5))):
        news = data.draw(st.lists(st.integers(0, n_news - 1), min_size=1, max_size=n_news, unique=True))
        scores = data.draw(st.lists(st.integers(0, 3), min_size=len(news), max_size=len(news)))    # ties
        hist = data.draw(st.lists(st.integers(0, n_news - 1), max_size=6))
        imps.append((news, scores, hist))
    check_all(imps, data.draw(st.sampled_from(beyond.KS + (1, 2))), cat, nov, vec)


def test_dataset_run_arrays_match_transcription(tiny_dir):
    from newsbench.data.load import load_training_data

    ds = load_training_data(tiny_dir, None, "error")
    beh = ds.dev
    scores = np.random.default_rng(0).integers(0, 5, size=len(beh.cand)).astype(np.float32)   # many ties
    arrays = beyond.run_arrays(scores, ds)
    nov = beyond.novelty_values(ds.train, len(ds.news))
    vec = beyond.embedding_vectors(ds.news).astype(np.float64)
    cat = ds.news.category.tolist()
    for i in range(0, len(beh), max(1, len(beh) // 25)):
        a, b = beh.cand_ptr[i], beh.cand_ptr[i + 1]
        hist = beh.hist[beh.hist_ptr[i]:beh.hist_ptr[i + 1]].tolist()
        for k in beyond.KS:
            want = ref_metrics(list(scores[a:b]), beh.cand[a:b].tolist(), hist, k, cat, nov, vec)
            for stem, v in want.items():
                assert arrays[f"{stem}{k}"][i] == pytest.approx(v, abs=tolerance(stem), nan_ok=True), (stem, k, i)
    for k in beyond.KS:
        shown = {int(beh.cand[beh.cand_ptr[i] + j]) for i in range(len(beh))
                 for j in ref_top(list(scores[beh.cand_ptr[i]:beh.cand_ptr[i + 1]]), k)}
        assert arrays[f"coverage{k}"][0] == pytest.approx(len(shown) / len(set(beh.cand.tolist())))
        assert arrays[f"coverage{k}_boot"].shape == (beyond.COVERAGE_RESAMPLES,)
