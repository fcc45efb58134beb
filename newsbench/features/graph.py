"""The `gnn` modality: frozen graph embeddings of news from the TRAINING split only, by one of two graph models.

- `inductive` (the default, newsbench/features/inductive.py): a news vector is a function of its entities, trained
  with the users' train clicks, so warm and cold news land in one space.
- `lightgcn` (the seed's, this module): transductive LightGCN over the user/news/entity graph below.
`graph_features_with_meta` dispatches on the model, caches the matrix and adds the diagnostics (`diagnostics`) to its
meta. The rest of this docstring is LightGCN's.

Nodes are users, news and entities (one block each: users first, then news, then entities). Edges:
- user-news: every (user, news) pair of a train history or a train click (label == 1). Dev behaviours never enter,
  so dev labels cannot leak into the features (tests/test_graph_features.py proves the bytes do not move).
- news-entity: the title and abstract entities of every news item, cold dev news included: entity links are content,
  not feedback, and they are how a news item no one clicked in train still gets an embedding.
Mode `clicks` keeps only user-news edges, `entities` only news-entity edges, `both` (the default) both.

LightGCN (torch_geometric's model: its initialisation, propagation and BPR `recommendation_loss`) is trained over
the graph's edges (a user's clicked news against a random news; a news item's entity against a random entity), three
shuffled batches an epoch (each taken in source-node order), each step propagating the whole graph. The step's
gradient is computed in closed form with sparse products (_BPRStep; tested against autograd through
torch_geometric's LightGCN); on CPU the products run as row blocks on a thread pool, one per torch thread (_SpMM).
A news item's feature is its final propagated embedding, so news linked only through entities get one; news with no
edge at all get a zero vector and are counted.
"""

from __future__ import annotations

import os
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import numpy as np

from newsbench.errors import InputError
from newsbench.features import cache
from newsbench.features.text import progress_bar
from newsbench.metrics import unit_rows
from newsbench.options import GRAPH_EPOCHS

MODES = ("clicks", "entities", "both")
# Each step propagates the whole graph (forward and backward), and that, not the batch, is a step's cost; a step's
# memory is O(batch) indices (the gradient is in closed form, see _BPRStep). On demo v1 (`benchmarks/graph_speed.py
# quality`), 20 epochs: 3 steps an epoch at lr 0.01 gave 82.9% of a news item's 10 nearest neighbours in its planted
# community (chance 6%); 1 step at lr 0.01 78.8%, at lr 0.03 81.9%. One step at lr 0.03 is 3x fewer propagations,
# but it cost the downstream models: on demo v2, id+llm+gnn/gate seed 0 AUC 0.7246 with those features against 0.7478
# with 3 steps at lr 0.01 (cold 0.607 vs 0.653). So the default stays 3 steps at lr 0.01; --batch-size trades. (On
# demo v2, 3 steps: 75.7% over seeds 0-5; 6 steps 70.4%, 12 steps 65.1%: more steps favour the click edges.)
STEPS_PER_EPOCH = 3
MIN_BATCH, MAX_BATCH = 1024, 1 << 24      # the upper bound keeps a step's index arrays within ~1 GB
DEFAULT_LR = 0.01
LIGHTGCN_VERSION = 4  # cache key. 2: deterministic CPU training; 3: closed-form BPR gradient; 4: Horner propagation,
#   batches in source order, fused Adam (summation order and negatives pairing changed; batch and lr are in the key)
# Part of the run id of every gnn run (config.code_versions): 5 = graph models by name, the inductive one default.
GRAPH_VERSION = 5
GRAPH_MODELS = ("inductive", "lightgcn")
NEIGHBOURS = 10           # diagnostics: the k of the nearest-neighbour shares
DIAGNOSTIC_SAMPLE = 2000  # diagnostics: news whose neighbours are searched (all news when fewer)


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
    """D^-1/2 A D^-1/2 of the symmetric graph as a torch sparse CSR matrix, computed once (LightGCN's LGConv
    would renormalise on every layer of every step otherwise)."""
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


