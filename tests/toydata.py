"""A small random Dataset with a planted signal, built in memory, for the model and training tests.

Each user prefers one category; its history is mostly news of that category and it clicks the candidates of that
category. The llm features carry the category (one-hot plus noise), the gnn features are noise, so a model that
reads the features can learn the task quickly. Some news appear only in dev (cold), some users have no history,
and one train impression has clicks only (no negative), to exercise the edge cases.
"""

from __future__ import annotations

import numpy as np

from newsbench.data.dataset import Behaviors, Dataset, News


def _csr(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    flat = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
    return ptr, flat


def _behaviors(rng, n_imp, users, pref, pool_cat, pool, first_id, hist_len, n_cand, no_neg_first=False) -> Behaviors:
    hists, cands, labels, user_codes = [], [], [], []
    for i in range(n_imp):
        u = int(rng.integers(len(pref)))
        user_codes.append(u)
        hists.append(users[u])
        c = rng.choice(pool, size=int(rng.integers(n_cand[0], n_cand[1] + 1)), replace=False)
        lab = (pool_cat[c] == pref[u]).astype(np.int8)
        if lab.sum() == 0:                      # every impression has a click
            lab[0] = 1
        if no_neg_first and i == 0:
            lab[:] = 1
        cands.append(c)
        labels.append(lab)
    hist_ptr, hist = _csr(hists)
    cand_ptr, cand = _csr(cands)
    return Behaviors(
        impression_id=np.arange(first_id, first_id + n_imp, dtype=np.int64),
        user=np.asarray(user_codes, dtype=np.int32),
        time=np.arange(n_imp, dtype=np.int64),
        hist_ptr=hist_ptr, hist=hist, cand_ptr=cand_ptr, cand=cand,
        label=np.concatenate(labels).astype(np.int8),
    )


def make_dataset(n_news: int = 240, n_cat: int = 4, n_users: int = 50, n_train: int = 300, n_dev: int = 120,
                 hist_len: int = 12, n_cand: tuple[int, int] = (4, 10), seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    category = (np.arange(n_news) % n_cat).astype(np.int32)
    n_cold = n_news // 6                               # the last n_cold news only ever appear in dev
    warm = np.arange(n_news - n_cold)
    pref = rng.integers(n_cat, size=n_users)
    users = []
    for u in range(n_users):
        if u % 10 == 0:
            users.append(np.zeros(0, np.int32))        # no history
            continue
        liked = warm[category[warm] == pref[u]]
        users.append(rng.choice(liked, size=int(rng.integers(1, hist_len + 1)), replace=True))
    train = _behaviors(rng, n_train, users, pref, category, warm, 1, hist_len, n_cand, no_neg_first=True)
    dev = _behaviors(rng, n_dev, users, pref, category, np.arange(n_news), n_train + 1, hist_len, n_cand)
    news = News(
        ids=np.asarray([f"N{i}" for i in range(n_news)]),
        category=category,
        subcategory=np.zeros(n_news, np.int32),
        categories=[f"cat{c}" for c in range(n_cat)],
        subcategories=["sub"],
        title=np.asarray([f"title {i}" for i in range(n_news)]),
        abstract=np.asarray([""] * n_news),
        entity_ptr=np.zeros(n_news + 1, np.int64),
        entity_idx=np.zeros(0, np.int32),
        entities=[],
    )
    return Dataset(name=f"toy-s{seed}", fingerprint=f"toy{seed:04d}", news=news,
                   users=np.asarray([f"U{u}" for u in range(n_users)]), train=train, dev=dev)


def make_features(dataset: Dataset, llm_dim: int = 16, gnn_dim: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    n = len(dataset.news)
    llm = rng.normal(0, 0.3, size=(n, llm_dim)).astype(np.float32)
    llm[np.arange(n), dataset.news.category % llm_dim] += 1.0
    gnn = rng.normal(0, 1.0, size=(n, gnn_dim)).astype(np.float32)
    return {"llm": llm, "gnn": gnn}
