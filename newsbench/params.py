"""Exact trainable parameter counts and measured FLOPs per news encoding, for any modality subset and fusion.

Counts come from instantiating the real modules and summing numel, so they cannot
drift from the model; the tests check them against DESIGN.md's arithmetic.
"""

from __future__ import annotations

import dataclasses
from itertools import combinations

import torch
from torch.utils.flop_counter import FlopCounterMode

from newsbench.config import FUSIONS, NO_FUSION, PLACEBO, REAL_MODALITIES, RunConfig
from newsbench.model import NewsEncoder, Recommender
from newsbench.model.registry import hand_flops

# ID rows used by `params_table` when no dataset is named: MIND-small's 51,282 train news + the 'unknown' row.
DEFAULT_ID_ROWS = 51_283
MINILM_DIM = 384          # all-MiniLM-L6-v2's sentence vectors (the default text encoder)


def _numel(module) -> int:
    return 0 if module is None else sum(p.numel() for p in module.parameters() if p.requires_grad)


def count_params(cfg: RunConfig, llm_dim: int = 384, gnn_dim: int = 128, n_id_rows: int = DEFAULT_ID_ROWS) -> dict:
    """Trainable parameters per component: id_embedding, projections (+ projection_<m> each), fusion,
    user_encoder (attention MLP + the no-history vector), total."""
    # on CPU, not the meta device: the meta device's first use imports torch's compiler stack (~5 s)
    with torch.random.fork_rng(devices=[]):
        model = Recommender(cfg, n_id_rows, llm_dim=llm_dim, gnn_dim=gnn_dim)
    ne = model.news_encoder
    out = {
        "id_embedding": _numel(ne.id_embedding),
        "projections": _numel(ne.projections),
        **{f"projection_{m}": _numel(ne.projections[m]) for m in ne.modalities},
        "fusion": _numel(ne.fusion),
        "user_encoder": _numel(model.user_encoder),
        "total": _numel(model),
    }
    assert out["total"] == out["id_embedding"] + out["projections"] + out["fusion"] + out["user_encoder"]
    return out


NEWS_PER_FORWARD = 4096   # about the distinct news one training step encodes on MIND-small at batch 256 (4,000-4,600)


def flops_per_news(cfg: RunConfig, llm_dim: int = 384, gnn_dim: int = 128, batch: int = NEWS_PER_FORWARD) -> int:
    """FLOPs of encoding one news item (news encoder forward), counted by FlopCounterMode over `batch` news / batch.

    Matmuls (what FlopCounterMode counts) plus the fusion's weighted sum. Per-forward work (the attention gate's
    folded key W_K^T q, concat's folded first layer W1_m P_m) is spread over the `batch` news one forward encodes:
    a training step encodes its distinct news at once (thousands, not cfg.batch_size samples)."""
    width = ((llm_dim if "llm" in cfg.modalities else 0) + (gnn_dim if "gnn" in cfg.modalities else 0)
             + (cfg.rand_dim if PLACEBO in cfg.modalities else 0))
    with torch.random.fork_rng(devices=[]):          # leave the caller's random state alone
        torch.manual_seed(0)
        enc = NewsEncoder(cfg.modalities, cfg.fusion, 2, llm_dim=llm_dim, gnn_dim=gnn_dim, id_dim=cfg.id_dim,
                          dim=cfg.dim, rand_dim=cfg.rand_dim if PLACEBO in cfg.modalities else 0)
        enc.set_inputs(torch.zeros(batch, dtype=torch.long), torch.randn(batch, width))
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        enc(torch.arange(batch))
    total = counter.get_total_flops()
    # the gate/attention weighted sum (2kd per news) runs as a broadcast multiply + sum, which FlopCounterMode does
    # not see; it is counted by hand so the figure stays the model's arithmetic whatever kernel computes it. A
    # plug-in's figure is what the counter counts (its matmuls, convolutions, ...): docs/plugins.md
    total += hand_flops(cfg.fusion, len(enc.modalities), cfg.dim) * batch
    return int(total // batch)


def subsets(placebo: bool = False) -> list[tuple[str, ...]]:
    """All 7 non-empty subsets of the real modalities, singles first, in canonical order; with `placebo`, then each
    of them with `rand` added (the controls: 14 in all)."""
    real = [c for r in range(1, len(REAL_MODALITIES) + 1) for c in combinations(REAL_MODALITIES, r)]
    return real + ([c + (PLACEBO,) for c in real] if placebo else [])


def params_table(llm_dim: int = 384, gnn_dim: int = 128, n_id_rows: int = DEFAULT_ID_ROWS,
                 rand_dim: int | None = None, base: RunConfig | None = None,
                 fusions: tuple[str, ...] = FUSIONS) -> list[dict]:
    """One row per (modality subset, fusion): singles once (no fusion), multi-modal subsets x every fusion of
    `fusions` (built-ins or plug-ins, counted from the modules alike). `rand_dim`: also the placebo configurations
    (each real subset + rand), rand at that width. `base`: the widths (id_dim, dim, user_hidden) of every row;
    RunConfig's defaults when None."""
    base = base or RunConfig()
    rows = []
    for mods in subsets(placebo=rand_dim is not None):
        for fusion in ([NO_FUSION] if len(mods) == 1 else fusions):
            cfg = dataclasses.replace(base, modalities=mods, fusion=fusion if fusion != NO_FUSION else "attention")
            if rand_dim is not None:
                cfg = dataclasses.replace(cfg, rand_dim=rand_dim)
            rows.append({
                "label": cfg.label, "modalities": "+".join(mods), "fusion": cfg.fusion,
                **count_params(cfg, llm_dim, gnn_dim, n_id_rows),
                "flops_per_news": flops_per_news(cfg, llm_dim, gnn_dim),
            })
    return rows


def text_width(encoder: str) -> int:
    """The width of the llm features an encoder spec gives, without embedding anything: minilm 384, hash:DIM its
    DIM, file:PATH the vectors' width (the file is read and checked as a run reads it), st:NAME the model's own
    (the model is loaded), a plug-in's on two titles. InputError as a run would raise it (a missing file, an
    unknown model)."""
    from newsbench.features import text

    kind, arg = text.encoder_kind(encoder)              # each kind knows its width (newsbench.features.encoders)
    return kind.width(arg)