def _csr(crow, col, values, shape):
    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks are implicitly disabled")
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


class _SpMM:
    """Products with a sum of sparse CSR matrices, `out = scale * (add + M1 @ h + M2 @ h ...)`, into a buffer.

    torch's CPU product of a CSR matrix with a dense one runs on one thread (measured: the same time with 1 and 2
    torch threads), so on CPU the rows are cut into `blocks` slices of about equal nnz and the slices run on a
    thread pool (torch releases the GIL). Each row is still summed by the same calls in its CSR order, so the result
    has the same bytes whatever the number of blocks (tests/test_graph_features.py). Every product is an in-place
    `addmm` (`torch.mm(..., out=)` costs ~0.035 s more per call on `small`). On CUDA: one block, one call each.
    """

    def __init__(self, mats, blocks: int = 1, pool=None):
        mats = list(mats) if isinstance(mats, (list, tuple)) else [mats]
        n = mats[0].shape[0]
        crows = [m.crow_indices() for m in mats]
        if blocks <= 1 or pool is None or n < 2 * blocks:
            self.parts, self.pool = [(0, n, mats)], None
            return
        self.pool = pool
        total = sum(c.cpu().numpy() for c in crows)          # nnz of all matrices before each row
        cuts = np.searchsorted(total, np.linspace(0, total[-1], blocks + 1)[1:-1])
        bounds = [0, *sorted(set(int(c) for c in cuts) - {0, n}), n]
        self.parts = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            blk = []
            for m, crow in zip(mats, crows):
                a, b = int(crow[lo]), int(crow[hi])
                blk.append(_csr(crow[lo:hi + 1] - a, m.col_indices()[a:b], m.values()[a:b], (hi - lo, m.shape[1])))
            self.parts.append((lo, hi, blk))

    def __call__(self, h, out, add=None, scale: float = 1.0):
        """out = scale * (add + sum M @ h) (no `add`: scale * sum M @ h), each row block into its rows of `out`
        (which must not overlap h)."""
        import torch

        def part(p):
            lo, hi, mats = p
            o = out[lo:hi]
            if add is None:
                o.addmm_(mats[0], h, beta=0.0, alpha=scale)
            else:
                torch.addmm(add[lo:hi], mats[0], h, beta=scale, alpha=scale, out=o)
            for m in mats[1:]:
                o.addmm_(m, h, alpha=scale)

        if self.pool is None:
            part(self.parts[0])
        else:
            for f in [self.pool.submit(part, p) for p in self.parts]:
                f.result()
        return out


class _Propagation:
    """LightGCN's output P(A) x = (x + Ax + ... + A^L x) / (L+1) (alpha = 1/(L+1) each, torch_geometric's
    default), by Horner's rule: x + A(x + A(x + Ax)), one fused `addmm` a layer into two reused buffers (a step
    allocates no (N, dim) tensor, whose first touch costs page faults each time). A is symmetric, so the backward of
    P(A) is P(A) itself."""

    def __init__(self, adj, layers: int, blocks: int = 1, pool=None):
        self.spmm = _SpMM(adj, blocks, pool)
        self.layers, self.blocks, self.pool = layers, blocks, pool
        self._buffers: dict = {}

    def buffer(self, name: str, like):
        import torch

        key = (name, tuple(like.shape), like.dtype, like.device)
        if key not in self._buffers:
            self._buffers[key] = torch.empty_like(like)
        return self._buffers[key]

    def __call__(self, x, name: str):
        """P(A) x into the buffer pair `name` (valid until the next call with the same name)."""
        L = self.layers
        if L == 0:
            return self.buffer(name + "0", x).copy_(x)
        bufs = (self.buffer(name + "0", x), self.buffer(name + "1", x))
        h = x
        for i in range(L):
            h = self.spmm(h, bufs[i % 2], x, 1.0 / (L + 1) if i == L - 1 else 1.0)
        return h


