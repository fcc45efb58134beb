"""Modality attribution: how much ranking quality a modality carries, per news category, for any scorer.

A softmax weight of a gate or attention depends on the scale of each projected vector, and concat has no weights at
all, so weights cannot be compared across fusions or with a generator's planted weights. This measure can:

    drop(m, g) = mean over impressions of  AUC_g(full scores) - AUC_g(scores with modality m replaced by its mean)

where AUC_g is an impression's AUC over only its candidates in group g (a news category, or cold / warm), impressions
without both a click and a non-click among those candidates skipped. "Replaced by its mean" means: the modality's
input to the scorer (a model's projected vector of every news, in history and candidates alike; a reference scorer's
signal) is set to its mean over news, so the scorer can no longer tell items apart by it. Any scorer that can produce
ablated scores can be measured the same way: trained fusions, the generator's learnable ceiling, baselines.
"""

from __future__ import annotations

import numpy as np

from newsbench.metrics import impression_metrics


def group_auc(scores: np.ndarray, labels: np.ndarray, cand_ptr: np.ndarray, group: np.ndarray,
              n_groups: int) -> np.ndarray:
    """(n_groups, M) per-impression AUC over each impression's candidates of group g (NaN where undefined).

    `group` (nnz,) int gives each candidate's group in CSR order; a negative group leaves the candidate out."""
    m = len(cand_ptr) - 1
    imp_of = np.repeat(np.arange(m), np.diff(cand_ptr))
    out = np.full((n_groups, m), np.nan)
    for g in range(n_groups):
        keep = group == g
        if not keep.any():
            continue
        ptr = np.r_[0, np.cumsum(np.bincount(imp_of[keep], minlength=m))]
        out[g] = impression_metrics(scores[keep], labels[keep], ptr)["auc"]
    return out


def auc_drop(full: np.ndarray, ablated: dict[str, np.ndarray], labels: np.ndarray, cand_ptr: np.ndarray,
             group: np.ndarray, n_groups: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """({modality: (n_groups,) mean AUC lost}, (n_groups,) impressions counted) for scores in CSR order.

    The mean is over impressions where the group's AUC is defined (the same impressions for full and ablated
    scores: which candidates a group holds does not depend on the scores)."""
    base = group_auc(full, labels, cand_ptr, group, n_groups)
    n = (~np.isnan(base)).sum(axis=1)
    drops = {}
    for m, s in ablated.items():
        d = base - group_auc(s, labels, cand_ptr, group, n_groups)
        with np.errstate(invalid="ignore"):
            drops[m] = np.where(n > 0, np.nansum(d, axis=1) / np.maximum(n, 1), np.nan)
    return drops, n
