"""RowAdam: torch's SparseAdam update, the same floats, applied to the touched rows by index.

SparseAdam (torch.optim._functional.sparse_adam) reads and writes its dense moment tables through sparse tensors
(`sparse_mask`, `dense.add_(sparse)`); on CPU those cost a few milliseconds a step on MIND-small's 48,560-row ID table
whatever the batch touches (about a fifth of an `id` run's training step at batch 256). Here the same expressions
run on rows gathered with `index_select` and written back with `index_add_` over the coalesced (unique) indices:
every value is computed by the same operations in the same order, so the parameters match SparseAdam's bit for bit
(tests/test_row_adam.py) and runs keep their metrics.
"""

from __future__ import annotations

import math

import torch


class RowAdam(torch.optim.Optimizer):
    """Lazy Adam for parameters with sparse gradients (an nn.Embedding(sparse=True)): only touched rows move."""

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        if lr <= 0 or eps <= 0 or not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"invalid RowAdam settings: lr={lr}, betas={betas}, eps={eps}")
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("RowAdam takes no closure")
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            eps, lr = group["eps"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if not p.grad.is_sparse:
                    raise RuntimeError("RowAdam is for sparse gradients; use Adam for dense ones")
                grad = p.grad.coalesce()          # the update is non-linear: one value per row
                rows, values = grad._indices()[0], grad._values()
                if values.numel() == 0:
                    continue
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                    state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
                state["step"] += 1
                exp_avg, exp_avg_sq, step = state["exp_avg"], state["exp_avg_sq"], state["step"]
                # old <- old + (1 - b) * (new - old), as SparseAdam writes it
                old_avg = exp_avg.index_select(0, rows)
                avg_update = values.sub(old_avg).mul_(1 - beta1)
                exp_avg.index_add_(0, rows, avg_update)
                old_sq = exp_avg_sq.index_select(0, rows)
                sq_update = values.pow(2).sub_(old_sq).mul_(1 - beta2)
                exp_avg_sq.index_add_(0, rows, sq_update)
                numer = avg_update.add_(old_avg)
                sq_update.add_(old_sq)
                denom = sq_update.sqrt_().add_(eps)
                step_size = lr * math.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
                p.index_add_(0, rows, -step_size * numer.div_(denom))
        return None