def _one_thread_sigmoid(t):
    """torch.sigmoid on one CPU thread. A multi-threaded elementwise op splits the vector at thread-dependent
    points, and a vectorised exp and its scalar tail can differ in the last bit, so with 2 threads the features
    differed from 1 thread's by ~1e-8 (measured on demo); one thread makes them a function of the data alone,
    whatever the machine's core count. B values: about a millisecond."""
    import torch

    if t.device.type != "cpu":
        return torch.sigmoid(t)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return torch.sigmoid(t)
    finally:
        torch.set_num_threads(previous)


class _BPRStep:
    """One BPR step of LightGCN on a batch of edges (s, d) with negatives (s, n), its gradient in closed form.

    Loss, as torch_geometric's `LightGCN.recommendation_loss` (BPRLoss, lambda_reg=1e-4):
        L = -mean_b log sigmoid(<e_s, e_d> - <e_s, e_n>) + lambda * ||x[unique(s, d, n)]||^2 / B,
    e = P(A) x the propagated embeddings (_Propagation), x = the trained table. With
    c_b = -sigmoid(<e_s,e_n> - <e_s,e_d>)/B:
        dL/de = (C + C^T) e,   C = sum_b c_b (1_s 1_d^T - 1_s 1_n^T)     (a sparse N x N matrix, 2B entries)
        dL/dx = P(A) dL/de (A is symmetric) + 2 lambda/B x on the batch's nodes.
    Autograd through torch_geometric materialised five (B, dim) tensors a step (gathers, products, and their
    sort-based deterministic scatter backward). Here the scores are one sampled dense product over C's pattern and
    the gradient two sparse products, so a step is 2L+2 sparse products.

    C's entries are the pairs (s_b, d_b), (s_b, n_b) interleaved: with the batch sorted by s (train_lightgcn passes
    it so; otherwise a stable sort here) they are already CSR order, and the sampled scores come back in batch
    order. C^T's CSR comes from one stable sort of its rows. Every product over these patterns sums in a fixed order
    whatever the thread count. tests/test_graph_features.py checks loss and gradient against autograd through
    torch_geometric's LightGCN.
    """

    LAMBDA_REG = 1e-4

    def __init__(self, s: np.ndarray, d: np.ndarray, n: np.ndarray, n_nodes: int, device):
        import torch

        B, N = len(s), n_nodes
        if B > 1 and (np.diff(s) < 0).any():
            o = np.argsort(s, kind="stable")
            s, d, n = s[o], d[o], n[o]
        self.B, self.N, self.device = B, N, device
        rows = np.repeat(s, 2)                                # entry 2b = (s_b, d_b), 2b+1 = (s_b, n_b)
        cols = np.stack([d, n], axis=1).reshape(-1)
        crow = np.zeros(N + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=N), out=crow[1:])
        self.c = [torch.from_numpy(a).to(device) for a in (crow, cols)]
        order = torch.sort(torch.from_numpy(cols), stable=True).indices
        crow_t = np.zeros(N + 1, np.int64)
        np.cumsum(np.bincount(cols, minlength=N), out=crow_t[1:])
        self.ct = [t.to(device) for t in (torch.from_numpy(crow_t), torch.from_numpy(rows)[order], order)]
        used = np.zeros(N, bool)
        used[s], used[d], used[n] = True, True, True
        # The L2 term's weights: 1 on the batch's nodes (unique(s, d, n)), 0 elsewhere.
        self.used = torch.from_numpy(used.astype(np.float32)).to(device)

    def loss_and_grad(self, prop: "_Propagation", x):
        """(loss, gradient with respect to x); the gradient lives in `prop`'s buffers until its next call."""
        import torch
        import torch.nn.functional as F

        B, N = self.B, self.N
        e = prop(x, "e")
        crow, col = self.c
        pattern = _csr(crow, col, torch.zeros(len(col), dtype=e.dtype, device=e.device), (N, N))
        dots = torch.sparse.sampled_addmm(pattern, e, e.T, beta=0.0).values().view(B, 2)
        diff = dots[:, 0] - dots[:, 1]
        used = self.used.to(x.dtype)
        reg = self.LAMBDA_REG * torch.dot(torch.linalg.vector_norm(x, dim=1).square(), used) / B
        loss = -F.logsigmoid(diff).mean() + reg
        c = -_one_thread_sigmoid(-diff) / B
        cv = torch.stack([c, -c], dim=1).view(-1)         # entry k's value in C
        crow_t, col_t, order_t = self.ct
        mats = [_csr(crow, col, cv, (N, N)), _csr(crow_t, col_t, cv[order_t], (N, N))]
        g = _SpMM(mats, prop.blocks, prop.pool)(e, prop.buffer("g", e))     # dL/de = (C + C^T) e
        grad = prop(g, "e")                               # e is spent: its buffers take the gradient
        grad.addcmul_(x, used[:, None], value=2 * self.LAMBDA_REG / B)
        return loss, grad


