"""The default `gnn` modality: an inductive encoder over the TRAINING split's user-news-entity graph.

A news item's vector is one function of its graph neighbourhood, the same for warm and cold news:

    f(n) = normalise( sum_e w_ne E_e )        over the entities e of n (title and abstract),

w_ne = idf(e) / sum over n's entities of idf (idf over all news: entity links are content, not feedback); a news item
without entities gets the shared row `E_empty`. The entity table E is the only trained parameter. A user is one more
hop, the normalised sum of f over the user's history clicks, so training runs the two-hop message passing
entity -> news -> user that the downstream model's user encoder repeats. A news item no one clicked in train lands in
the space of warm news and users by construction; the seed's transductive LightGCN (a free row per news, trained only
through its edges; `--graph-model lightgcn`) leaves cold news apart from it (docs/features.md).

Training (all from the train split; dev behaviours never enter, so dev labels cannot move the bytes):
- clicks: for each clicked candidate of a train impression, a softmax over tau * cos(user, f) against NEGATIVES news
  drawn uniformly from ALL news (cold dev news included: their entities are content), so the encoder cannot learn
  "never clicked" from an item being absent from train;
- entities: for a news-entity link (n, e), a softmax over tau * cos(f(n), E_e) against NEGATIVES random entities,
  so entities that occur together (the planted community pools, or real co-mentions) share a direction.
Mode `clicks` trains the first term only, `entities` the second, `both` (the default) their sum.

The entity rows start from the dataset's entity vectors when `entity_init='data'` and the split ships them (MIND's
100-d TransE `entity_embedding.vec`; the generator writes them too), through a fixed seeded random projection when
the widths differ; else (or for entities without a vector) from N(0, 0.1^2).

The weighted sum is `torch.nn.functional.embedding_bag` (one fused gather-and-sum with a sorted, deterministic
backward); torch_geometric's aggregation layers would take the same sum through a scatter over an edge index, which
on CPU is not deterministic in its backward. Training runs on one torch thread (restored afterwards): the features
are then a function of the data and the seed only, whatever the machine's core count.
"""

from __future__ import annotations

import numpy as np

from newsbench.data.dataset import csr_positions, history_matrix
from newsbench.errors import InputError

INDUCTIVE_VERSION = 1     # cache key: bump when the arithmetic of training changes
DEFAULT_EPOCHS = 3        # passes over the train clicks
NEGATIVES = 4
TEMPERATURE = 10.0        # tau: cosines in [-1, 1] would give a flat softmax
BATCH = 512               # clicks per step
LINKS_PER_CLICK = 1       # news-entity links per click in a step (mode both)
LR = 0.01
HISTORY = 50              # the user encoder's window (RunConfig.history_len's default)
ENTITY_INIT = ("data", "random")


def entity_bags(news) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """CSR bags of every news item over the entity table: (ptr (N+1,), rows (nnz,), weights (nnz,) float32,
    n_rows). Rows 0..E-1 are the entities, row E the shared 'no entity' row; weights are IDF, L1-normalised per
    news."""
    n = len(news)
    n_ent = len(news.entities)
    counts = np.diff(news.entity_ptr).astype(np.int64)
    rows = news.entity_idx.astype(np.int64)
    df = np.bincount(rows, minlength=n_ent)
    idf = np.log((n + 1) / (df[rows] + 1)) + 1.0           # smoothed, always > 0
    empty = counts == 0
    sizes = np.where(empty, 1, counts)
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(sizes, out=ptr[1:])
    out_rows = np.full(ptr[-1], n_ent, np.int64)           # empty news keep the 'no entity' row
    out_w = np.ones(ptr[-1], np.float64)
    dest = csr_positions(ptr, np.flatnonzero(~empty))
    out_rows[dest] = rows
    out_w[dest] = idf
    sums = np.add.reduceat(out_w, ptr[:-1]) if n else np.zeros(0)
    out_w /= np.repeat(sums, sizes)
    return ptr, out_rows, out_w.astype(np.float32), n_ent + 1


def initial_table(entity_vectors: np.ndarray | None, n_rows: int, dim: int, seed: int,
                  entity_init: str = "data") -> tuple[np.ndarray, int]:
    """(n_rows, dim) float32 starting entity table, and how many rows came from the data's vectors.

    Data vectors are centred, projected to `dim` by a seeded Gaussian matrix when their width differs, and scaled
    to the random rows' mean norm (0.1 sqrt(dim)), so both kinds of row start alike in scale."""
    if entity_init not in ENTITY_INIT:
        raise InputError(f"--entity-vectors must be one of {', '.join(ENTITY_INIT)}, got {entity_init!r}")
    rng = np.random.default_rng(seed)
    table = rng.normal(0.0, 0.1, size=(n_rows, dim))
    used = 0
    if entity_init == "data" and entity_vectors is not None and len(entity_vectors):
        vec = np.asarray(entity_vectors, dtype=np.float64)[: n_rows - 1]
        ok = np.isfinite(vec).all(axis=1)
        if ok.any():
            x = vec[ok] - vec[ok].mean(axis=0)
            if x.shape[1] != dim:
                x = x @ rng.normal(0.0, x.shape[1] ** -0.5, size=(x.shape[1], dim))
            norm = np.linalg.norm(x, axis=1).mean()
            if norm > 0:
                table[np.flatnonzero(ok)] = x * (0.1 * np.sqrt(dim) / norm)
                used = int(ok.sum())
    return table.astype(np.float32), used


