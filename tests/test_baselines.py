"""Data-derived baselines against a direct per-impression loop."""

import numpy as np

from newsbench import baselines
from newsbench.data.dataset import Behaviors


def _behaviors(rng, m=40, n_news=30):
    hist_len = rng.integers(0, 6, size=m)
    cand_len = rng.integers(2, 7, size=m)
    hist_ptr = np.r_[0, np.cumsum(hist_len)]
    cand_ptr = np.r_[0, np.cumsum(cand_len)]
    return Behaviors(
        impression_id=np.arange(1, m + 1), user=np.zeros(m, np.int32), time=np.zeros(m, np.int64),
        hist_ptr=hist_ptr, hist=rng.integers(0, n_news, hist_ptr[-1]).astype(np.int32),
        cand_ptr=cand_ptr, cand=rng.integers(0, n_news, cand_ptr[-1]).astype(np.int32),
        label=(rng.random(cand_ptr[-1]) < 0.3).astype(np.int8))


def test_history_centroid_equals_a_direct_loop(monkeypatch):
    rng = np.random.default_rng(0)
    beh = _behaviors(rng)
    vec = rng.normal(size=(30, 7)).astype(np.float32)
    vec[3] = 0.0                                    # a zero vector stays zero instead of dividing by 0
    monkeypatch.setattr(baselines, "CENTROID_CHUNK_ROWS", 5)   # force many chunks
    got = baselines.history_centroid_scores(beh, vec)
    norm = np.linalg.norm(vec.astype(np.float64), axis=1, keepdims=True)
    unit = np.where(norm > 0, vec / np.where(norm > 0, norm, 1), 0.0)
    want = []
    for i in range(len(beh)):
        h = beh.hist[beh.hist_ptr[i]:beh.hist_ptr[i + 1]]
        u = unit[h].mean(axis=0) if len(h) else np.zeros(7)
        want += [float(unit[c] @ u) for c in beh.cand[beh.cand_ptr[i]:beh.cand_ptr[i + 1]]]
    np.testing.assert_allclose(got, want, atol=1e-5)
    empty = np.flatnonzero(np.diff(beh.hist_ptr) == 0)
    assert len(empty) and all((got[beh.cand_ptr[i]:beh.cand_ptr[i + 1]] == 0).all() for i in empty)


def test_auc_drop_matches_a_direct_loop():
    from newsbench.attribution import auc_drop
    from newsbench.metrics import auc_score

    rng = np.random.default_rng(1)
    beh = _behaviors(rng, m=60)
    group = rng.integers(-1, 3, size=len(beh.cand))
    full = rng.normal(size=len(beh.cand))
    ablated = {"x": np.round(full + rng.normal(size=len(full)), 1)}     # rounding makes ties
    drops, n = auc_drop(full, ablated, beh.label, beh.cand_ptr, group, 3)
    for g in range(3):
        diffs = []
        for i in range(len(beh)):
            sl = slice(beh.cand_ptr[i], beh.cand_ptr[i + 1])
            keep = group[sl] == g
            y = beh.label[sl][keep]
            if y.any() and not y.all():
                diffs.append(auc_score(y, full[sl][keep]) - auc_score(y, ablated["x"][sl][keep]))
        assert n[g] == len(diffs)
        np.testing.assert_allclose(drops["x"][g], np.mean(diffs) if diffs else np.nan)