def _negatives(g: Graph, pools, b: np.ndarray, rng) -> np.ndarray:
    """A random node on the same side of the same edge kind for each edge of the batch (see train_lightgcn)."""
    kind = g.kind[b]
    neg = np.empty(len(b), np.int64)
    for k, pool in enumerate(pools):
        m = kind == k
        if m.any():
            neg[m] = pool[rng.integers(0, len(pool), int(m.sum()))]
    return neg


def train_lightgcn(g: Graph, dim: int = 128, layers: int = 3, epochs: int = 20, seed: int = 0, device: str = "cpu",
                   batch_size: int | None = None, lr: float = DEFAULT_LR, progress: bool = True):
    """Train LightGCN with BPR on the graph's edges; returns (all node embeddings (n_nodes, dim) float32, losses)."""
    import torch
    from torch_geometric.nn.models import LightGCN

    rng = np.random.default_rng(seed)          # negatives and batch order
    adj = _normalised_adjacency(g, device)
    # Initialise on the CPU under a forked RNG: the init is the same on every device, and the caller's torch RNG
    # state (a training run seeds its own) is left as it was. torch_geometric's LightGCN gives the init (xavier
    # uniform); its forward/backward are replaced by the closed form of _BPRStep.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        x = LightGCN(g.n_nodes, dim, layers).embedding.weight.detach().clone()
    x = torch.nn.Parameter(x.to(device))
    # The fused Adam is one pass over the (N, dim) table and its two moments (5x faster than the default on CPU).
    opt = torch.optim.Adam([x], lr=lr, fused=True)
    # Negatives come from the nodes on the same side of the same edge kind (news for user-news, entities for
    # news-entity), so every negative is a real candidate rather than an isolated node.
    pools = [np.unique(g.dst[g.kind == k]) for k in (0, 1)]
    n_edges = len(g.src)
    batch_size = batch_size or auto_batch(n_edges)
    by_src = np.argsort(g.src, kind="stable")    # a batch is taken in this order, so C's rows need no sort
    in_batch = np.zeros(n_edges, bool)
    steps = -(-n_edges // batch_size) if n_edges else 0
    # On CPU the sparse products run on torch's thread count of row blocks (see _SpMM); on CUDA one kernel each.
    cpu = str(device).startswith("cpu")
    workers = torch.get_num_threads() if cpu else 1
    # Every sum above runs in a fixed order (CSR products, see _BPRStep and _SpMM), so CPU training is
    # deterministic; keep torch's deterministic mode on anyway for whatever else a step touches. (On CUDA some
    # kernels have no deterministic twin: warn rather than fail; the cache key names the device.)
    prev_det, prev_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=not cpu)
    losses: list[float] = []
    try:
        with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
            prop = _Propagation(adj, layers, workers, pool)
            with progress_bar(f"LightGCN ({device})", epochs * steps, progress) as advance:
                for _ in range(epochs):
                    perm = rng.permutation(n_edges)
                    total = 0.0
                    for start in range(0, n_edges, batch_size):
                        in_batch[:] = False
                        in_batch[perm[start:start + batch_size]] = True
                        b = by_src[in_batch[by_src]]
                        neg = _negatives(g, pools, b, rng)
                        step = _BPRStep(g.src[b], g.dst[b], neg, g.n_nodes, device)
                        with torch.no_grad():
                            loss, grad = step.loss_and_grad(prop, x.detach())
                        x.grad = grad
                        opt.step()
                        total += float(loss) * len(b)
                        advance(1)
                    losses.append(total / max(n_edges, 1))
            with torch.no_grad():
                emb = prop(x.detach(), "e").float().cpu().numpy().copy()
    finally:
        torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
    return emb, losses


