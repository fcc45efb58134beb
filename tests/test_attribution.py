"""Modality attribution of trained models: against a direct per-impression transcription, on every fusion, and
where the answer is known (an informative modality against a pure-noise one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from newsbench.attribution import drops_record
from newsbench.config import FUSIONS, RunConfig
from newsbench.train import _build_model, ablated_scores, history_matrix, score_dev, train_model, train_run
from toydata import make_dataset, make_features

FAST = dict(batch_size=32, id_dim=16, dim=32, user_hidden=16)
N_DIRECT = 25       # dev impressions checked against the one-at-a-time transcription


@pytest.fixture(autouse=True)
def _one_thread():
    # as train_run does (cfg.cpu_threads): with the default thread count a loaded 2-core machine trains 25x slower
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def toy():
    ds = make_dataset()
    return ds, make_features(ds)      # llm carries each news' category (the users' preference), gnn is pure noise


def _trained(ds, feats, fusion, modalities=("id", "llm", "gnn"), epochs=2):
    cfg = RunConfig(modalities=modalities, fusion=fusion, epochs=epochs, **FAST)
    model, *_ = _build_model(ds, feats, cfg, torch.device("cpu"))
    train_model(model, ds, cfg, torch.device("cpu"))
    model.eval()
    return model, cfg


@pytest.mark.parametrize("fusion", ["concat", "gate"])
def test_ablated_scores_equal_a_direct_transcription(toy, fusion):
    ds, feats = toy
    model, cfg = _trained(ds, feats, fusion)
    cpu = torch.device("cpu")
    got = ablated_scores(model, ds, cfg, cpu)
    enc = model.news_encoder
    project = enc.project
    with torch.no_grad():
        all_news = torch.arange(len(ds.news))
        h_all = project(enc.id_map[all_news], enc.features[all_news])
        hist, mask = history_matrix(ds.dev, cfg.history_len)
        for j, m in enumerate(cfg.modalities):
            mean = h_all[:, j].mean(dim=0)

            def replaced(id_rows, x, j=j, mean=mean):
                h = project(id_rows, x)
                h[:, j] = mean
                return h

            enc.project = replaced                  # every news the naive model encodes, history and candidate
            enc.fold_concat = False                 # the literal fusion(project(...)), which `replaced` patches
            want = []
            for i in range(N_DIRECT):
                cand = ds.dev.cand[ds.dev.cand_ptr[i]:ds.dev.cand_ptr[i + 1]]
                s = model.forward_naive(torch.from_numpy(hist[i:i + 1]), torch.from_numpy(mask[i:i + 1]),
                                        torch.from_numpy(cand[None].astype(np.int64)))
                want += s[0].tolist()
            del enc.project
            enc.fold_concat = True
            np.testing.assert_allclose(got[m][:ds.dev.cand_ptr[N_DIRECT]], want, rtol=1e-4, atol=1e-5)


def test_a_constant_modality_loses_nothing(toy):
    # A projection with zero weights gives every news the same vector: its mean. Ablating it must change no score,
    # while ablating another modality does (so the wrong column being replaced would fail here).
    ds, feats = toy
    model, cfg = _trained(ds, feats, "attention", modalities=("llm", "gnn"))
    with torch.no_grad():
        model.news_encoder.projections["gnn"].weight.zero_()
    full, _ = score_dev(model, ds, cfg, torch.device("cpu"))
    abl = ablated_scores(model, ds, cfg, torch.device("cpu"))
    np.testing.assert_allclose(abl["gnn"], full, rtol=1e-5, atol=1e-6)
    assert np.abs(abl["llm"] - full).max() > 1e-3
    rec = drops_record(full, abl, ds)
    assert rec["all"]["gnn"] == pytest.approx(0.0, abs=1e-12) and rec["all"]["llm"] > 0.05


@pytest.mark.parametrize("fusion", FUSIONS)
def test_informative_modality_carries_the_ranking_and_noise_does_not(toy, fusion):
    # llm holds the category every user clicks by; gnn is noise independent of everything. Whatever the fusion, the
    # AUC lost without llm is large, and noise carries nothing (it can hurt: a fusion that cannot down-weight it,
    # like mean, ranks better with it replaced by its mean, which shows as a negative drop).
    ds, feats = toy
    rec, _ = train_run(ds, feats, RunConfig(modalities=("llm", "gnn"), fusion=fusion, epochs=6, **FAST))
    a = rec["attribution"]
    assert a["modalities"] == ["llm", "gnn"]
    assert a["all"]["llm"] > 0.15, a["all"]
    assert a["all"]["gnn"] < 0.03, a["all"]
    assert a["all"]["llm"] > 5 * abs(a["all"]["gnn"]) or fusion == "mean", a["all"]
    if fusion != "mean":
        assert abs(a["all"]["gnn"]) < 0.03, a["all"]


@pytest.mark.slow
@pytest.mark.parametrize("fusion", FUSIONS)
def test_every_fusion_records_attribution_on_tiny(tiny_dir, fusion):
    from newsbench.data.load import load_dataset
    from newsbench.features import load_features

    ds = load_dataset(tiny_dir)
    cfg = RunConfig(modalities=("id", "llm"), fusion=fusion, epochs=1, text_encoder="hash", **FAST)
    feats = load_features(ds, cfg, progress=False)
    rec, arrays = train_run(ds, feats, cfg)
    a = rec["attribution"]
    assert a["modalities"] == ["id", "llm"]
    assert set(a["category"]) <= set(ds.news.categories) and set(a["category"]) == set(a["n"]["category"])
    assert all(n > 0 for n in a["n"]["category"].values())
    for block in [a["all"], a["cold"], a["warm"], *a["category"].values()]:
        assert set(block) == {"id", "llm"}
        assert all(v is not None and np.isfinite(v) and -1 <= v <= 1 for v in block.values())
    assert a["n"]["all"] == int((~np.isnan(arrays["auc"])).sum())
    assert a["n"]["cold"] == rec["metrics_by"]["cold"]["n"] and a["n"]["warm"] == rec["metrics_by"]["warm"]["n"]
    assert rec["timings"]["attribution_seconds"] > 0


def test_single_modality_runs_have_no_attribution(toy):
    ds, feats = toy
    rec, _ = train_run(ds, feats, RunConfig(modalities=("llm",), epochs=1, **FAST))
    assert rec["attribution"] is None and rec["timings"]["attribution_seconds"] is None
