"""The fast paths of issue 8 against straightforward forms, and the benchmark's naive reference against newsbench:
history pooling by embedding_bag vs gather + weighted sum (values, gradients, determinism), the elementwise
fusion sum vs einsum, the naive per-sample batches vs the vectorised arrays, naive per-impression scores vs
`score_dev`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from newsbench.config import RunConfig
from newsbench.model import UserEncoder
from newsbench.model.fusion import weighted_sum
from newsbench.train import TrainingClicks, _build_model, history_matrix, score_dev
from toydata import make_dataset, make_features

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "train_speed.py"
SMALL = dict(epochs=1, batch_size=32, id_dim=16, dim=32, user_hidden=16)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_speed", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def toy():
    ds = make_dataset()
    return ds, make_features(ds)


def _pool_inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    vecs = torch.randn(40, 16, generator=g, requires_grad=True)
    logits = torch.randn(40, generator=g, requires_grad=True)
    pos = torch.randint(0, 40, (9, 12), generator=g)
    pos[1, :6] = 3                                             # repeated rows: the accumulating backward
    mask = torch.rand(9, 12, generator=g) < 0.6
    mask[0] = False                                            # an empty history
    mask[2] = True                                             # a full one
    return vecs, logits, pos, mask


def test_pool_rows_equals_pool_over_gathered_slots_with_gradients():
    torch.manual_seed(0)
    ue = UserEncoder(16, 8)
    vecs, logits, pos, mask = _pool_inputs()
    w = torch.randn(9, 16)
    fast = ue.pool_rows(vecs, logits, pos, mask)
    slow = ue.pool(vecs[pos], logits[pos], mask)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fast[0], ue.no_history.detach())
    g_fast = torch.autograd.grad((fast * w).sum(), [vecs, logits, ue.no_history])
    g_slow = torch.autograd.grad((slow * w).sum(), [vecs, logits, ue.no_history])
    for a, b in zip(g_fast, g_slow):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert g_fast[0][3].abs().sum() > 0


def test_pool_rows_backward_is_bitwise_deterministic():
    torch.manual_seed(0)
    ue = UserEncoder(64, 8)
    g = torch.Generator().manual_seed(5)
    vecs = torch.randn(300, 64, generator=g, requires_grad=True)
    logits = torch.randn(300, generator=g, requires_grad=True)
    pos = torch.randint(0, 300, (512, 50), generator=g)        # many repeats per row, several threads' worth
    mask = torch.rand(512, 50, generator=g) < 0.5
    grads = [torch.autograd.grad(ue.pool_rows(vecs, logits, pos, mask).square().sum(), [vecs, logits])
             for _ in range(3)]
    for other in grads[1:]:
        for a, b in zip(grads[0], other):
            assert torch.equal(a, b)


def test_all_empty_histories_give_no_history_vectors():
    ue = UserEncoder(16, 8)
    vecs, logits, pos, _ = _pool_inputs()
    users = ue.pool_rows(vecs, logits, pos, torch.zeros_like(pos, dtype=torch.bool))
    torch.testing.assert_close(users, ue.no_history.detach().expand(9, -1))


def test_weighted_sum_equals_einsum():
    g = torch.Generator().manual_seed(0)
    w, h = torch.rand(7, 3, generator=g), torch.randn(7, 3, 16, generator=g)
    torch.testing.assert_close(weighted_sum(w, h), torch.einsum("bk,bkd->bd", w, h))


def test_naive_batches_match_the_vectorised_arrays(bench, toy):
    ds, _ = toy
    beh = ds.train
    nb = bench.NaiveBatches(beh, 5, 4, seed=0)
    assert len(nb.samples) == len(TrainingClicks(beh))
    hist, mask, cand = nb.batch(0, 40)
    ref_hist, ref_mask = history_matrix(beh, 5)
    imps = np.array([i for i, _ in nb.samples[:40]])
    np.testing.assert_array_equal(mask.numpy(), ref_mask[imps])
    np.testing.assert_array_equal(hist.numpy()[mask.numpy()], ref_hist[imps][ref_mask[imps]])
    for row, (imp, slot) in zip(cand.numpy(), nb.samples[:40]):
        a, b = beh.cand_ptr[imp], beh.cand_ptr[imp + 1]
        assert row[0] == beh.cand[slot] and beh.label[slot] == 1
        assert set(row[1:]) <= set(beh.cand[a:b][beh.label[a:b] == 0].tolist())


def test_naive_impression_scores_equal_score_dev(bench, toy):
    ds, feats = toy
    cfg = RunConfig(fusion="attention", **SMALL)
    model, *_ = _build_model(ds, feats, cfg, torch.device("cpu"))
    model.eval()
    scores, _ = score_dev(model, ds, cfg, torch.device("cpu"))
    beh = ds.dev
    empty = np.flatnonzero(np.diff(beh.hist_ptr) == 0)
    for i in sorted({0, 1, 2, len(beh) - 1, *empty[:2].tolist()}):
        naive = bench.naive_impression_scores(model, beh, i, cfg, torch.device("cpu"))
        np.testing.assert_allclose(scores[beh.cand_ptr[i]:beh.cand_ptr[i + 1]], naive, rtol=1e-4, atol=1e-5)