def graph_key(dataset, mode: str, dim: int, layers: int, epochs: int, seed: int, device: str,
              batch_size: int | None = None, lr: float = DEFAULT_LR) -> tuple[str, Graph]:
    """(cache key, graph): the key hashes the graph's edges themselves, so it cannot depend on dev labels."""
    import torch
    import torch_geometric

    g = build_graph(dataset, mode)
    batch_size = batch_size or auto_batch(len(g.src))
    parts = {"v": LIGHTGCN_VERSION, "edges": cache.array_digest(g.src, g.dst, g.kind),
             "nodes": [g.n_users, g.n_news, g.n_entities], "mode": mode, "dim": dim, "layers": layers,
             "epochs": epochs, "seed": seed, "batch": batch_size, "lr": lr,
             # CPU and CUDA training trajectories differ; a run is a pure function of its config, device included.
             "device": str(device).split(":")[0], "torch": torch.__version__, "pyg": torch_geometric.__version__}
    return cache.feature_key("graph", parts), g


def inductive_key(dataset, mode: str, dim: int, epochs: int, seed: int, device: str, entity_init: str) -> str:
    """Cache key of the inductive features: the train split's arrays (never dev's), the news-entity links, the
    entity vectors when they initialise the table, and the settings."""
    import torch

    from newsbench.features import inductive

    tr = dataset.train
    train = (cache.array_digest(tr.user, tr.hist_ptr, tr.hist, tr.cand_ptr, tr.cand, tr.label)
             if tr is not None else None)
    vectors = None
    if entity_init == "data" and dataset.entity_vectors is not None:
        vectors = cache.array_digest(np.asarray(dataset.entity_vectors, dtype=np.float32))
    parts = {"model": "inductive", "v": inductive.INDUCTIVE_VERSION, "train": train, "n_news": len(dataset.news),
             "entities": cache.array_digest(dataset.news.entity_ptr, dataset.news.entity_idx),
             "entity_vectors": vectors, "entity_init": entity_init, "mode": mode, "dim": dim, "epochs": epochs,
             "seed": seed, "device": str(device).split(":")[0], "torch": torch.__version__}
    return cache.feature_key("graph", parts)


def graph_features(dataset, mode: str = "both", dim: int = 128, layers: int = 3, epochs: int | None = None,
                   seed: int = 0, device: str = "cpu", cache_dir: str | os.PathLike | None = None,
                   progress: bool = True, batch_size: int | None = None, model: str = "inductive",
                   entity_init: str = "data") -> np.ndarray:
    """The (N_news, dim) float32 graph matrix, row i = news index i, from the cache or trained and cached."""
    return graph_features_with_meta(dataset, mode, dim, layers, epochs, seed, device, cache_dir, progress,
                                    batch_size, model, entity_init)[0]


