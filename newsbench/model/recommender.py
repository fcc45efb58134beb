"""The click predictor: user vector . candidate vector, with news encoded once per distinct item per batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from newsbench.config import RunConfig
from newsbench.model.encoders import NewsEncoder, UserEncoder


def gather_rows(table: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """table[idx] whose backward is deterministic. Plain indexing backpropagates through index_put_(accumulate=True),
    which on a multi-threaded CPU adds with float atomics in a racy order, so repeated slots (every history slot
    of a popular news) would make two identical runs differ in the last bits and, through Adam, in their metrics.
    The embedding backward sums the same values in a fixed order."""
    return F.embedding(idx, table)


class Recommender(nn.Module):
    """News encoder -> user encoder -> dot product, as in DESIGN.md."""

    def __init__(self, cfg: RunConfig, n_id_rows: int, llm_dim: int = 0, gnn_dim: int = 0, sparse_id: bool = True):
        super().__init__()
        self.news_encoder = NewsEncoder(
            cfg.modalities, cfg.fusion, n_id_rows, llm_dim=llm_dim, gnn_dim=gnn_dim,
            id_dim=cfg.id_dim, dim=cfg.dim, sparse_id=sparse_id,
            # the placebo's width is a config field (its vectors are made per run), not a measured feature width
            rand_dim=cfg.rand_dim if "rand" in cfg.modalities else 0,
            frozen_init=cfg.frozen_init, news_dropout=cfg.news_dropout,
            fusion_init=cfg.fusion_init,
        )
        self.user_encoder = UserEncoder(cfg.dim, cfg.user_hidden)

    def forward(self, hist: torch.Tensor, mask: torch.Tensor, cand: torch.Tensor,
                unknown: torch.Tensor | None = None) -> torch.Tensor:
        """hist (B, L) news indices (padding: any valid index, masked out), mask (B, L) bool, cand (B, C) -> (B, C).
        `unknown` (B, L + C) bool, optional: history and candidate slots whose news is encoded with the 'unknown'
        ID row (ID dropout); a dropped slot and a kept slot of the same news are two distinct items.

        A batch of B samples names B*(L+C) slots but far fewer distinct news: each distinct news is encoded once,
        the user-attention logit computed once per distinct history news, histories pooled straight from those
        rows (no (B, L, d) slot tensor), candidates gathered from them.
        """
        b, l = hist.shape
        slots = torch.cat([hist.reshape(-1), cand.reshape(-1)])
        if unknown is None:
            uniq, inv = torch.unique(slots, return_inverse=True)
            vecs, _ = self.news_encoder(uniq)
        else:
            # (news, dropped) as one key: every distinct pair is encoded once
            drop = torch.cat([unknown[:, :l].reshape(-1), unknown[:, l:].reshape(-1)])
            uniq, inv = torch.unique(slots * 2 + drop, return_inverse=True)
            vecs, _ = self.news_encoder(uniq // 2, unknown=(uniq % 2).bool())
        hpos, cpos = inv[: b * l].view(b, l), inv[b * l:].view(cand.shape)
        # the attention logit only for news some history names: candidate-only news (half the distinct news of
        # a demo batch) never need it, and Linear(d, 200) is a quarter of the per-news FLOPs
        hrows, hpos = torch.unique(hpos, return_inverse=True)
        hvecs = gather_rows(vecs, hrows)
        users = self.user_encoder.pool_rows(hvecs, self.user_encoder.logits(hvecs), hpos, mask)
        # broadcast multiply + sum rather than einsum: einsum lowers to B tiny (1, d) @ (d, C) batched matmuls,
        # about 3x slower forward + backward on CPU at B=1024, C=5, d=256
        return (users[:, None, :] * gather_rows(vecs, cpos)).sum(-1)

    def forward_naive(self, hist: torch.Tensor, mask: torch.Tensor, cand: torch.Tensor,
                      unknown: torch.Tensor | None = None) -> torch.Tensor:
        """Reference form: every slot encoded on its own (what `forward` must equal)."""
        b, l = hist.shape
        hu = cu = None
        if unknown is not None:
            hu, cu = unknown[:, :l].reshape(-1), unknown[:, l:].reshape(-1)
        hvecs, _ = self.news_encoder(hist.reshape(-1), unknown=hu)
        cvecs, _ = self.news_encoder(cand.reshape(-1), unknown=cu)
        users = self.user_encoder(hvecs.view(b, l, -1), mask)
        return torch.einsum("bd,bcd->bc", users, cvecs.view(*cand.shape, -1))
