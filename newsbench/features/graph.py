"""The `gnn` modality: frozen LightGCN embeddings of news from a graph of the TRAINING split only.

Nodes are users, news and entities (one block each: users first, then news, then entities). Edges:
- user-news: every (user, news) pair of a train history or a train click (label == 1). Dev behaviours never enter,
  so dev labels cannot leak into the features (tests/test_graph_features.py proves the bytes do not move).
- news-entity: the title and abstract entities of every news item, cold dev news included: entity links are content,
  not feedback, and they are how a news item no one clicked in train still gets an embedding.
Mode `clicks` keeps only user-news edges, `entities` only news-entity edges, `both` (the default) both.

torch_geometric's LightGCN is trained with its BPR `recommendation_loss` over the graph's edges (a user's clicked news
against a random news; a news item's entity against a random entity), in shuffled mini-batches, each step
propagating the whole graph. A news item's feature is its final propagated embedding (`get_embedding`), so news
linked only through entities get one; news with no edge at all get a zero vector and are counted.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass

import numpy as np

from newsbench.errors import InputError
from newsbench.features import cache
from newsbench.features.text import progress_bar

MODES = ("clicks", "entities", "both")
# Each step propagates the whole graph, and that propagation, not the batch, is most of a step's cost; so by
# default an epoch is a few large batches (`auto_batch`). On demo (~190k edges, 3 steps an epoch) with these defaults,
# 82% of a news item's 10 nearest neighbours share its planted community (chance 6%); lr 0.05 gave 77%.
STEPS_PER_EPOCH = 3
MIN_BATCH, MAX_BATCH = 1024, 1 << 20      # the upper bound keeps a step's gathered rows within a few GB
DEFAULT_LR = 0.01
GRAPH_VERSION = 2  # 2: deterministic training on CPU


@dataclass
class Graph:
    """The training graph. `src`/`dst` list each undirected edge once (user->news, news->entity) as node ids."""
    n_users: int            # user nodes (0 when mode='entities')
    n_news: int
    n_entities: int         # entity nodes (0 when mode='clicks')
    src: np.ndarray         # (E,) int64 node ids
    dst: np.ndarray         # (E,) int64 node ids
    kind: np.ndarray        # (E,) int8: 0 user-news, 1 news-entity

    @property
    def n_nodes(self) -> int:
        return self.n_users + self.n_news + self.n_entities

    @property
    def news_offset(self) -> int:
        return self.n_users

    def news_degree(self) -> np.ndarray:
        deg = np.bincount(np.concatenate([self.src, self.dst]), minlength=self.n_nodes)
        return deg[self.n_users:self.n_users + self.n_news]


def build_graph(dataset, mode: str = "both") -> Graph:
    """The user/news/entity graph of `dataset`'s train split (see module docstring). Reads no dev behaviour."""
    if mode not in MODES:
        raise InputError(f"graph mode must be one of {', '.join(MODES)}, got {mode!r}")
    news = dataset.news
    n_news = len(news)
    use_clicks = mode in ("clicks", "both")
    use_entities = mode in ("entities", "both")
    n_users = len(dataset.users) if use_clicks else 0
    n_entities = len(news.entities) if use_entities else 0
    parts_src, parts_dst, parts_kind = [], [], []

    if use_clicks and dataset.train is not None and len(dataset.train):
        tr = dataset.train
        user = tr.user.astype(np.int64)
        hist_users = np.repeat(user, np.diff(tr.hist_ptr))
        cand_users = np.repeat(user, np.diff(tr.cand_ptr))
        clicked = tr.label == 1
        u = np.concatenate([hist_users, cand_users[clicked]])
        n = np.concatenate([tr.hist.astype(np.int64), tr.cand.astype(np.int64)[clicked]])
        pairs = np.unique(u * n_news + n)        # sorted: the edge order is a function of the edge set only
        parts_src.append(pairs // n_news)
        parts_dst.append(n_users + pairs % n_news)
        parts_kind.append(np.zeros(len(pairs), np.int8))

    if use_entities and len(news.entity_idx):
        news_of = np.repeat(np.arange(n_news, dtype=np.int64), np.diff(news.entity_ptr))
        pairs = np.unique(news_of * max(n_entities, 1) + news.entity_idx.astype(np.int64))
        parts_src.append(n_users + pairs // n_entities)
        parts_dst.append(n_users + n_news + pairs % n_entities)
        parts_kind.append(np.ones(len(pairs), np.int8))

    cat = (lambda xs, dt: np.concatenate(xs).astype(dt) if xs else np.zeros(0, dt))
    return Graph(n_users, n_news, n_entities, cat(parts_src, np.int64), cat(parts_dst, np.int64),
                 cat(parts_kind, np.int8))


def auto_batch(n_edges: int) -> int:
    """The default BPR batch: STEPS_PER_EPOCH steps an epoch, within [MIN_BATCH, MAX_BATCH]."""
    return int(min(max(-(-n_edges // STEPS_PER_EPOCH), MIN_BATCH), MAX_BATCH))


def _normalised_adjacency(g: Graph, device):
    """D^-1/2 A D^-1/2 of the symmetric graph as a torch sparse CSR matrix, computed once (LightGCN's LGConv would
    renormalise on every layer of every step otherwise)."""
    import torch

    row = np.concatenate([g.src, g.dst])
    col = np.concatenate([g.dst, g.src])
    deg = np.bincount(row, minlength=g.n_nodes).astype(np.float64)
    with np.errstate(divide="ignore"):
        inv = np.where(deg > 0, deg ** -0.5, 0.0)
    val = (inv[row] * inv[col]).astype(np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        adj = torch.sparse_coo_tensor(torch.from_numpy(np.stack([row, col])), torch.from_numpy(val),
                                      (g.n_nodes, g.n_nodes), check_invariants=False).coalesce().to_sparse_csr()
    return adj.to(device)


def _symmetric_convs(layers: int):
    """LightGCN's LGConv layers with a sparse product whose backward reuses the (symmetric) matrix.

    LGConv's spmm differentiates through torch's CSR product, which transposes the matrix on every backward call
    (about 0.4 s per layer on the demo graph, most of a training step). The normalised adjacency is symmetric,
    so the gradient is the same product: dL/dx = A^T g = A g. The layers hold no parameters; only this changes.
    """
    import torch
    from torch_geometric.nn.conv import LGConv

    class _SymSpmm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, adj, x):
            ctx.adj = adj
            return adj @ x

        @staticmethod
        def backward(ctx, grad):
            return None, ctx.adj @ grad

    class SymmetricLGConv(LGConv):
        def message_and_aggregate(self, adj_t, x):
            return _SymSpmm.apply(adj_t, x)

    return torch.nn.ModuleList([SymmetricLGConv(normalize=False) for _ in range(layers)])


def train_lightgcn(g: Graph, dim: int = 128, layers: int = 3, epochs: int = 20, seed: int = 0, device: str = "cpu",
                   batch_size: int | None = None, lr: float = DEFAULT_LR, progress: bool = True):
    """Train LightGCN with BPR on the graph's edges; returns (all node embeddings (n_nodes, dim) float32, losses)."""
    import torch
    from torch_geometric.nn.models import LightGCN

    rng = np.random.default_rng(seed)          # negatives and batch order
    adj = _normalised_adjacency(g, device)
    # Initialise on the CPU under a forked RNG: the init is the same on every device, and the caller's torch RNG
    # state (a training run seeds its own) is left as it was.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # normalize=False: the adjacency above is already normalised; a sparse matrix makes each layer one spmm.
        model = LightGCN(g.n_nodes, dim, layers, normalize=False)
    model.convs = _symmetric_convs(layers)
    model = model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    # Negatives come from the nodes on the same side of the same edge kind (news for user-news, entities for
    # news-entity), so every negative is a real candidate rather than an isolated node.
    pools = [np.unique(g.dst[g.kind == k]) for k in (0, 1)]
    src_t = torch.from_numpy(g.src).to(device)
    dst_t = torch.from_numpy(g.dst).to(device)
    n_edges = len(g.src)
    batch_size = batch_size or auto_batch(n_edges)
    steps = -(-n_edges // batch_size) if n_edges else 0
    # Gathers like emb[s] accumulate their gradients with racy float adds on a multi-threaded CPU, so two fresh
    # trainings drift apart and a resumed grid would not match an uninterrupted one. Deterministic mode orders them.
    # (On CUDA some kernels have no deterministic twin: warn rather than fail; the cache key names the device.)
    prev_det, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=not str(device).startswith("cpu"))
    try:
        emb, losses = _bpr_epochs(model, opt, adj, g, pools, src_t, dst_t, rng, epochs, batch_size, steps, device,
                                  progress)
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    return emb, losses


def _bpr_epochs(model, opt, adj, g, pools, src_t, dst_t, rng, epochs, batch_size, steps, device, progress):
    import torch

    n_edges = len(g.src)
    losses: list[float] = []
    with progress_bar(f"LightGCN ({device})", epochs * steps, progress) as advance:
        for _ in range(epochs):
            perm = rng.permutation(n_edges)
            total = 0.0
            for start in range(0, n_edges, batch_size):
                b = perm[start:start + batch_size]
                kind = g.kind[b]
                neg = np.empty(len(b), np.int64)
                for k, pool in enumerate(pools):
                    m = kind == k
                    if m.any():
                        neg[m] = pool[rng.integers(0, len(pool), int(m.sum()))]
                bt = torch.from_numpy(b).to(device)
                s, d, n = src_t[bt], dst_t[bt], torch.from_numpy(neg).to(device)
                emb = model.get_embedding(adj)
                pos_rank = (emb[s] * emb[d]).sum(-1)
                neg_rank = (emb[s] * emb[n]).sum(-1)
                loss = model.recommendation_loss(pos_rank, neg_rank, node_id=torch.unique(torch.cat([s, d, n])))
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
                advance(1)
            losses.append(total / max(n_edges, 1))
        model.eval()
        with torch.no_grad():
            emb = model.get_embedding(adj).float().cpu().numpy()
    return emb, losses


def graph_key(dataset, mode: str, dim: int, layers: int, epochs: int, seed: int, device: str,
              batch_size: int | None = None, lr: float = DEFAULT_LR) -> tuple[str, Graph]:
    """(cache key, graph): the key hashes the graph's edges themselves, so it cannot depend on dev labels."""
    import torch
    import torch_geometric

    g = build_graph(dataset, mode)
    batch_size = batch_size or auto_batch(len(g.src))
    parts = {"v": GRAPH_VERSION, "edges": cache.array_digest(g.src, g.dst, g.kind),
             "nodes": [g.n_users, g.n_news, g.n_entities], "mode": mode, "dim": dim, "layers": layers,
             "epochs": epochs, "seed": seed, "batch": batch_size, "lr": lr,
             # CPU and CUDA training trajectories differ; a run is a pure function of its config, device included.
             "device": str(device).split(":")[0], "torch": torch.__version__, "pyg": torch_geometric.__version__}
    return cache.feature_key("graph", parts), g


def graph_features(dataset, mode: str = "both", dim: int = 128, layers: int = 3, epochs: int = 20, seed: int = 0,
                   device: str = "cpu", cache_dir: str | os.PathLike | None = None, progress: bool = True,
                   batch_size: int | None = None) -> np.ndarray:
    """The (N_news, dim) float32 graph matrix, row i = news index i, from the cache or trained and cached."""
    return graph_features_with_meta(dataset, mode, dim, layers, epochs, seed, device, cache_dir, progress,
                                    batch_size)[0]


def graph_features_with_meta(dataset, mode: str = "both", dim: int = 128, layers: int = 3, epochs: int = 20,
                             seed: int = 0, device: str = "cpu", cache_dir: str | os.PathLike | None = None,
                             progress: bool = True, batch_size: int | None = None) -> tuple[np.ndarray, dict]:
    """Like `graph_features`, also returning the meta (graph sizes, zero-vector count, losses, seconds, cache hit)."""
    if min(dim, layers + 1, epochs + 1, batch_size or 1) < 1:
        raise InputError(f"graph needs dim >= 1, layers >= 0, epochs >= 0, batch size >= 1 "
                         f"(got {dim}, {layers}, {epochs}, {batch_size})")
    key, g = graph_key(dataset, mode, dim, layers, epochs, seed, device, batch_size)
    batch_size = batch_size or auto_batch(len(g.src))
    hit = cache.load(key, cache_dir)
    if hit is not None:
        matrix, meta = hit
        return matrix, dict(meta, cache_hit=True, path=str(cache.paths(key, cache_dir)[0]))
    t0 = time.perf_counter()
    emb, losses = train_lightgcn(g, dim, layers, epochs, seed, device, batch_size, progress=progress)
    matrix = np.ascontiguousarray(emb[g.news_offset:g.news_offset + g.n_news], dtype=np.float32)
    isolated = g.news_degree() == 0
    matrix[isolated] = 0.0       # never propagated: their row is only the random init, which means nothing
    seconds = time.perf_counter() - t0
    meta = {"mode": mode, "dim": dim, "layers": layers, "epochs": epochs, "seed": seed, "batch_size": batch_size,
            "lr": DEFAULT_LR, "device": device, "n_user_nodes": g.n_users, "n_news": g.n_news,
            "n_entity_nodes": g.n_entities, "n_user_news_edges": int((g.kind == 0).sum()),
            "n_news_entity_edges": int((g.kind == 1).sum()), "n_zero": int(isolated.sum()),
            "losses": [round(x, 6) for x in losses], "seconds": seconds,
            "identity": f"torch_geometric LightGCN dim={dim} layers={layers} epochs={epochs} seed={seed} mode={mode}"}
    path = cache.save(key, matrix, meta, cache_dir)
    return matrix, dict(cache.read_meta(key, cache_dir) or meta, cache_hit=False, path=str(path))
