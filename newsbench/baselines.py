"""Data-derived reference scorers: rankings computed from the data alone, with no training.

They are the floor a trained model has to clear, and they exist for any dataset, real MIND included. Each scorer
returns one score per candidate of a Behaviors split, in CSR order, ready for `metrics.impression_metrics`.
"""

from __future__ import annotations

import numpy as np

from newsbench.data.dataset import Behaviors

CENTROID_CHUNK_ROWS = 1 << 18   # history rows gathered at once: 2^18 x 384 float32 = 400 MB at most


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32: a centroid of unit vectors weighs every history
    item alike, whatever the norm its encoder happened to give it."""
    v = np.asarray(vectors, dtype=np.float32)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)


def history_centroid_scores(beh: Behaviors, vectors: np.ndarray) -> np.ndarray:
    """score(impression, candidate) = mean of the unit history vectors . unit candidate vector (cosine to the
    history centroid). An impression with an empty history scores every candidate 0 (a tie: AUC 1/2).

    `vectors` (N, D) are news vectors by news index (text embeddings, graph embeddings, ...). Impressions are taken
    in chunks so that at most CENTROID_CHUNK_ROWS history rows are gathered at once.
    """
    unit = unit_rows(vectors)
    m = len(beh)
    hist_len = np.diff(beh.hist_ptr)
    users = np.zeros((m, unit.shape[1]), dtype=np.float32)
    a = 0
    while a < m:
        # the largest b with hist rows [ptr[a], ptr[b]) under the chunk limit (at least one impression)
        b = int(np.searchsorted(beh.hist_ptr, beh.hist_ptr[a] + CENTROID_CHUNK_ROWS, side="right")) - 1
        b = min(max(b, a + 1), m)
        lo, hi = int(beh.hist_ptr[a]), int(beh.hist_ptr[b])
        if hi > lo:
            rows = unit[beh.hist[lo:hi]]
            seg = np.repeat(np.arange(b - a), hist_len[a:b])
            _segment_sum_into(users[a:b], seg, rows)
        a = b
    users /= np.maximum(hist_len, 1)[:, None].astype(np.float32)
    imp_of = np.repeat(np.arange(m), np.diff(beh.cand_ptr))
    scores = np.empty(len(beh.cand), dtype=np.float64)
    for a in range(0, len(scores), CENTROID_CHUNK_ROWS):
        sl = slice(a, a + CENTROID_CHUNK_ROWS)
        scores[sl] = np.einsum("ij,ij->i", users[imp_of[sl]], unit[beh.cand[sl]])
    return scores


def _segment_sum_into(out: np.ndarray, seg: np.ndarray, rows: np.ndarray) -> None:
    """out[s] += sum of rows with seg == s, for sorted seg: reduceat over the starts of each run."""
    starts = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    out[seg[starts]] += np.add.reduceat(rows, starts, axis=0)
