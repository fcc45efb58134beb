"""Per-impression ranking metrics with MIND's official definitions: AUC, MRR and nDCG@k.

Two implementations of the same math:

- reference functions for one impression (`auc_score`, `mrr_score`, `dcg_score`, `ndcg_score`), transcribed from
  the formulas of MIND's official scorer so they can be read against it line by line;
- `impression_metrics`, which computes every impression of a CSR layout at once with segment operations (one global
  sort, `np.bincount` sums), with no Python loop over impressions. It is what evaluation uses; tests check that it
  equals the reference.

Tie rule. The official scorer ranks candidates with `np.argsort(scores)[::-1]`. NumPy's default sort is not stable
and its order among equal scores depends on the CPU: on AVX2/AVX-512 machines NumPy dispatches to a SIMD sort that
reorders ties even in impressions of 5 candidates, and its portable introsort keeps ties in place only up to 16
elements. So "the official tie order" is not one order. Here every ranking uses
`np.argsort(scores, kind="stable")[::-1]`: among equal scores the candidate listed LATER in the impression ranks
first. That is what the official formula gives wherever NumPy's default sort keeps ties in order (the portable
introsort on impressions of <= 16 candidates), it is identical on every machine, and it changes nothing when scores
have no ties. Ties can move MRR and nDCG; AUC does not depend on any order (tied pairs count 1/2).

Undefined values are NaN: AUC when an impression has no click or only clicks, MRR and nDCG when it has no click.
Labels must be 0 or 1 (MIND's dev labels); scores must not be NaN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "auc_score",
    "by_group",
    "dcg_score",
    "impression_metrics",
    "mean_metrics",
    "mrr_score",
    "ndcg_score",
]


def _check_labels_scores(labels: np.ndarray, scores: np.ndarray) -> None:
    if labels.ndim != 1 or scores.ndim != 1 or labels.shape != scores.shape:
        raise ValueError(f"labels and scores must be 1-D of one length; got {labels.shape} and {scores.shape}")
    if labels.size and not np.isin(labels, (0, 1)).all():
        bad = labels[~np.isin(labels, (0, 1))][0]
        raise ValueError(f"labels must be 0 or 1; got {bad} (unlabelled impressions cannot be scored)")
    if np.issubdtype(scores.dtype, np.floating) and np.isnan(scores).any():
        raise ValueError("scores contain NaN")


def _descending(scores: np.ndarray) -> np.ndarray:
    """The official ranking `argsort(scores)[::-1]`, with the stable sort that fixes the tie order (module doc)."""
    return np.argsort(scores, kind="stable")[::-1]


# ---------------------------------------------------------------------------------------------------------------
# Reference: one impression at a time
# ---------------------------------------------------------------------------------------------------------------


def auc_score(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """ROC AUC of one impression: the share of (clicked, not clicked) pairs the scores order correctly, ties 1/2.

    This is the Mann-Whitney form of what the official scorer gets from `sklearn.metrics.roc_auc_score`. It is
    written pair by pair (not through ranks) so that it checks the rank-based `impression_metrics` independently.
    NaN when the impression has no click or only clicks (sklearn raises there).
    """
    y, s = np.asarray(labels), np.asarray(scores)
    _check_labels_scores(y, s)
    pos, neg = s[y == 1], s[y == 0]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    # Compare rather than subtract, so that infinite scores still compare. Count in halves so the ratio is one
    # division of exact integers.
    wins = int(np.count_nonzero(np.greater.outer(pos, neg)))
    ties = int(np.count_nonzero(np.equal.outer(pos, neg)))
    twice_u = 2 * wins + ties
    return twice_u / (2 * pos.size * neg.size)


def mrr_score(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray) -> float:
    """Mean reciprocal rank of one impression: sum over clicks of 1/rank, divided by the number of clicks.

    NaN when the impression has no click.
    """
    y, s = np.asarray(labels), np.asarray(scores)
    _check_labels_scores(y, s)
    if not y.any():
        return float("nan")
    order = _descending(s)
    y_ranked = np.take(y, order)
    rr = y_ranked / (np.arange(len(y_ranked)) + 1)
    return float(np.sum(rr) / np.sum(y_ranked))


def dcg_score(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, k: int) -> float:
    """DCG@k of one impression: sum over the top k of (2^label - 1) / log2(rank + 1)."""
    y, s = np.asarray(labels), np.asarray(scores)
    _check_labels_scores(y, s)
    order = _descending(s)
    y_top = np.take(y, order[:k])
    gains = 2.0**y_top - 1
    discounts = np.log2(np.arange(len(y_top)) + 2)
    return float(np.sum(gains / discounts))


def ndcg_score(labels: Sequence[int] | np.ndarray, scores: Sequence[float] | np.ndarray, k: int) -> float:
    """nDCG@k of one impression: DCG@k of the scores' ranking over DCG@k of the ideal ranking.

    NaN when the impression has no click (the ideal DCG is 0).
    """
    y = np.asarray(labels)
    ideal = dcg_score(y, y, k)
    if ideal == 0:
        return float("nan")
    return dcg_score(y, scores, k) / ideal


# ---------------------------------------------------------------------------------------------------------------
# Vectorised: every impression of a CSR layout at once
# ---------------------------------------------------------------------------------------------------------------


def _check_ptr(ptr: np.ndarray, nnz: int) -> None:
    if ptr.ndim != 1 or ptr.size == 0 or ptr[0] != 0 or ptr[-1] != nnz or (np.diff(ptr) < 0).any():
        raise ValueError(f"ptr must run non-decreasing from 0 to len(scores)={nnz}; got {ptr!r}")


def _safe_divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den == 0, without the 0/0 warning."""
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def _ascending_order(
    scores: np.ndarray, seg: np.ndarray, start: np.ndarray, slot: np.ndarray, max_len: int
) -> np.ndarray:
    """Slots sorted by (impression, score, position in the impression): a stable per-impression argsort.

    Fast path: when the scores are exactly float32 and the impression and position numbers fit in the remaining
    31 bits, the three keys pack into one int64 that is unique per slot, so NumPy's fast (unstable, SIMD) sort
    gives the stable order. It makes `impression_metrics` about 2.5x quicker than with `np.lexsort` (0.32 s vs
    0.88 s for 73,000 impressions x 37 candidates). Otherwise `np.lexsort`.
    """
    pos_bits = max(max_len - 1, 1).bit_length()
    seg_bits = max(int(seg[-1]) if seg.size else 0, 1).bit_length()
    if scores.size and np.issubdtype(scores.dtype, np.floating) and seg_bits + 32 + pos_bits <= 63:
        with np.errstate(over="ignore"):  # beyond float32's range: the equality check below fails, lexsort it is
            as32 = scores.astype(np.float32)
        if scores.dtype.itemsize <= 4 or np.array_equal(as32, scores):
            # + 0.0 turns -0.0 into +0.0 (they are equal scores). Then the usual order-preserving map of IEEE
            # floats onto unsigned integers: negatives get all bits flipped, the rest get the sign bit set.
            bits = (as32 + np.float32(0.0)).view(np.uint32).astype(np.int64)
            bits = np.where(bits >= 1 << 31, bits ^ 0xFFFFFFFF, bits | (1 << 31))
            key = (seg.astype(np.int64) << (32 + pos_bits)) | (bits << pos_bits) | (slot - start)
            # Sorting keeps every impression's slots in its own range, so the low bits (the position within the
            # impression) of the k-th sorted key say which slot comes k-th.
            return start + (np.sort(key) & ((1 << pos_bits) - 1))
    return np.lexsort((scores, seg))


