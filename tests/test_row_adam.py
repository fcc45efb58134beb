"""RowAdam against torch's SparseAdam: the same parameters, bit for bit, over steps with repeated and absent rows."""

import pytest
import torch
from torch import nn

from newsbench.model.row_adam import RowAdam


def _train(opt_cls, steps=12, threads=1):
    torch.manual_seed(0)
    emb = nn.Embedding(50, 8, sparse=True)
    opt = opt_cls(emb.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(1)
    torch.set_num_threads(threads)
    for s in range(steps):
        idx = torch.randint(0, 50 if s % 3 else 7, (40,), generator=g)     # duplicates; some steps touch few rows
        target = torch.randn(40, 8, generator=g)
        loss = ((emb(idx) - target) ** 2).sum() * (10.0 ** (s % 4 - 2))    # gradients over several scales
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return emb.weight.detach().clone(), opt


@pytest.mark.parametrize("threads", [1, 2])
def test_row_adam_equals_sparse_adam_bitwise(threads):
    previous = torch.get_num_threads()
    try:
        ours, opt = _train(RowAdam, threads=threads)
        ref, ref_opt = _train(torch.optim.SparseAdam, threads=threads)
    finally:
        torch.set_num_threads(previous)
    assert torch.equal(ours, ref)
    p = next(iter(opt.state))
    q = next(iter(ref_opt.state))
    assert torch.equal(opt.state[p]["exp_avg"], ref_opt.state[q]["exp_avg"])
    assert torch.equal(opt.state[p]["exp_avg_sq"], ref_opt.state[q]["exp_avg_sq"])
    assert not torch.equal(ours, _train(RowAdam, steps=11)[0])     # the comparison can tell runs apart


def test_row_adam_refuses_dense_gradients_and_bad_settings():
    w = nn.Parameter(torch.zeros(3, 2))
    opt = RowAdam([w])
    w.grad = torch.ones(3, 2)
    with pytest.raises(RuntimeError, match="sparse"):
        opt.step()
    with pytest.raises(ValueError):
        RowAdam([w], lr=0.0)
