"""Fusion of the k projected modality vectors of each news item into one d-dim vector.

Every fusion takes the stacked projections H of shape (B, k, d) and returns (fused (B, d), weights) (the contract:
newsbench.model.registry.Fusion; the registry names these and plug-ins alike). `weights` is the
(B, k) per-news modality weighting the module computed (gate and attention), else None. The formulas and parameter
counts are DESIGN.md's; the comments give the k=3, d=256 counts the tests check.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def weighted_sum(w: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """sum_k w[b, k] h[b, k, :] for w (B, k), h (B, k, d). A broadcast multiply + sum, not einsum: einsum lowers to
    B batched (1, k) @ (k, d) matmuls, about 2x slower forward + backward on CPU for the few thousand news of a
    batch. Being elementwise, FlopCounterMode does not see it; params.flops_per_news adds its 2kd by hand."""
    return (w[:, :, None] * h).sum(dim=1)


class ConcatFusion(nn.Module):
    """cat -> Linear(dk, 512) -> ReLU -> Linear(512, d). k=3: 393,728 + 131,328 = 525,056 parameters."""

    def __init__(self, k: int, dim: int = 256, hidden: int = 512):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(k * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.mlp(h.flatten(1)), None

    def forward_folded(self, inputs: list[torch.Tensor], projections: list[list[nn.Linear]]) -> torch.Tensor:
        """The same function of the unprojected inputs, each modality's projection folded into the first layer:
        W1 cat(P_m x_m + c_m) + b1 = sum_m (W1_m P_m) x_m + (b1 + sum_m W1_m c_m), W1_m = W1's m-th column block.

        `inputs[i]` holds the inputs of the modalities `projections[i]` project, side by side (the ID rows; the
        frozen llm|gnn columns), modalities in canonical order across the list. The folded weights cost a few small
        products per forward; per news the first layer then reads the 640 input columns (k=3, MiniLM) once instead
        of projecting to 768 and multiplying by (768, 512): about 40% fewer FLOPs per news for the configurations
        that dominate a grid's time. One product per input tensor, so autograd computes an input gradient only for
        the ID rows, not for frozen columns. Same parameters, same gradients up to float rounding (tests/
        test_model.py checks both against `forward`)."""
        first = self.mlp[0]
        bias, z, j = first.bias, None, 0
        for x, group in zip(inputs, projections):
            blocks = []
            for p in group:
                block = first.weight[:, j * p.out_features:(j + 1) * p.out_features]     # (hidden, d)
                blocks.append(block @ p.weight)                                        # (hidden, in_m)
                bias = bias + (p.bias[None, :] @ block.t())[0]
                j += 1
            y = F.linear(x, blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=1))
            z = y if z is None else z + y
        return self.mlp[2](torch.relu(z + bias))

    def init_as_mean(self) -> None:
        """Hidden unit j < d reads relu(mean_j), unit d + j reads relu(-mean_j) (W1 = [I .. I; -I .. -I] / k), and
        the second layer subtracts them (W2 = [I, -I]): relu(x) - relu(-x) = x; hidden units past 2d start at 0."""
        first, second = self.mlp[0], self.mlp[2]
        d = second.out_features
        k = first.in_features // d
        if first.out_features < 2 * d:
            raise ValueError(f"concat's hidden width {first.out_features} is below 2 x {d}: "
                             "it cannot start as the mean")
        eye = torch.eye(d, dtype=first.weight.dtype)
        first.weight.zero_()
        first.weight[:d] = eye.repeat(1, k) / k
        first.weight[d:2 * d] = -eye.repeat(1, k) / k
        first.bias.zero_()
        second.weight.zero_()
        second.weight[:, :d] = eye
        second.weight[:, d:2 * d] = -eye
        second.bias.zero_()


class GateFusion(nn.Module):
    """cat -> Linear(dk, k) -> softmax -> weighted sum of the projections. k=3: 2,307 parameters."""

    def __init__(self, k: int, dim: int = 256):
        super().__init__()
        self.gate = nn.Linear(k * dim, k)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        w = torch.softmax(self.gate(h.flatten(1)).float(), dim=-1).to(h.dtype)
        return weighted_sum(w, h), w

    def init_as_mean(self) -> None:
        """Zero weights: the softmax is uniform."""
        self.gate.weight.zero_()
        self.gate.bias.zero_()


class AttentionFusion(nn.Module):
    """The seed's adaptive attention gate: a global query q, keys K = H W_K + b, alpha = softmax(q K^T / sqrt(d)).

    256 + 65,792 = 66,048 parameters whatever k is. `scaled=False` drops the 1/sqrt(d) (the `attention-unscaled`
    fusion), so the seed's section 2.2 claim about scaling can be measured. The query is initialised with
    torch.randn as in the seed's code (model_llm.py:83), which is what makes the scaling matter at all.
    """

    def __init__(self, dim: int = 256, scaled: bool = True, fold: bool = True):
        super().__init__()
        self.query = nn.Parameter(torch.randn(dim))
        self.key = nn.Linear(dim, dim)
        self.scale = 1.0 / math.sqrt(dim) if scaled else 1.0
        self.fold = fold

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        """(B, k) pre-softmax scores q.K^T * scale.

        Folded (default): q.(W h + b) = (W^T q).h + q.b, so the key transform is applied once per batch to the
        query instead of to every modality vector of every news: O(k d) per news instead of O(k d^2). Same
        function, same parameters, same gradients up to float rounding (tested against `fold=False`).
        """
        # (.., d) @ (d, 1) rather than matrix-vector products, so FlopCounterMode counts them (it skips mv)
        q = self.query[:, None]
        if self.fold:
            u = self.key.weight.t() @ q                       # (d, 1)
            return ((h @ u.to(h.dtype)).squeeze(-1) + self.key.bias @ self.query) * self.scale
        return (self.key(h) @ q.to(h.dtype)).squeeze(-1) * self.scale

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # softmax in float32: under autocast the scores may be bf16, whose rounding would distort the weights
        w = torch.softmax(self.scores(h).float(), dim=-1).to(h.dtype)
        return weighted_sum(w, h), w

    def init_as_mean(self) -> None:
        """A zero query: alpha is uniform."""
        self.query.zero_()


class MeanFusion(nn.Module):
    """Parameter-free average of the projections: the floor any learned fusion has to beat."""

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, None]:
        return h.mean(dim=1), None

    def init_as_mean(self) -> None:
        """It is the mean already."""


def init_as_mean(fusion: nn.Module | None) -> None:
    """Set a fusion's parameters so that it starts as the mean of its k projections (MeanFusion), exactly, through
    its own `init_as_mean()`: the contract's optional hook (newsbench.model.registry.Fusion), which the built-ins
    keep as plug-ins do. Every fusion then starts from the same function and learns away from it only as far as
    training drives it. ValueError for a fusion without the hook (the commands refuse it before any work)."""
    if fusion is None:
        return
    hook = getattr(fusion, "init_as_mean", None)
    if not callable(hook):
        raise ValueError(f"no mean init for {type(fusion).__name__}")
    with torch.no_grad():        # parameters are set in place, outside autograd
        hook()
