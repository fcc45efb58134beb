"""One run: build the model for a RunConfig, train it on the train split, evaluate on dev, time it, record it.

A run is a pure function of (dataset, features, config) on CPU: torch is seeded with cfg.seed before the model is
built, and every random draw of the data pipeline comes from one numpy Generator seeded with cfg.seed.

The hot paths are vectorised (issue 8):
- negatives for a whole epoch are drawn in one numpy pass over the CSR arrays (`sample_epoch`);
- each batch encodes every distinct news once (`Recommender.forward`);
- the ID table gets sparse gradients and lazy Adam (RowAdam: SparseAdam's update on the touched rows), the dense
  rest Adam;
- frozen features sit in one contiguous tensor on the run's device (bfloat16/float16 with --amp on CUDA);
- evaluation encodes every news once and every distinct dev history once, then scores candidates by gather + dot.

Choices the design leaves open, made here:
- A training click whose impression has no non-clicked candidate cannot form a softmax over K+1 and is skipped
  (counted in the record as dataset.n_skipped_clicks). With fewer than K negatives they are drawn with replacement,
  otherwise without.
- Per-category metrics: an impression belongs to every category among its clicked candidates and contributes its
  whole-impression metrics to each (n = impressions in the category).
- Cold/warm: per impression, AUC over only its cold (unseen in train) or only its warm candidates (NaN where that
  subset has no click or no non-click).
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
import resource
import sys
import time
from contextlib import nullcontext
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

import newsbench
from newsbench import beyond, store
from newsbench.attribution import drops_record
from newsbench.config import RECORD_SCHEMA, RunConfig
from newsbench.data.dataset import Behaviors, Dataset, history_matrix
from newsbench.errors import InputError
from newsbench.metrics import ARRAY_METRICS, ascending_order, mean_or_none, subset_metrics
from newsbench.model import Recommender, has_weights
from newsbench.model.row_adam import RowAdam
from newsbench.params import count_params, flops_per_news

Progress = Callable[[dict], None] | None
OnModel = Callable[[Recommender, torch.device], None] | None
METRIC_KEYS = ARRAY_METRICS   # array name -> record name
EVAL_NEWS_CHUNK = 16384
EVAL_USER_CHUNK = 8192      # users pool straight from the news table: no (chunk, L, d) tensor
# Candidates scored per chunk: two (chunk, d) row gathers, a product and a row sum that stay in cache. On MIND-small
# (2.79M dev candidates, one thread) 4,096 took 2.7 s against 11.6 s for 131,072 with [] indexing: the same bytes.
EVAL_SCORE_CHUNK = 4096


# ----------------------------------------------------------------------------------------------------- device
def resolve_device(spec: str) -> str:
    """'auto' -> 'cuda' when available else 'cpu'; 'cuda[:N]' must be available (InputError otherwise)."""
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return "cpu"
    if spec.startswith("cuda"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {spec}: CUDA is not available on this machine (torch {torch.__version__})")
        return spec
    raise InputError(f"--device must be auto, cpu or cuda[:N], not {spec!r}")


def _amp_dtype(device: torch.device) -> torch.dtype:
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ----------------------------------------------------------------------------------------------------- inputs
def id_rows(dataset: Dataset) -> tuple[np.ndarray, int]:
    """(N,) int64 map news index -> ID-embedding row, and the number of rows. Row 0 is the shared 'unknown' row
    of every news never seen in the train split; seen news get rows 1..n_seen."""
    seen = dataset.seen_in_train()
    rows = np.zeros(len(seen), dtype=np.int64)
    rows[seen] = np.arange(1, int(seen.sum()) + 1)
    return rows, int(seen.sum()) + 1


def feature_matrix(dataset: Dataset, features: dict, cfg: RunConfig) -> tuple[np.ndarray | None, int, int]:
    """The llm|gnn|rand columns side by side as one contiguous float32 (N, D) matrix, and the llm and gnn widths.

    llm and gnn come from `features` (shared by a grid, cached); rand, the placebo, is drawn here from the run's
    seed and the news ids (newsbench.features.placebo): it depends on the seed, so no grid can share it, and it is
    cheap. Its width is cfg.rand_dim."""
    cols, dims = [], {"llm": 0, "gnn": 0}
    for m in ("llm", "gnn", "rand"):
        if m not in cfg.modalities:
            continue
        if m == "rand":
            from newsbench.features.placebo import placebo_vectors

            cols.append(placebo_vectors(dataset.news.ids, cfg.rand_dim, cfg.seed))
            continue
        if features is None or m not in features:
            raise InputError(f"modality {m} was asked for but no {m} features were given")
        x = np.asarray(features[m], dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != len(dataset.news):
            raise InputError(f"{m} features have shape {x.shape}, expected ({len(dataset.news)}, D)")
        cols.append(x)
        dims[m] = x.shape[1]
    if not cols:
        return None, 0, 0
    return np.ascontiguousarray(np.concatenate(cols, axis=1)), dims["llm"], dims["gnn"]


def distinct_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows in lexicographic order, (M,) row of each input row): np.unique(a, axis=0, return_inverse=True)
    for a 2-D integer array, by one np.lexsort and a comparison of neighbours: 0.14 s against np.unique's 0.43 s for
    MIND-small's 73,000 dev histories of 51 columns, paid once per evaluation and once per modality in attribution
    (tests/test_train.py checks it against np.unique)."""
    if len(a) == 0:
        return a[:0].copy(), np.zeros(0, dtype=np.int64)
    order = np.lexsort(a.T[::-1])                      # column 0 is the primary key, as in np.unique
    rows = a[order]
    new = np.ones(len(a), dtype=bool)
    np.any(rows[1:] != rows[:-1], axis=1, out=new[1:])
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return rows[new], inverse