def graph_features_with_meta(dataset, mode: str = "both", dim: int = 128, layers: int = 3, epochs: int | None = None,
                             seed: int = 0, device: str = "cpu", cache_dir: str | os.PathLike | None = None,
                             progress: bool = True, batch_size: int | None = None, model: str = "inductive",
                             entity_init: str = "data") -> tuple[np.ndarray, dict]:
    """Like `graph_features`, also returning the meta (model, sizes, losses, seconds, diagnostics, cache hit).
    `epochs` None: the model's default (options.GRAPH_EPOCHS)."""

    if model not in GRAPH_MODELS:
        raise InputError(f"graph model must be one of {', '.join(GRAPH_MODELS)}, got {model!r}")
    if mode not in MODES:
        raise InputError(f"graph mode must be one of {', '.join(MODES)}, got {mode!r}")
    epochs = GRAPH_EPOCHS[model] if epochs is None else epochs
    if min(dim, layers + 1, epochs + 1, batch_size or 1) < 1:
        raise InputError(f"graph needs dim >= 1, layers >= 0, epochs >= 0, batch size >= 1 "
                         f"(got {dim}, {layers}, {epochs}, {batch_size})")
    if model == "lightgcn":
        key, g = graph_key(dataset, mode, dim, layers, epochs, seed, device, batch_size)
    else:
        key, g = inductive_key(dataset, mode, dim, epochs, seed, device, entity_init), None
    hit = cache.load(key, cache_dir)
    if hit is not None:
        matrix, meta = hit
        meta.setdefault("model", model)          # LightGCN entries cached before there were two models
        if "diagnostics" not in meta:
            meta["diagnostics"] = diagnostics(matrix, dataset)
        return matrix, dict(meta, cache_hit=True, path=str(cache.paths(key, cache_dir)[0]))
    t0 = time.perf_counter()
    if model == "lightgcn":
        matrix, meta = _lightgcn_matrix(g, mode, dim, layers, epochs, seed, device, batch_size, progress)
    else:
        matrix, meta = _inductive_matrix(dataset, mode, dim, epochs, seed, device, entity_init, progress)
    meta["seconds"] = time.perf_counter() - t0
    meta["diagnostics"] = diagnostics(matrix, dataset)
    path = cache.save(key, matrix, meta, cache_dir)
    return matrix, dict(cache.read_meta(key, cache_dir) or meta, cache_hit=False, path=str(path))


def _lightgcn_matrix(g: Graph, mode, dim, layers, epochs, seed, device, batch_size, progress):
    batch_size = batch_size or auto_batch(len(g.src))
    emb, losses = train_lightgcn(g, dim, layers, epochs, seed, device, batch_size, progress=progress)
    matrix = np.ascontiguousarray(emb[g.news_offset:g.news_offset + g.n_news], dtype=np.float32)
    isolated = g.news_degree() == 0
    matrix[isolated] = 0.0       # never propagated: their row is only the random init, which means nothing
    meta = {"model": "lightgcn", "mode": mode, "dim": dim, "layers": layers, "epochs": epochs, "seed": seed,
            "batch_size": batch_size, "lr": DEFAULT_LR, "device": device, "n_user_nodes": g.n_users,
            "n_news": g.n_news, "n_entity_nodes": g.n_entities, "n_user_news_edges": int((g.kind == 0).sum()),
            "n_news_entity_edges": int((g.kind == 1).sum()), "n_zero": int(isolated.sum()),
            "losses": [round(x, 6) for x in losses],
            "identity": f"torch_geometric LightGCN dim={dim} layers={layers} epochs={epochs} seed={seed} mode={mode}"}
    return matrix, meta


def _inductive_matrix(dataset, mode, dim, epochs, seed, device, entity_init, progress):
    from newsbench.features import inductive

    matrix, losses, sizes = inductive.train_inductive(dataset, mode, dim, epochs, seed, device, entity_init,
                                                      progress)
    meta = {"model": "inductive", "mode": mode, "dim": dim, "epochs": epochs, "seed": seed,
            "entity_init": entity_init, "device": device, **sizes, "n_zero": 0,
            "losses": [round(x, 6) for x in losses],
            "identity": f"newsbench inductive entity encoder v{inductive.INDUCTIVE_VERSION} dim={dim} "
                        f"epochs={epochs} seed={seed} mode={mode} entity_init={entity_init}"}
    return matrix, meta


