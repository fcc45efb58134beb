"""The model's parts: fusion shapes and weights, attention scaling, empty histories, and the fast paths
(distinct-news encoding, sparse ID gradients) against their straightforward forms."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from newsbench.config import FUSIONS, RunConfig
from newsbench.model import AttentionFusion, GateFusion, Recommender, UserEncoder, make_fusion
from newsbench.params import subsets
from newsbench.model.row_adam import RowAdam

SMALL = dict(id_dim=8, dim=16, user_hidden=12, rand_dim=4)


def _model(cfg: RunConfig, n_news: int = 30, sparse_id: bool = True, seed: int = 0) -> Recommender:
    torch.manual_seed(seed)
    model = Recommender(cfg, n_news + 1, llm_dim=6, gnn_dim=5, sparse_id=sparse_id)
    g = torch.Generator().manual_seed(1)
    id_map = torch.arange(1, n_news + 1)
    id_map[-3:] = 0                                           # three 'cold' news share the unknown row
    # llm (6) | gnn (5) | rand (cfg.rand_dim) columns; a model reads the slices of its own modalities from column 0
    model.news_encoder.set_inputs(id_map, torch.randn(n_news, 11 + cfg.rand_dim, generator=g))
    return model


def _batch(n_news: int = 30, b: int = 6, l: int = 7, c: int = 5, seed: int = 2):
    g = torch.Generator().manual_seed(seed)
    hist = torch.randint(0, n_news, (b, l), generator=g)
    mask = torch.rand(b, l, generator=g) < 0.7
    mask[0] = False                                           # one user with no history
    cand = torch.randint(0, n_news, (b, c), generator=g)
    return hist, mask, cand


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("k", [2, 3, 4])
def test_fusion_shapes_and_weights_sum_to_one(fusion, k):
    torch.manual_seed(0)
    f = make_fusion(fusion, k, 16)
    out, w = f(torch.randn(9, k, 16))
    assert out.shape == (9, 16)
    if fusion in ("gate", "attention", "attention-unscaled"):
        assert w.shape == (9, k)
        torch.testing.assert_close(w.sum(1), torch.ones(9))
        assert (w >= 0).all()
    else:
        assert w is None
    assert make_fusion(fusion, 1, 16) is None


def test_gate_and_attention_outputs_are_the_weighted_sums():
    torch.manual_seed(0)
    h = torch.randn(4, 3, 16)
    for f in (GateFusion(3, 16), AttentionFusion(16)):
        out, w = f(h)
        torch.testing.assert_close(out, (w[:, :, None] * h).sum(1))


def test_attention_scaled_and_unscaled_differ_by_sqrt_d():
    torch.manual_seed(0)
    scaled = AttentionFusion(256, scaled=True)
    unscaled = AttentionFusion(256, scaled=False)
    unscaled.load_state_dict(scaled.state_dict())
    h = torch.randn(5, 3, 256)
    torch.testing.assert_close(unscaled.scores(h), scaled.scores(h) * math.sqrt(256))
    q_k = scaled.key(h) @ scaled.query
    torch.testing.assert_close(scaled.scores(h), q_k / 16)
    assert not torch.allclose(scaled(h)[1], unscaled(h)[1])


@pytest.mark.parametrize("scaled", [True, False])
def test_folded_key_equals_the_explicit_key_transform(scaled):
    torch.manual_seed(0)
    folded = AttentionFusion(64, scaled=scaled, fold=True)
    explicit = AttentionFusion(64, scaled=scaled, fold=False)
    explicit.load_state_dict(folded.state_dict())
    # float64: unscaled scores saturate the softmax, where float32 rounding alone would differ visibly
    folded, explicit = folded.double(), explicit.double()
    h = torch.randn(7, 3, 64, dtype=torch.float64)
    (of, wf), (oe, we) = folded(h), explicit(h)
    torch.testing.assert_close(wf, we)
    torch.testing.assert_close(of, oe)
    (of * torch.arange(64.0, dtype=torch.float64)).sum().backward()
    (oe * torch.arange(64.0, dtype=torch.float64)).sum().backward()
    for (name, a), (_, b) in zip(folded.named_parameters(), explicit.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-9, msg=name)


@pytest.mark.parametrize("mods", subsets(placebo=True))
@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_subset_and_fusion_scores_a_batch(mods, fusion):
    cfg = RunConfig(modalities=mods, fusion=fusion, **SMALL)
    model = _model(cfg)
    hist, mask, cand = _batch()
    scores = model(hist, mask, cand)
    assert scores.shape == cand.shape and torch.isfinite(scores).all()
    vecs, w = model.news_encoder(torch.arange(30))
    assert vecs.shape == (30, 16)
    assert (w is not None) == (len(mods) > 1 and fusion in ("gate", "attention", "attention-unscaled"))


def test_empty_history_gives_the_learned_no_history_vector():
    torch.manual_seed(0)
    ue = UserEncoder(16, 12)
    vecs = torch.randn(3, 4, 16)
    mask = torch.tensor([[False] * 4, [True, True, False, False], [True] * 4])
    users = ue(vecs, mask)
    torch.testing.assert_close(users[0], ue.no_history.detach())
    alpha = torch.softmax(ue.logits(vecs[1, :2]), 0)
    torch.testing.assert_close(users[1], (alpha[:, None] * vecs[1, :2]).sum(0))
    users.sum().backward()
    assert ue.no_history.grad is not None and ue.no_history.grad.abs().sum() > 0


@pytest.mark.parametrize("fusion", ["attention", "concat", "gate"])
def test_distinct_news_encoding_equals_per_slot_encoding(fusion):
    cfg = RunConfig(fusion=fusion, **SMALL)
    fast, naive = _model(cfg, sparse_id=False), _model(cfg, sparse_id=False)
    hist, mask, cand = _batch()
    target = torch.zeros(len(cand), dtype=torch.long)
    s_fast, s_naive = fast(hist, mask, cand), naive.forward_naive(hist, mask, cand)
    torch.testing.assert_close(s_fast, s_naive, rtol=1e-5, atol=1e-5)
    torch.nn.functional.cross_entropy(s_fast, target).backward()
    torch.nn.functional.cross_entropy(s_naive, target).backward()
    for (name, a), (_, b) in zip(fast.named_parameters(), naive.named_parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-6, msg=name)


def test_sparse_id_gradients_and_sparse_adam_step_equal_dense():
    from newsbench.train import make_optimizers

    cfg = RunConfig(fusion="attention", **SMALL)
    sparse, dense = _model(cfg, sparse_id=True), _model(cfg, sparse_id=False)
    hist, mask, cand = _batch()
    target = torch.zeros(len(cand), dtype=torch.long)
    ls, ld = (torch.nn.functional.cross_entropy(m(hist, mask, cand), target) for m in (sparse, dense))
    assert ls.item() == ld.item()
    ls.backward()
    ld.backward()
    gs, gd = sparse.news_encoder.id_embedding.weight.grad, dense.news_encoder.id_embedding.weight.grad
    assert gs.is_sparse and not gd.is_sparse
    torch.testing.assert_close(gs.to_dense(), gd)
    opts = make_optimizers(sparse, 1e-2)
    assert [type(o) for o in opts] == [torch.optim.Adam, RowAdam]
    assert opts[1].param_groups[0]["params"] == [sparse.news_encoder.id_embedding.weight]
    # one step: RowAdam (SparseAdam's update) + Adam versus Adam over everything. From fresh moments Adam leaves untouched rows
    # exactly in place (zero gradient, zero moments), so the two must agree on every parameter. SparseAdam folds
    # the bias correction into the step size, which moves eps by sqrt(1 - beta2); a tiny eps removes that artefact.
    for o in opts:
        for g in o.param_groups:
            g["eps"] = 1e-14
    dense_opt = torch.optim.Adam(dense.parameters(), lr=1e-2, eps=1e-14)
    for o in opts:
        o.step()
    dense_opt.step()
    for (name, a), (_, b) in zip(sparse.named_parameters(), dense.named_parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)
    touched = gd.abs().sum(1) > 0
    assert 0 < touched.sum() < len(touched)


@pytest.mark.parametrize("fusion", ["attention", "concat"])
def test_id_dropout_slots_are_encoded_with_the_unknown_row(fusion):
    # the distinct-(news, dropped) encoding equals encoding every slot on its own with its own unknown flag
    cfg = RunConfig(fusion=fusion, **SMALL)
    fast, naive = _model(cfg, sparse_id=False), _model(cfg, sparse_id=False)
    hist, mask, cand = _batch()
    g = torch.Generator().manual_seed(5)
    unknown = torch.rand(hist.shape[0], hist.shape[1] + cand.shape[1], generator=g) < 0.3
    s_fast, s_naive = fast(hist, mask, cand, unknown), naive.forward_naive(hist, mask, cand, unknown)
    torch.testing.assert_close(s_fast, s_naive, rtol=1e-5, atol=1e-5)
    # every slot dropped: the same scores as a model whose every news maps to row 0
    everything = _model(cfg, sparse_id=False)
    everything.news_encoder.id_map = torch.zeros_like(everything.news_encoder.id_map)
    torch.testing.assert_close(fast(hist, mask, cand, torch.ones_like(unknown)), everything(hist, mask, cand))
    # no slot dropped: the plain forward
    torch.testing.assert_close(fast(hist, mask, cand, torch.zeros_like(unknown)), fast(hist, mask, cand))


def test_unknown_row_gets_gradient_only_from_dropped_or_cold_slots():
    cfg = RunConfig(modalities=("id",), **SMALL)
    model = _model(cfg, sparse_id=False)
    hist, mask, cand = _batch()
    cand = cand.clamp(max=26)                             # news 27-29 are the cold ones (row 0): keep them out
    hist = hist.clamp(max=26)
    target = torch.zeros(len(cand), dtype=torch.long)
    torch.nn.functional.cross_entropy(model(hist, mask, cand), target).backward()
    assert model.news_encoder.id_embedding.weight.grad[0].abs().sum() == 0
    model.zero_grad()
    unknown = torch.zeros(hist.shape[0], hist.shape[1] + cand.shape[1], dtype=torch.bool)
    unknown[:, -1] = True                                 # the last candidate of every sample is dropped
    torch.nn.functional.cross_entropy(model(hist, mask, cand, unknown), target).backward()
    assert model.news_encoder.id_embedding.weight.grad[0].abs().sum() > 0


@pytest.mark.parametrize("mods", [("id", "llm", "gnn"), ("id", "llm"), ("id", "gnn"), ("llm", "gnn"), ("id", "rand"),
                                  ("id", "llm", "gnn", "rand")])
def test_folded_concat_equals_the_literal_concat(mods):
    # ConcatFusion.forward_folded (the default in NewsEncoder) against cat(projections) -> MLP: same scores, same
    # gradients for every parameter, up to float rounding (float64 makes "up to rounding" tight)
    cfg = RunConfig(modalities=mods, fusion="concat", **SMALL)
    folded, literal = _model(cfg, sparse_id=False).double(), _model(cfg, sparse_id=False).double()
    literal.news_encoder.fold_concat = False
    for m in (folded, literal):
        m.news_encoder.features = m.news_encoder.features.double() if m.news_encoder.features is not None else None
    hist, mask, cand = _batch()
    target = torch.zeros(len(cand), dtype=torch.long)
    sf, sl = folded(hist, mask, cand), literal(hist, mask, cand)
    torch.testing.assert_close(sf, sl, rtol=1e-10, atol=1e-12)
    torch.nn.functional.cross_entropy(sf, target).backward()
    torch.nn.functional.cross_entropy(sl, target).backward()
    for (name, a), (_, b) in zip(folded.named_parameters(), literal.named_parameters()):
        assert a.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-12, msg=name)
    # and the check can fail: a perturbed first layer gives other scores
    with torch.no_grad():
        folded.news_encoder.fusion.mlp[0].weight[0, 0] += 1.0
    assert not torch.allclose(folded(hist, mask, cand), sl)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("mods", [("id", "rand"), ("id", "llm", "gnn"), ("id", "llm", "gnn", "rand")])
def test_zero_frozen_init_starts_from_the_learned_inputs_alone(fusion, mods):
    # --frozen-init zero: at init the scores do not depend on the frozen inputs' values (any llm|gnn|rand columns
    # give the same scores), while a frozen modality's projection still gets a gradient, so it can grow
    cfg = RunConfig(modalities=mods, fusion=fusion, frozen_init="zero", **SMALL)
    model = _model(cfg)
    hist, mask, cand = _batch()
    scores = model(hist, mask, cand)
    feats = model.news_encoder.features
    model.news_encoder.set_inputs(model.news_encoder.id_map, torch.randn(feats.shape) * 5)
    torch.testing.assert_close(model(hist, mask, cand), scores)
    torch.nn.functional.cross_entropy(scores, torch.zeros(len(cand), dtype=torch.long)).backward()
    for m in mods:
        if m != "id":
            assert model.news_encoder.projections[m].weight.grad.abs().sum() > 0, m
    # the default init does depend on them
    default = _model(dataclasses.replace(cfg, frozen_init="default"))
    s0 = default(hist, mask, cand)
    default.news_encoder.set_inputs(default.news_encoder.id_map, torch.randn(feats.shape) * 5)
    assert not torch.allclose(default(hist, mask, cand), s0)


def test_zero_frozen_init_leaves_the_learned_parameters_as_the_default_init_draws_them():
    # zeroing draws nothing: every other parameter is the default init's, so `id` runs and the ID table are unchanged
    cfg = RunConfig(modalities=("id", "rand"), fusion="concat", **SMALL)
    a, b = _model(cfg), _model(dataclasses.replace(cfg, frozen_init="zero"))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        if name != "news_encoder.projections.rand.weight":
            torch.testing.assert_close(p, q, msg=name)
    assert (b.news_encoder.projections["rand"].weight == 0).all()


def test_frozen_lr_scales_the_frozen_projections_only():
    from newsbench.train import make_optimizers

    cfg = RunConfig(modalities=("id", "llm", "rand"), fusion="gate", **SMALL)
    model = _model(cfg)
    opts = make_optimizers(model, 1e-2, 0.1)
    groups = opts[0].param_groups
    assert [g["lr"] for g in groups] == [1e-2, pytest.approx(1e-3)]
    enc = model.news_encoder
    frozen = {id(p) for m in ("llm", "rand") for p in enc.projections[m].parameters()}
    assert {id(p) for p in groups[1]["params"]} == frozen
    assert id(enc.projections["id"].weight) in {id(p) for p in groups[0]["params"]}
    # dense_lr scales every dense parameter, never the ID table (sparse: RowAdam; dense: its own group)
    for sparse_id in (True, False):
        m = _model(cfg, sparse_id=sparse_id)
        rates = {id(p): g["lr"] for o in make_optimizers(m, 1e-2, 1.0, 0.5) for g in o.param_groups
                 for p in g["params"]}
        table = m.news_encoder.id_embedding.weight
        assert rates.pop(id(table)) == 1e-2
        assert set(rates.values()) == {5e-3} and len(rates) == len(list(m.parameters())) - 1


def test_news_dropout_acts_in_training_only():
    cfg = RunConfig(modalities=("id", "llm"), fusion="concat", news_dropout=0.5, **SMALL)
    model = _model(cfg)
    news = torch.arange(10)
    model.train()
    v, _ = model.news_encoder(news)
    assert (v == 0).float().mean() > 0.3
    model.eval()
    v_eval, _ = model.news_encoder(news)
    assert (v_eval != 0).all()
    plain = _model(dataclasses.replace(cfg, news_dropout=0.0)).eval()
    torch.testing.assert_close(plain.news_encoder(news)[0], v_eval)


@pytest.mark.parametrize("fusion", FUSIONS)
@pytest.mark.parametrize("k", [2, 3])
def test_mean_fusion_init_starts_every_fusion_as_the_mean_of_its_projections(fusion, k):
    from newsbench.model.fusion import init_as_mean

    torch.manual_seed(0)
    f = make_fusion(fusion, k, 16)
    h = torch.randn(9, k, 16)
    assert not torch.allclose(f(h)[0], h.mean(1), atol=1e-3) or fusion == "mean"
    init_as_mean(f)
    torch.testing.assert_close(f(h)[0], h.mean(1))


def test_mean_fusion_init_in_the_model_folds_and_leaves_other_parameters_alone():
    # the folded concat (the training path) equals the mean of the projections too; nothing else is redrawn
    cfg = RunConfig(modalities=("id", "llm", "rand"), fusion="concat", **SMALL)
    a, b = _model(cfg), _model(dataclasses.replace(cfg, fusion_init="mean"))
    enc = b.news_encoder
    news = torch.arange(20)
    ids = enc.id_map.index_select(0, news)
    torch.testing.assert_close(enc(news)[0], enc.project(ids, enc.features.index_select(0, news)).mean(1))
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        if not name.startswith("news_encoder.fusion."):
            torch.testing.assert_close(p, q, msg=name)
    assert RunConfig(modalities=("id",), fusion_init="mean").run_id("fp") == RunConfig(modalities=("id",)).run_id("fp")
    assert dataclasses.replace(cfg, fusion_init="mean").run_id("fp") != cfg.run_id("fp")