class TrainingClicks:
    """The CSR bookkeeping for negative sampling, computed once: every usable click and its impression's negatives."""

    def __init__(self, beh: Behaviors):
        m = len(beh)
        self.imp_of_slot = np.repeat(np.arange(m), np.diff(beh.cand_ptr))
        neg = np.flatnonzero(beh.label == 0)                 # flat slots, grouped by impression (CSR order)
        self.neg_flat = neg
        self.n_neg = np.bincount(self.imp_of_slot[neg], minlength=m)
        self.neg_ptr = np.concatenate([[0], np.cumsum(self.n_neg)])
        pos = np.flatnonzero(beh.label == 1)
        usable = self.n_neg[self.imp_of_slot[pos]] > 0
        self.n_skipped = int((~usable).sum())
        self.pos = pos[usable]
        self.pos_imp = self.imp_of_slot[self.pos]
        self.cand = beh.cand

    def __len__(self) -> int:
        return len(self.pos)


def sample_epoch(clicks: TrainingClicks, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's samples in shuffled order: (P,) impression rows and (P, 1+k) candidate news (clicked first).

    Without replacement when an impression has >= k negatives (sequential draws r_j in [0, n-j), each shifted past
    the earlier draws in ascending order: uniform over k-subsets), with replacement otherwise. Loops run over k only.
    """
    n = clicks.n_neg[clicks.pos_imp]
    u = rng.random((len(clicks), k))
    r = np.empty((len(clicks), k), dtype=np.int64)
    for j in range(k):
        rj = np.floor(u[:, j] * np.maximum(n - j, 1)).astype(np.int64)
        prev = np.sort(r[:, :j], axis=1)
        for c in range(j):
            rj += rj >= prev[:, c]
        r[:, j] = rj
    few = n < k
    r[few] = np.floor(u[few] * n[few, None]).astype(np.int64)
    negs = clicks.neg_flat[clicks.neg_ptr[clicks.pos_imp][:, None] + r]
    cands = np.concatenate([clicks.cand[clicks.pos][:, None], clicks.cand[negs]], axis=1).astype(np.int64)
    order = rng.permutation(len(clicks))
    return clicks.pos_imp[order], cands[order]


# ------------------------------------------------------------------------------------------------- optimisers
def lr_factor(step: int, total: int, warmup: float, decay: str) -> float:
    """The learning-rate multiplier of global step `step` (0-based) of `total`: linear warm-up over the first
    round(warmup * total) steps ((s + 1) / W, so no step has a zero rate), then `decay`: none 1, linear (total - s) /
    (total - W), cosine (1 + cos(pi (s - W) / (total - W))) / 2 (the last step keeps a small positive rate)."""
    w = int(round(warmup * total))
    if step < w:
        return (step + 1) / w
    if decay == "none" or total <= w:
        return 1.0
    frac = (step - w) / (total - w)
    if decay == "linear":
        return 1.0 - frac
    if decay == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    raise ValueError(f"unknown lr_decay {decay!r}")


def make_optimizers(model: Recommender, lr: float, frozen_lr: float = 1.0,
                    dense_lr: float = 1.0) -> list[torch.optim.Optimizer]:
    """Lazy Adam for a sparse ID table (only touched rows move: RowAdam, SparseAdam's update computed on rows), Adam
    for every dense parameter at `dense_lr` times the learning rate; the frozen modalities' projections at
    `dense_lr * frozen_lr` times it."""
    emb = model.news_encoder.id_embedding
    sparse = [emb.weight] if emb is not None and emb.sparse else []
    ids = {id(p) for p in sparse}
    frozen = [p for m, proj in model.news_encoder.projections.items() if m != "id" for p in proj.parameters()]
    if frozen_lr == 1.0:
        frozen = []
    ids |= {id(p) for p in frozen}
    dense = [p for p in model.parameters() if id(p) not in ids]
    groups = [{"params": dense}] + ([{"params": frozen, "lr": lr * dense_lr * frozen_lr}] if frozen else [])
    if dense_lr != 1.0 and emb is not None and not emb.sparse:
        # a dense ID table (no sparse gradients) keeps the base rate, as RowAdam's table does
        groups[0]["params"] = [p for p in dense if p is not emb.weight]
        groups.append({"params": [emb.weight], "lr": lr})
    opts: list[torch.optim.Optimizer] = [torch.optim.Adam(groups, lr=lr * dense_lr)]
    if sparse:
        opts.append(RowAdam(sparse, lr=lr))
    return opts


# ------------------------------------------------------------------------------------------------------ train
def _build_model(dataset: Dataset, features: dict | None, cfg: RunConfig, device: torch.device, sparse_id=True):
    rows, n_rows = id_rows(dataset)
    feats, llm_dim, gnn_dim = feature_matrix(dataset, features, cfg)
    torch.manual_seed(cfg.seed)
    model = Recommender(cfg, n_rows, llm_dim=llm_dim, gnn_dim=gnn_dim, sparse_id=sparse_id).to(device)
    ftensor = None
    if feats is not None:
        dtype = _amp_dtype(device) if (cfg.amp and device.type == "cuda") else torch.float32
        ftensor = torch.from_numpy(feats).to(device=device, dtype=dtype).contiguous()
    model.news_encoder.set_inputs(torch.from_numpy(rows).to(device), ftensor)
    return model, n_rows, llm_dim, gnn_dim


def _autocast(cfg: RunConfig, device: torch.device):
    if cfg.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=_amp_dtype(device))
    return nullcontext()


def train_model(model: Recommender, dataset: Dataset, cfg: RunConfig, device: torch.device,
                progress: Progress = None, max_steps: int | None = None) -> tuple[list[float], list[float], int, int]:
    """Train in place. Returns (loss per epoch, seconds per epoch, samples per epoch, skipped clicks).

    `max_steps` cuts every epoch after that many batches (benchmarks time a prefix of an epoch); the returned
    seconds then cover those steps only and the loss is the mean over the samples seen."""
    beh = dataset.train
    clicks = TrainingClicks(beh)
    if len(clicks) == 0:
        raise InputError("the train split has no click with a non-clicked candidate to contrast it with")
    rng = np.random.default_rng(cfg.seed)
    hist_np, mask_np = history_matrix(beh, cfg.history_len)
    hist_all, mask_all = torch.from_numpy(hist_np).to(device), torch.from_numpy(mask_np).to(device)
    opts = make_optimizers(model, cfg.lr, cfg.frozen_lr, cfg.dense_lr)
    scaler = None
    if cfg.amp and device.type == "cuda" and _amp_dtype(device) == torch.float16:
        scaler = torch.amp.GradScaler("cuda")
    target = torch.zeros(cfg.batch_size, dtype=torch.long, device=device)
    # ID dropout draws from its own generator, seeded by the run's seed: the model init's draws stay what they were
    drop_gen = None
    if cfg.id_dropout > 0 and model.news_encoder.id_embedding is not None:
        drop_gen = torch.Generator(device=device).manual_seed(cfg.seed)
    p = len(clicks)
    steps = (p + cfg.batch_size - 1) // cfg.batch_size
    if max_steps is not None:
        steps = max(1, min(steps, max_steps))
    seen = min(p, steps * cfg.batch_size)
    every = max(1, steps // 20)
    losses, seconds = [], []
    scheduled = cfg.warmup > 0 or cfg.lr_decay != "none"
    base_lrs = [[g["lr"] for g in o.param_groups] for o in opts]
    model.train()
    for epoch in range(cfg.epochs):
        _sync(device)
        t0 = time.perf_counter()
        imp, cands = sample_epoch(clicks, cfg.negatives, rng)
        imp_t, cands_t = torch.from_numpy(imp).to(device), torch.from_numpy(cands).to(device)
        total = torch.zeros((), device=device)
        for s in range(steps):
            sl = slice(s * cfg.batch_size, (s + 1) * cfg.batch_size)
            rows, cand = imp_t[sl], cands_t[sl]
            unknown = None
            if drop_gen is not None:
                unknown = torch.rand((len(rows), hist_all.shape[1] + cand.shape[1]), generator=drop_gen,
                                     device=device) < cfg.id_dropout
            with _autocast(cfg, device):
                scores = model(hist_all[rows], mask_all[rows], cand, unknown)
            loss = F.cross_entropy(scores.float(), target[: len(rows)])
            if scheduled:
                f = lr_factor(epoch * steps + s, cfg.epochs * steps, cfg.warmup, cfg.lr_decay)
                for o, lrs in zip(opts, base_lrs):
                    for g, lr in zip(o.param_groups, lrs):
                        g["lr"] = lr * f
            for o in opts:
                o.zero_grad(set_to_none=True)
            if scaler is None:
                loss.backward()
                for o in opts:
                    o.step()
            else:
                scaler.scale(loss).backward()
                for o in opts:
                    scaler.step(o)
                scaler.update()
            total += loss.detach() * len(rows)
            if progress is not None and (s % every == 0 or s == steps - 1):
                progress({"event": "step", "epoch": epoch, "epochs": cfg.epochs, "step": s + 1, "steps": steps,
                          "loss": float(loss.detach())})
        _sync(device)
        seconds.append(time.perf_counter() - t0)
        losses.append(float(total) / seen)
        if progress is not None:
            progress({"event": "epoch", "epoch": epoch, "epochs": cfg.epochs, "loss": losses[-1],
                      "seconds": seconds[-1]})
    return losses, seconds, p, clicks.n_skipped


# --------------------------------------------------------------------------------------------------- evaluate
@torch.no_grad()
def encode_all_news(model: Recommender, n_news: int, cfg: RunConfig, device: torch.device):
    """(N, d) float32 news vectors, (N,) user-attention logits, (N, k) float32 modality weights or None."""
    vecs, logits, weights = [], [], []
    for a in range(0, n_news, EVAL_NEWS_CHUNK):
        idx = torch.arange(a, min(a + EVAL_NEWS_CHUNK, n_news), device=device)
        with _autocast(cfg, device):
            v, w = model.news_encoder(idx)
            lg = model.user_encoder.logits(v)
        vecs.append(v.float())
        logits.append(lg.float())
        if w is not None:
            weights.append(w.float())
    return torch.cat(vecs), torch.cat(logits), (torch.cat(weights) if weights else None)


@torch.no_grad()
def score_dev(model: Recommender, dataset: Dataset, cfg: RunConfig, device: torch.device):
    """Scores of every dev candidate (float32, CSR order) and the news modality weights (N, k) or None."""
    news_vecs, news_logits, weights = encode_all_news(model, len(dataset.news), cfg, device)
    scores = score_candidates(model, news_vecs, news_logits, dataset.dev, cfg, device)
    return scores, (weights.cpu().numpy().astype(np.float64) if weights is not None else None)


@torch.no_grad()
def score_candidates(model: Recommender, news_vecs: torch.Tensor, news_logits: torch.Tensor, beh: Behaviors,
                     cfg: RunConfig, device: torch.device) -> np.ndarray:
    """Scores (float32, CSR order) of every candidate of `beh` from a table of news vectors and their user-attention
    logits (attribution passes tables with one modality ablated)."""
    hist, mask = history_matrix(beh, cfg.history_len)
    # every distinct history encoded once: users keep one history across a split's impressions
    key = np.concatenate([hist, mask.sum(1, keepdims=True)], axis=1)
    uniq, inv = distinct_rows(key)
    uh = torch.from_numpy(np.ascontiguousarray(uniq[:, :-1])).to(device)
    um = torch.arange(cfg.history_len, device=device)[None, :] < torch.from_numpy(uniq[:, -1]).to(device)[:, None]
    users = torch.empty((len(uniq), news_vecs.shape[1]), device=device)
    for a in range(0, len(uniq), EVAL_USER_CHUNK):
        h, m = uh[a:a + EVAL_USER_CHUNK], um[a:a + EVAL_USER_CHUNK]
        users[a:a + len(h)] = model.user_encoder.pool_rows(news_vecs, news_logits, h, m).float()
    imp_user = torch.from_numpy(inv.reshape(-1).astype(np.int64)).to(device)
    imp_of = torch.from_numpy(np.repeat(np.arange(len(beh)), np.diff(beh.cand_ptr))).to(device)
    cand = torch.from_numpy(beh.cand.astype(np.int64)).to(device)
    scores = torch.empty(len(cand), device=device)
    for a in range(0, len(cand), EVAL_SCORE_CHUNK):
        sl = slice(a, a + EVAL_SCORE_CHUNK)
        scores[sl] = (users.index_select(0, imp_user[imp_of[sl]]) * news_vecs.index_select(0, cand[sl])).sum(-1)
    return scores.cpu().numpy()


def evaluate(scores: np.ndarray, dataset: Dataset, weights: np.ndarray | None = None,
             order: np.ndarray | None = None) -> tuple[dict, dict, dict]:
    """(metrics, metrics_by, arrays) for dev scores in CSR order; `weights` (N, k) adds the weight arrays; `order`:
    metrics.ascending_order of the scores, when the caller has it (it sorts them once for this and the top lists)."""
    from newsbench.metrics import impression_metrics

    beh, news = dataset.dev, dataset.news
    m = len(beh)
    labels = beh.label.astype(np.int64)
    per = impression_metrics(scores, labels, beh.cand_ptr, order=order)
    # the user of each impression: the report's impression-level tests treat a user's impressions as one unit
    arrays = {"impression_id": beh.impression_id.astype(np.int64), "user": beh.user.astype(np.int64)}
    arrays.update({k: np.asarray(per[k], dtype=np.float64) for k in METRIC_KEYS})
    metrics = {name: mean_or_none(arrays[k]) for k, name in METRIC_KEYS.items()}

    imp_of = np.repeat(np.arange(m), np.diff(beh.cand_ptr))
    cold = ~dataset.seen_in_train()[beh.cand]
    arrays["auc_cold"] = np.asarray(subset_metrics(scores, labels, beh.cand_ptr, cold)["auc"], dtype=np.float64)
    arrays["auc_warm"] = np.asarray(subset_metrics(scores, labels, beh.cand_ptr, ~cold)["auc"], dtype=np.float64)

    # category split: (impression, category of a clicked candidate) pairs, each impression once per category
    n_cat = len(news.categories)
    clicked = labels == 1
    pair = np.unique(imp_of[clicked] * n_cat + news.category[beh.cand[clicked]].astype(np.int64))
    p_imp, p_cat = pair // n_cat, pair % n_cat
    n_per_cat = np.bincount(p_cat, minlength=n_cat)
    by_cat: dict[str, dict] = {}
    sums = {}
    for k in METRIC_KEYS:
        v = arrays[k][p_imp]
        ok = ~np.isnan(v)
        sums[k] = (np.bincount(p_cat[ok], v[ok], minlength=n_cat), np.bincount(p_cat[ok], minlength=n_cat))
    for c in np.flatnonzero(n_per_cat):
        by_cat[news.categories[c]] = {
            **{name: (float(sums[k][0][c] / sums[k][1][c]) if sums[k][1][c] else None)
               for k, name in METRIC_KEYS.items()},
            "n": int(n_per_cat[c]),
        }
    metrics_by = {
        "category": by_cat,
        "cold": {"auc": mean_or_none(arrays["auc_cold"]), "n": int((~np.isnan(arrays["auc_cold"])).sum())},
        "warm": {"auc": mean_or_none(arrays["auc_warm"]), "n": int((~np.isnan(arrays["auc_warm"])).sum())},
    }
    if weights is not None:
        arrays.update(weight_arrays(weights, news.category, n_cat, ~dataset.seen_in_train()))
    return metrics, metrics_by, arrays


def weight_arrays(weights: np.ndarray, category: np.ndarray, n_cat: int, cold: np.ndarray) -> dict:
    """Mean modality weights per news category (n_cat x k, NaN for empty), counts, and cold/warm means (2 x k)."""
    cat = category.astype(np.int64)
    count = np.bincount(cat, minlength=n_cat)
    sums = np.stack([np.bincount(cat, weights[:, j], minlength=n_cat) for j in range(weights.shape[1])], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_cat = sums / count[:, None]
    cw = np.full((2, weights.shape[1]), np.nan)
    for row, sel in enumerate((cold, ~cold)):
        if sel.any():
            cw[row] = weights[sel].mean(axis=0)
    return {"weights_by_category": by_cat, "weights_count": count.astype(np.int64), "weights_cold_warm": cw}


# ------------------------------------------- attribution of a trained model (the measure itself: newsbench.attribution)


def ablated_scores(model, dataset, cfg, device) -> dict[str, np.ndarray]:
    """{modality: dev scores with that modality's projected vector (NewsEncoder.project) replaced by its mean over
    all news}, for a model with k > 1 modalities. The replacement applies to every news, in histories and candidates
    alike; the fused vector is recomputed through the run's own fusion, then the user encoder and the dot product,
    exactly as in evaluation (score_candidates)."""
    enc = model.news_encoder
    if enc.fusion is None:
        raise ValueError("attribution needs a model with at least two modalities")
    n_news = len(dataset.news)

    def project(idx):
        id_rows = enc.id_map[idx] if enc.id_embedding is not None else None
        feats = enc.features[idx] if enc.feature_slices else None
        return enc.project(id_rows, feats)

    chunks = [torch.arange(a, min(a + EVAL_NEWS_CHUNK, n_news), device=device)
              for a in range(0, n_news, EVAL_NEWS_CHUNK)]
    with torch.no_grad():
        # the mean projected vector of each modality over all news (float32 sums, whatever autocast computes in)
        total = None
        for idx in chunks:
            with _autocast(cfg, device):
                h = project(idx)
            s = h.float().sum(dim=0)
            total = s if total is None else total + s
        mean = total / n_news                                           # (k, d)
        out = {}
        for j, m in enumerate(enc.modalities):
            vecs, logits = [], []
            for idx in chunks:
                with _autocast(cfg, device):
                    h = project(idx)
                    h[:, j] = mean[j].to(h.dtype)
                    v, _ = enc.fusion(h)
                    lg = model.user_encoder.logits(v)
                vecs.append(v.float())
                logits.append(lg.float())
            out[m] = score_candidates(model, torch.cat(vecs), torch.cat(logits), dataset.dev, cfg, device)
    return out


def model_attribution(model, dataset, cfg, device, full: np.ndarray) -> dict:
    """The `attribution` entry of a run record (drops_record) for a trained multi-modality model whose plain dev
    scores are `full`. Costs one more scoring pass per modality."""
    return drops_record(full, ablated_scores(model, dataset, cfg, device), dataset)


# ------------------------------------------------------------------------------------------------------ a run


def environment(device: torch.device) -> dict:
    dev = str(device)
    if device.type == "cuda":
        dev = f"{device} ({torch.cuda.get_device_name(device)})"
    return {"newsbench": newsbench.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": sys.version.split()[0], "platform": platform.platform(), "device": dev}


def train_run(dataset: Dataset, features: dict | None, cfg: RunConfig, progress: Progress = None,
              features_info: dict | None = None, on_model: OnModel = None) -> tuple[dict, dict[str, np.ndarray]]:
    """Train and evaluate one config. Returns (record, arrays) in the format of newsbench.store.

    Runs with cfg.cpu_threads torch threads (restored afterwards): the metrics depend on the thread count, so it is
    part of the config rather than of whichever executor happens to run it. `on_model(model, device)` is called once
    the record is made, with the trained model in eval mode and the same threads (newsbench.predict scores another
    split with it: no model is saved).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.cpu_threads)
    try:
        return _train_run(dataset, features, cfg, progress, features_info, on_model)
    finally:
        torch.set_num_threads(previous)


def _train_run(dataset: Dataset, features: dict | None, cfg: RunConfig, progress: Progress,
               features_info: dict | None, on_model: OnModel = None) -> tuple[dict, dict[str, np.ndarray]]:
    if dataset.train is None or dataset.dev is None:
        raise InputError(f"dataset {dataset.name} needs both a train and a dev split")
    if (dataset.dev.label < 0).any():
        raise InputError(f"dataset {dataset.name}: the dev split has unlabelled impressions; it cannot be scored")
    if cfg.device == "auto":
        raise ValueError("resolve cfg.device with newsbench.train.resolve_device first")
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    model, n_rows, llm_dim, gnn_dim = _build_model(dataset, features, cfg, device)

    losses, epoch_seconds, n_samples, skipped = train_model(model, dataset, cfg, device, progress)

    if progress is not None:
        progress({"event": "eval"})
    model.eval()
    _sync(device)
    t0 = time.perf_counter()
    scores, weights = score_dev(model, dataset, cfg, device)
    k = len(cfg.modalities)
    order = ascending_order(scores, dataset.dev.cand_ptr)     # one sort: MRR and nDCG, then the top lists
    metrics, metrics_by, arrays = evaluate(scores, dataset, weights if has_weights(cfg.fusion, k) else None, order)
    t1 = time.perf_counter()
    arrays.update(beyond.run_arrays(scores, dataset, order=order))    # diversity, novelty, ... (beyond.py)
    beyond_seconds = time.perf_counter() - t1
    _sync(device)
    eval_seconds = time.perf_counter() - t0
    attribution, attribution_seconds = None, None
    if k > 1:       # AUC lost per category and cold/warm when one modality is replaced by its mean (attribution.py)
        t0 = time.perf_counter()
        attribution = model_attribution(model, dataset, cfg, device, scores)
        attribution_seconds = time.perf_counter() - t0

    train_seconds = sum(epoch_seconds)
    weights_info = None
    if "weights_by_category" in arrays:
        weights_info = {"modalities": list(cfg.modalities), "categories": list(dataset.news.categories),
                        "mean": weights.mean(axis=0).tolist()}
    inputs = inputs_read(cfg, features_info)
    record = {
        "run_id": cfg.run_id(dataset.fingerprint, inputs),
        "schema": RECORD_SCHEMA,
        "config": cfg.to_dict(),
        "label": cfg.label,
        "group": cfg.group_id(inputs),
        "inputs": inputs,
        "dataset": {
            "name": dataset.name, "fingerprint": dataset.fingerprint,
            "n_train_impressions": len(dataset.train), "n_dev_impressions": len(dataset.dev),
            "n_news": len(dataset.news), "n_train_samples": n_samples, "n_skipped_clicks": skipped,
            "n_id_rows": n_rows,
        },
        "metrics": metrics,
        "metrics_by": metrics_by,
        "beyond": beyond.summary(arrays),
        "params": count_params(cfg, llm_dim or 384, gnn_dim or 128, n_rows),
        "flops_per_news": flops_per_news(cfg, llm_dim or 384, gnn_dim or 128),
        "timings": {
            "epoch_seconds": epoch_seconds,
            "seconds_per_epoch": train_seconds / max(len(epoch_seconds), 1),
            "samples_per_second": n_samples * len(epoch_seconds) / train_seconds if train_seconds > 0 else None,
            "eval_seconds": eval_seconds,
            "beyond_seconds": beyond_seconds,      # the part of eval_seconds spent on the beyond-accuracy metrics
            "eval_candidates_per_second": len(scores) / eval_seconds if eval_seconds > 0 else None,
            "attribution_seconds": attribution_seconds,
            # process-wide peak (Linux reports KiB): includes data loading and features held by the caller
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "cuda_max_allocated_mb": (torch.cuda.max_memory_allocated(device) / 2**20
                                      if device.type == "cuda" else None),
        },
        "train_loss": losses,
        "features": dict(features_info or {}),
        "weights": weights_info,
        "attribution": attribution,
        "environment": environment(device),
        "command": reproduce_command(cfg, dataset),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if on_model is not None:
        on_model(model, device)
    return record, arrays


def inputs_read(cfg: RunConfig, features_info: dict | None) -> dict:
    """What the run read beyond its dataset (newsbench.inputs): as described with its features when they came with
    a description (the driver's, so a Ray worker need not see the files), else read from disk here."""
    from newsbench import inputs

    llm = (features_info or {}).get("llm") or {}
    if "llm" in cfg.modalities and "inputs" in llm:
        return {**llm["inputs"], **inputs.plugin_inputs(cfg)}
    return inputs.run_inputs(cfg)


def reproduce_command(cfg: RunConfig, dataset: Dataset) -> str:
    """The one `newsbench train ...` command that makes this run again (newsbench.config.train_command)."""
    from newsbench.config import train_command
    from newsbench.options import demo_data_path

    path = (dataset.source or {}).get("path")
    return train_command(cfg.to_dict(), None if demo_data_path(path) else path)


def run_and_save(dataset: Dataset, features: dict | None, cfg: RunConfig, results, features_info: dict | None = None,
                 progress: Progress = None) -> dict:
    """train_run, then write the record atomically into `results` (store.save_record). Returns the record."""
    record, arrays = train_run(dataset, features, cfg, progress=progress, features_info=features_info)
    store.save_record(results, record, arrays)
    return record