# ------------------------------------------------------------------------------------------------------ diagnostics
def _neighbours(unit: np.ndarray, rows: np.ndarray, k: int) -> np.ndarray:
    """(len(rows), k) indices of each row's k nearest other rows by cosine (unit rows; zero rows have no
    direction and are never anyone's neighbour)."""
    zero = ~np.any(unit != 0, axis=1)
    out = np.empty((len(rows), k), np.int64)
    for a in range(0, len(rows), 512):
        r = rows[a:a + 512]
        s = unit[r] @ unit.T
        s[:, zero] = -np.inf
        s[np.arange(len(r)), r] = -np.inf
        top = np.argpartition(-s, k, axis=1)[:, :k]
        out[a:a + len(r)] = top
    return out


def diagnostics(matrix: np.ndarray, dataset, community: np.ndarray | None | str = "planted") -> dict:
    """How graph vectors place cold news (unseen in train) against warm ones:
    - cold_warm_norm_ratio: mean norm of cold vectors / mean norm of warm ones (1: the same scale);
    - cold_neighbours_warm: share of cold news whose NEIGHBOURS nearest neighbours (cosine) include a warm item
      (near 0: cold news live apart from the space the model learns warm news and users in);
    - with a `community` per news ("planted": generated data's, from its card, `planted_community`), nn_community_all
      / _cold: the mean share of a news item's nearest neighbours in its community, and its chance level.
    Neighbours are searched for at most DIAGNOSTIC_SAMPLE news of each kind (a seeded sample), so it costs seconds
    on MIND-small."""
    if isinstance(community, str):
        community = planted_community(dataset)

    m = np.asarray(matrix, dtype=np.float32)
    n = len(m)
    seen = dataset.seen_in_train()
    norm = np.linalg.norm(m, axis=1)
    unit = unit_rows(m)
    out: dict = {"n_cold": int((~seen).sum()), "n_warm": int(seen.sum()), "k": NEIGHBOURS}
    if seen.any() and (~seen).any() and norm[seen].mean() > 0:
        out["cold_warm_norm_ratio"] = float(norm[~seen].mean() / norm[seen].mean())
    if n <= NEIGHBOURS + 1:
        return out
    rng = np.random.default_rng(0)
    sample = (lambda idx: idx if len(idx) <= DIAGNOSTIC_SAMPLE else np.sort(rng.choice(idx, DIAGNOSTIC_SAMPLE,
                                                                                         replace=False)))
    cold = sample(np.flatnonzero(~seen))
    if len(cold):
        out["cold_neighbours_warm"] = float(seen[_neighbours(unit, cold, NEIGHBOURS)].any(axis=1).mean())
    if community is not None:
        community = np.asarray(community)
        share = np.bincount(community) / n
        out["nn_community_chance"] = float((share ** 2).sum())
        for name, idx in (("all", sample(np.arange(n))), ("cold", cold)):
            if len(idx):
                top = _neighbours(unit, idx, NEIGHBOURS)
                out[f"nn_community_{name}"] = float((community[top] == community[idx][:, None]).mean())
    return out


def planted_community(dataset) -> np.ndarray | None:
    """The planted community of each news item of a generated dataset (from its card), else None."""
    card = dataset.card or {}
    if card.get("generator") != "newsbench.data.synth" or "scale" not in card:
        return None
    from newsbench.data.latents import planted_communities

    ids, community = planted_communities(card["scale"], int(card["seed"]), float(card.get("cold_share", 0.4)))
    where = dict(zip(ids.tolist(), range(len(ids))))
    # The EB-NeRD form of a generated world names article N123 by its number (newsbench.data.ebnerd_write).
    prefix = "N" if card.get("format") == "ebnerd" else ""
    rows = [where.get(prefix + str(i)) for i in dataset.news.ids]
    if any(r is None for r in rows):
        return None
    return community[np.asarray(rows)]
