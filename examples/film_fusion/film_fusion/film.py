"""FiLM fusion: feature-wise linear modulation (Perez et al., "FiLM: Visual Reasoning with a General Conditioning
Layer", AAAI 2018), as a newsbench fusion.

The first modality of the run (the ID vector when the run has it: newsbench orders modalities id, llm, gnn, rand)
conditions the others. From it one linear layer predicts, per news, a scale gamma_m and a shift beta_m for each other
modality m; the fused vector is the conditioning vector plus the mean of the modulated ones:

    fused = h_0 + mean_m ((1 + gamma_m(h_0)) * h_m + beta_m(h_0))

`1 + gamma` rather than `gamma`, so at a zero-initialised modulation the fusion is h_0 + mean_m h_m. It computes no
per-modality weights (forward returns None for them), so the report's weights table has no row for it.
"""

from __future__ import annotations

import torch
from torch import nn


class FiLMFusion(nn.Module):
    """newsbench's fusion contract (newsbench.model.registry.Fusion): built from (k, dim); (B, k, dim) ->
    ((B, dim), None). Parameters: dim * 2(k-1)dim + 2(k-1)dim (k=3, dim=256: 263,168)."""

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k, self.dim = k, dim
        self.film = nn.Linear(dim, 2 * (k - 1) * dim)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, None]:
        cond, rest = h[:, 0], h[:, 1:]
        gamma, beta = self.film(cond).view(-1, 2, self.k - 1, self.dim).unbind(1)
        return cond + ((1 + gamma) * rest + beta).mean(dim=1), None