def _gather_bags(ptr: np.ndarray, rows: np.ndarray, weights: np.ndarray, news: np.ndarray):
    """The bags of `news` only, as embedding_bag inputs (rows, offsets, weights)."""
    sizes = ptr[news + 1] - ptr[news]
    pos = csr_positions(ptr, news)
    offsets = np.zeros(len(news), np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    return rows[pos], offsets, weights[pos]


def _train_clicks(dataset) -> tuple[np.ndarray, np.ndarray]:
    """(impression row, clicked news) of every click of the train split."""
    tr = dataset.train
    if tr is None or len(tr) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    clicked = np.flatnonzero(tr.label == 1)
    imp = np.repeat(np.arange(len(tr)), np.diff(tr.cand_ptr))[clicked]
    return imp.astype(np.int64), tr.cand[clicked].astype(np.int64)


def train_inductive(dataset, mode: str = "both", dim: int = 128, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                    device: str = "cpu", entity_init: str = "data", progress: bool = True
                    ) -> tuple[np.ndarray, list[float], dict]:
    """Train the entity table; returns ((N, dim) float32 unit news vectors, loss per epoch, sizes for the meta)."""
    import torch
    import torch.nn.functional as F

    from newsbench.features.text import progress_bar

    news = dataset.news
    n_news = len(news)
    ptr, rows, weights, n_rows = entity_bags(news)
    table, from_data = initial_table(dataset.entity_vectors, n_rows, dim, seed, entity_init)
    use_clicks = mode in ("clicks", "both")
    use_entities = mode in ("entities", "both") and len(news.entity_idx) > 0
    imp, pos = _train_clicks(dataset) if use_clicks else (np.zeros(0, np.int64), np.zeros(0, np.int64))
    hist = mask = None
    if len(imp):
        hist, mask = history_matrix(dataset.train, HISTORY)
    links = np.flatnonzero(rows < n_rows - 1)          # real news-entity links (bag entries)
    link_news = np.repeat(np.arange(n_news), np.diff(ptr))
    per_epoch = len(imp) if len(imp) else (len(links) if use_entities else 0)
    steps = -(-per_epoch // BATCH) if per_epoch else 0
    sizes = {"n_news": n_news, "n_entities": n_rows - 1, "n_entity_rows_from_data": from_data,
             "n_news_without_entities": int((np.diff(news.entity_ptr) == 0).sum()),
             "n_train_clicks": int(len(imp)), "n_news_entity_links": int(len(links))}

    rng = np.random.default_rng(seed)
    dev = torch.device(device)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        emb = torch.nn.Parameter(torch.from_numpy(table).to(dev))
        opt = torch.optim.Adam([emb], lr=LR)

        def encode(ids: np.ndarray):
            r, o, w = _gather_bags(ptr, rows, weights, ids)
            f = F.embedding_bag(torch.from_numpy(r).to(dev), emb, torch.from_numpy(o).to(dev), mode="sum",
                                per_sample_weights=torch.from_numpy(w).to(dev))
            return F.normalize(f, dim=1)

        losses: list[float] = []
        with progress_bar(f"inductive graph ({device})", epochs * steps, progress) as advance:
            for _ in range(epochs):
                order = rng.permutation(per_epoch)
                total = 0.0
                for a in range(0, per_epoch, BATCH):
                    b = order[a:a + BATCH]
                    parts, loss = [], torch.zeros((), device=dev)
                    if len(imp):
                        neg = rng.integers(0, n_news, size=(len(b), NEGATIVES))
                        parts += [hist[imp[b]].reshape(-1), pos[b], neg.reshape(-1)]
                    if use_entities:
                        lk = links[rng.integers(0, len(links), size=LINKS_PER_CLICK * len(b))]
                        neg_e = rng.integers(0, n_rows - 1, size=(len(lk), NEGATIVES))
                        parts.append(link_news[lk])
                    uniq, inv = np.unique(np.concatenate(parts), return_inverse=True)
                    f = encode(uniq)
                    at = 0
                    if len(imp):
                        h = torch.from_numpy(inv[: hist.shape[1] * len(b)].reshape(len(b), -1)).to(dev)
                        m = torch.from_numpy(mask[imp[b]]).to(dev, torch.float32)
                        at = h.numel()
                        users = F.normalize((f[h] * m[..., None]).sum(1), dim=1)
                        cand = torch.from_numpy(inv[at:at + len(b) * (1 + NEGATIVES)]).to(dev)
                        at += cand.numel()
                        cand = torch.cat([cand[:len(b), None], cand[len(b):].view(len(b), NEGATIVES)], dim=1)
                        s = TEMPERATURE * torch.einsum("bd,bkd->bk", users, f[cand])
                        loss = loss + F.cross_entropy(s, torch.zeros(len(b), dtype=torch.long, device=dev))
                    if use_entities:
                        fn = f[torch.from_numpy(inv[at:at + len(lk)]).to(dev)]
                        ents = torch.from_numpy(np.concatenate([rows[lk][:, None], neg_e], axis=1)).to(dev)
                        s = TEMPERATURE * torch.einsum("bd,bkd->bk", fn, F.normalize(emb[ents], dim=-1))
                        loss = loss + F.cross_entropy(s, torch.zeros(len(lk), dtype=torch.long, device=dev))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    total += float(loss.detach()) * len(b)
                    advance(1)
                losses.append(total / max(per_epoch, 1))
        with torch.no_grad():
            out = np.concatenate([encode(np.arange(a, min(a + 65536, n_news))).cpu().numpy()
                                  for a in range(0, n_news, 65536)]) if n_news else np.zeros((0, dim), np.float32)
    finally:
        torch.set_num_threads(previous)
    return np.ascontiguousarray(out, dtype=np.float32), losses, sizes