def ascending_order(scores: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """The slots of a CSR layout sorted by (impression, score, position): the one sort `impression_metrics` reads
    its rankings from (read backwards within each impression). Computed once, it serves both `impression_metrics`
    and the beyond-accuracy top lists (newsbench.beyond.top_slots)."""
    scores = np.asarray(scores)
    ptr = np.asarray(ptr, dtype=np.int64)
    lengths = np.diff(ptr)
    seg = np.repeat(np.arange(ptr.size - 1), lengths)
    return _ascending_order(scores, seg, ptr[:-1][seg], np.arange(scores.size), int(lengths.max(initial=0)))


def impression_metrics(
    scores: np.ndarray, labels: np.ndarray, ptr: np.ndarray, ks: Sequence[int] = (5, 10),
    order: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """AUC, MRR and nDCG@k of every impression, equal to the reference functions (same tie rule).

    Args:
        scores: float (nnz,), the model's score of each candidate, impressions laid end to end.
        labels: int (nnz,), 1 = clicked, 0 = not.
        ptr: int (M+1,), impression i is `scores[ptr[i]:ptr[i+1]]`.
        ks: cut-offs for nDCG.
        order: `ascending_order(scores, ptr)` when the caller has it already (one sort for several uses).

    Returns:
        {"auc", "mrr", "ndcg<k>" for k in ks}: float64 (M,), NaN where undefined (module doc).
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    ptr = np.asarray(ptr, dtype=np.int64)
    _check_labels_scores(labels, scores)
    nnz = scores.size
    _check_ptr(ptr, nnz)
    if any(int(k) < 1 for k in ks):
        raise ValueError(f"nDCG cut-offs must be >= 1; got {tuple(ks)}")
    m = ptr.size - 1
    lengths = np.diff(ptr)
    seg = np.repeat(np.arange(m), lengths)  # impression of each slot; sorted, so it survives the sort below
    start = ptr[:-1][seg]  # first slot of each slot's impression
    end = ptr[1:][seg]  # one past its last slot
    slot = np.arange(nnz)

    # One sort: by impression, then score ascending, ties in listed order. Read backwards within each impression
    # it is the reference's `argsort(scores, kind="stable")[::-1]`.
    asc = _ascending_order(scores, seg, start, slot, int(lengths.max(initial=0))) if order is None else order
    s_asc = scores[asc]
    y_asc = labels[asc].astype(np.float64)
    n_pos = np.bincount(seg, weights=labels.astype(np.float64), minlength=m)
    n_neg = lengths - n_pos

    # AUC by Mann-Whitney U: the rank-sum of the clicks, equal scores sharing their average rank. Twice the ranks
    # are integers, so U is exact and AUC is one correctly rounded division, as in the reference.
    new_run = np.ones(nnz, dtype=bool)
    new_run[1:] = (s_asc[1:] != s_asc[:-1]) | (seg[1:] != seg[:-1])
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], nnz)
    run_of_slot = np.cumsum(new_run) - 1
    # Ranks first..last (1-based, within the impression) average to (first + last) / 2.
    twice_rank = (run_start + run_end + 1)[run_of_slot] - 2 * start
    twice_rank_sum = np.bincount(seg, weights=twice_rank * y_asc, minlength=m)
    twice_u = twice_rank_sum - n_pos * (n_pos + 1)
    out: dict[str, np.ndarray] = {"auc": _safe_divide(twice_u, 2 * n_pos * n_neg)}

    # Descending order: slot j of an impression holds the ascending order's slot (last - j).
    y_desc = y_asc[start + end - 1 - slot]
    rank = slot - start + 1
    out["mrr"] = _safe_divide(np.bincount(seg, weights=y_desc / rank, minlength=m), n_pos)

    gain_over_discount = (2.0**y_desc - 1) / np.log2(rank + 1)
    for k in ks:
        dcg = np.bincount(seg, weights=np.where(rank <= k, gain_over_discount, 0.0), minlength=m)
        # Ideal DCG with 0/1 labels: all clicks first, so the sum of 1/log2(r + 1) for r = 1..min(clicks, k).
        ideal_by_clicks = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(1, k + 1) + 1))])
        ideal = ideal_by_clicks[np.minimum(n_pos, k).astype(np.int64)]
        out[f"ndcg{k}"] = _safe_divide(dcg, ideal)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Averages
# ---------------------------------------------------------------------------------------------------------------


def _nanmean(values: np.ndarray) -> float:
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else float("nan")


# Per-impression array names (run records, baselines) -> metric names (tables, JSON).
ARRAY_METRICS = {"auc": "auc", "mrr": "mrr", "ndcg5": "ndcg@5", "ndcg10": "ndcg@10"}


def mean_or_none(values: np.ndarray) -> float | None:
    """Mean over defined (non-NaN) impressions; None (JSON null) when none is defined."""
    defined = values[~np.isnan(values)]
    return float(defined.mean()) if defined.size else None


def subset_ptr(cand_ptr: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """CSR pointer over only the kept candidates (`keep` (nnz,) bool in CSR order) of each impression: with
    scores[keep] and labels[keep] it scores each impression over a subset of its candidates (cold, warm, a
    category); impressions left without a click and a non-click get NaN AUC."""
    m = len(cand_ptr) - 1
    imp = np.repeat(np.arange(m), np.diff(cand_ptr))
    return np.r_[0, np.cumsum(np.bincount(imp[keep], minlength=m))].astype(np.int64)


def subset_metrics(scores: np.ndarray, labels: np.ndarray, cand_ptr: np.ndarray,
                   keep: np.ndarray) -> dict[str, np.ndarray]:
    """`impression_metrics` over each impression's kept candidates only (`subset_ptr`)."""
    return impression_metrics(scores[keep], labels[keep], subset_ptr(cand_ptr, keep))


def mean_metrics(per_impression: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Means over impressions, skipping undefined (NaN) ones.

    The official scorer takes a plain mean over impressions; it never meets an undefined one on MIND's dev split,
    where impressions have clicks, and it would fail (sklearn raises) rather than skip one.

    Keys: "auc", "mrr", "ndcg@<k>" for each "ndcg<k>" in `per_impression`. NaN when no impression is defined.
    """
    means: dict[str, float] = {}
    for key, values in per_impression.items():
        name = f"ndcg@{key[4:]}" if key.startswith("ndcg") and "@" not in key else key
        means[name] = _nanmean(np.asarray(values, dtype=np.float64))
    return means


def by_group(values: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Mean of `values` per group id in [0, n_groups), skipping NaN; NaN for a group with no defined value.

    E.g. per-impression AUC averaged by the category of the clicked item.
    """
    values = np.asarray(values, dtype=np.float64)
    groups = np.asarray(groups)
    if values.shape != groups.shape:
        raise ValueError(f"values and groups must have one shape; got {values.shape} and {groups.shape}")
    if groups.size and (groups.min() < 0 or groups.max() >= n_groups):
        raise ValueError(f"group ids must lie in [0, {n_groups})")
    defined = ~np.isnan(values)
    totals = np.bincount(groups[defined], weights=values[defined], minlength=n_groups)
    counts = np.bincount(groups[defined], minlength=n_groups).astype(np.float64)
    return _safe_divide(totals, counts)


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32: a centroid of unit vectors weighs every history
    item alike, whatever the norm its encoder happened to give it."""
    v = np.asarray(vectors, dtype=np.float32)
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return np.divide(v, norm, out=np.zeros_like(v), where=norm > 0)
