"""Modality attribution: how much ranking quality a modality carries, per news category, for any scorer.

A softmax weight of a gate or attention depends on the scale of each projected vector, and concat has no weights at
all, so weights cannot be compared across fusions or with a generator's planted weights. This measure can:

    drop(m, g) = mean over impressions of  AUC_g(full scores) - AUC_g(scores with modality m replaced by its mean)

where AUC_g is an impression's AUC over only its candidates in group g (a news category, or cold / warm), impressions
without both a click and a non-click among those candidates skipped. "Replaced by its mean" means: the modality's
input to the scorer (a model's projected vector of every news, in history and candidates alike; a reference scorer's
signal) is set to its mean over news, so the scorer can no longer tell items apart by it. Any scorer that can produce
ablated scores can be measured the same way: trained fusions, the generator's learnable ceiling, baselines.

This module is the measure, on score arrays (numpy only); a trained model's ablated scores are made where it is
scored, newsbench.train (`ablated_scores`, `model_attribution`).
"""

from __future__ import annotations

import numpy as np

from newsbench.metrics import subset_metrics


def group_auc(scores: np.ndarray, labels: np.ndarray, cand_ptr: np.ndarray, group: np.ndarray,
              n_groups: int) -> np.ndarray:
    """(n_groups, M) per-impression AUC over each impression's candidates of group g (NaN where undefined).

    `group` (nnz,) int gives each candidate's group in CSR order; a negative group leaves the candidate out."""
    out = np.full((n_groups, len(cand_ptr) - 1), np.nan)
    for g in range(n_groups):
        keep = group == g
        if keep.any():
            out[g] = subset_metrics(scores, labels, cand_ptr, keep)["auc"]
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


# ----------------------------------------------------------------------------------------------------------------
# A trained model's attribution

def candidate_groups(dataset) -> dict[str, tuple[np.ndarray, int, list[str]]]:
    """The groupings of dev candidates attribution reports: {"category": (group of each candidate, n, names),
    "side": (0 cold / 1 warm, 2, ["cold", "warm"]), "all": (zeros, 1, ["all"])}."""
    beh, news = dataset.dev, dataset.news
    cold = ~dataset.seen_in_train()[beh.cand]
    return {
        "all": (np.zeros(len(beh.cand), dtype=np.int64), 1, ["all"]),
        "side": (np.where(cold, 0, 1), 2, ["cold", "warm"]),
        "category": (news.category[beh.cand].astype(np.int64), len(news.categories), list(news.categories)),
    }


def drops_record(full: np.ndarray, ablated: dict[str, np.ndarray], dataset) -> dict:
    """The record's `attribution` entry for dev scores `full` and, per modality, the scores with that modality
    ablated: {"modalities", "all": {m: drop}, "cold": {m: drop}, "warm": {m: drop}, "category": {cat: {m: drop}},
    "n": {"all", "cold", "warm", "category": {cat: n}}} (n: impressions counted; categories with n = 0 left out)."""
    labels = dataset.dev.label.astype(np.int64)
    ptr = dataset.dev.cand_ptr
    out: dict = {"modalities": list(ablated), "n": {}}

    def clean(x) -> float | None:
        return None if np.isnan(x) else float(x)

    for key, (group, n_groups, names) in candidate_groups(dataset).items():
        drops, n = auc_drop(full, ablated, labels, ptr, group, n_groups)
        per = {name: {m: clean(drops[m][g]) for m in ablated} for g, name in enumerate(names) if n[g] > 0}
        counts = {name: int(n[g]) for g, name in enumerate(names) if n[g] > 0}
        if key == "category":
            out["category"], out["n"]["category"] = per, counts
        else:
            for name in names:
                out[name] = per.get(name, {m: None for m in ablated})
                out["n"][name] = counts.get(name, 0)
    return out
