"""Training and evaluation: negative sampling, determinism, learning, the record, evaluation splits, the CLI."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from newsbench import store
from newsbench.config import RunConfig
from newsbench.errors import InputError
from newsbench.metrics import auc_score
from newsbench.train import (TrainingClicks, evaluate, history_matrix, resolve_device, sample_epoch, train_run,
                             weight_arrays)
from toydata import make_dataset, make_features

FAST = dict(epochs=1, batch_size=32, id_dim=16, dim=32, user_hidden=16)


@pytest.fixture(scope="module")
def toy():
    ds = make_dataset()
    return ds, make_features(ds)


def test_history_matrix_keeps_the_most_recent_clicks(toy):
    beh = toy[0].train
    hist, mask = history_matrix(beh, 5)
    for i in range(len(beh)):
        h = beh.hist[beh.hist_ptr[i]:beh.hist_ptr[i + 1]][-5:]
        assert mask[i].sum() == len(h)
        assert list(hist[i][mask[i]]) == list(h)


def test_negatives_come_from_the_same_impression_and_are_not_clicked(toy):
    beh = toy[0].train
    clicks = TrainingClicks(beh)
    assert clicks.n_skipped > 0 and len(clicks) + clicks.n_skipped == int((beh.label == 1).sum())
    imp, cands = sample_epoch(clicks, 4, np.random.default_rng(0))
    assert cands.shape == (len(clicks), 5) and sorted(imp) == sorted(clicks.pos_imp)
    for i, row in zip(imp, cands):
        slots = slice(beh.cand_ptr[i], beh.cand_ptr[i + 1])
        news, lab = beh.cand[slots], beh.label[slots]
        assert row[0] in news[lab == 1]
        negs = set(news[lab == 0])
        assert set(row[1:]) <= negs
        if len(negs) >= 4:                        # without replacement when there are enough
            assert len(set(row[1:])) == 4


def test_negative_draws_are_uniform_over_the_impression():
    # one impression: a click and 6 negatives; 4 drawn without replacement -> each negative with probability 4/6
    from newsbench.data.dataset import Behaviors

    beh = Behaviors(impression_id=np.array([1]), user=np.array([0]), time=np.array([0]),
                    hist_ptr=np.array([0, 0]), hist=np.zeros(0, np.int32), cand_ptr=np.array([0, 7]),
                    cand=np.arange(7, dtype=np.int32), label=np.array([1, 0, 0, 0, 0, 0, 0], np.int8))
    clicks = TrainingClicks(beh)
    rng = np.random.default_rng(0)
    counts = np.zeros(7)
    for _ in range(3000):
        _, c = sample_epoch(clicks, 4, rng)
        counts[c[0, 1:]] += 1
    assert counts[0] == 0
    assert np.allclose(counts[1:] / 3000, 4 / 6, atol=0.03)


def test_training_is_deterministic_on_cpu(toy):
    ds, feats = toy
    cfg = RunConfig(fusion="attention", seed=3, **FAST)
    r1, a1 = train_run(ds, feats, cfg)
    r2, a2 = train_run(ds, feats, cfg)
    assert r1["metrics"] == r2["metrics"] and r1["train_loss"] == r2["train_loss"]
    assert a1.keys() == a2.keys()
    for k in a1:
        np.testing.assert_array_equal(a1[k], a2[k])
    r3, _ = train_run(ds, feats, RunConfig(fusion="attention", seed=4, **FAST))
    assert r3["train_loss"] != r1["train_loss"]


def test_run_uses_its_own_thread_count_whatever_the_caller_set(toy):
    # Executors differ in how many threads a process has (sequential vs --workers vs Ray), and on demo-sized matmuls
    # the thread count changes the metrics (measured: AUC 0.6600 with 2 threads vs 0.6582 with 1). So a run sets
    # cfg.cpu_threads itself, and restores the caller's setting afterwards.
    import torch

    ds, feats = toy
    seen: list[int] = []
    before = torch.get_num_threads()
    try:
        for caller_threads, run_threads in ((2, 1), (1, 2)):
            torch.set_num_threads(caller_threads)
            seen.clear()
            train_run(ds, feats, RunConfig(fusion="concat", seed=1, cpu_threads=run_threads, **FAST),
                      progress=lambda event: seen.append(torch.get_num_threads()))
            assert seen and set(seen) == {run_threads}
            assert torch.get_num_threads() == caller_threads
    finally:
        torch.set_num_threads(before)
    cfg = RunConfig(**FAST)
    assert RunConfig(cpu_threads=2, **FAST).run_id("fp") != cfg.run_id("fp")


def test_loss_decreases_and_beats_random_on_a_planted_task(toy):
    ds, feats = toy
    cfg = RunConfig(fusion="concat", seed=0, **{**FAST, "epochs": 3})
    rec, arrays = train_run(ds, feats, cfg)
    loss = rec["train_loss"]
    assert loss[-1] < loss[0] and loss[0] < np.log(5) * 1.1
    assert rec["metrics"]["auc"] > 0.7


def test_record_has_every_key_and_round_trips_through_the_store(toy, tmp_path):
    from newsbench.train import run_and_save

    ds, feats = toy
    cfg = RunConfig(fusion="gate", **FAST)
    rec = run_and_save(ds, feats, cfg, tmp_path, features_info={"llm": {"encoder": "toy"}})
    assert set(rec) == {"run_id", "schema", "config", "label", "group", "inputs", "dataset", "metrics", "metrics_by",
                        "beyond", "params", "flops_per_news", "timings", "train_loss", "features", "weights", "attribution",
                        "environment", "command", "created"}
    assert rec["run_id"] == cfg.run_id(ds.fingerprint) and rec["group"] == cfg.group_key
    assert set(rec["metrics"]) == {"auc", "mrr", "ndcg@5", "ndcg@10"}
    assert {"n_train_impressions", "n_dev_impressions", "n_news", "name", "fingerprint"} <= set(rec["dataset"])
    assert {"epoch_seconds", "seconds_per_epoch", "samples_per_second", "eval_seconds", "peak_rss_mb",
            "cuda_max_allocated_mb", "attribution_seconds", "beyond_seconds"} <= set(rec["timings"])
    assert 0 < rec["timings"]["beyond_seconds"] < rec["timings"]["eval_seconds"]
    assert rec["weights"]["modalities"] == ["id", "llm", "gnn"] and rec["features"]["llm"]["encoder"] == "toy"
    assert store.is_done(tmp_path, rec["run_id"])
    assert store.load_record(tmp_path, rec["run_id"]) == json.loads(json.dumps(rec))
    arrays = store.load_arrays(tmp_path, rec["run_id"])
    n_dev = len(ds.dev)
    for k in ("impression_id", "auc", "mrr", "ndcg5", "ndcg10", "auc_cold", "auc_warm"):
        assert arrays[k].shape == (n_dev,)
    assert arrays["weights_by_category"].shape == (len(ds.news.categories), 3)
    assert arrays["weights_cold_warm"].shape == (2, 3)
    assert arrays["weights_count"].sum() == len(ds.news)
    assert len(store.records_frame(store.load_records(tmp_path))) == 1
    # beyond-accuracy: per-impression arrays for k = 5 and 10, summarised in the record as their defined means
    from newsbench import beyond

    assert rec["beyond"]["k"] == [5, 10] and beyond.has_arrays(arrays)
    for name, arr in beyond.all_array_names().items():
        assert arrays[arr].shape == (n_dev,) and arrays[arr].dtype == np.float64
        defined = arrays[arr][~np.isnan(arrays[arr])]      # none: e.g. normalised values with k or fewer candidates
        want = float(defined.mean()) if len(defined) else None
        assert rec["beyond"]["metrics"][name] == (pytest.approx(want) if want is not None else None)
    for k in beyond.KS:
        assert rec["beyond"]["metrics"][f"coverage@{k}"] == arrays[f"coverage{k}"][0]
        assert arrays[f"coverage{k}_boot"].shape == (beyond.COVERAGE_RESAMPLES,)


def test_single_modality_and_mean_fusion_record_no_weights(toy):
    ds, feats = toy
    rec, arrays = train_run(ds, feats, RunConfig(modalities=("id",), **FAST))
    assert rec["weights"] is None and "weights_by_category" not in arrays
    assert rec["params"]["fusion"] == 0


def test_evaluation_splits_match_straightforward_loops(toy):
    ds = toy[0]
    beh = ds.dev
    scores = np.random.default_rng(0).normal(size=len(beh.cand)).round(1).astype(np.float32)  # with ties
    metrics, by, arrays = evaluate(scores, ds)
    seen = ds.seen_in_train()
    cats = {}
    for i in range(len(beh)):
        sl = slice(beh.cand_ptr[i], beh.cand_ptr[i + 1])
        lab, sc, news = beh.label[sl], scores[sl], beh.cand[sl]
        for name, sel in (("auc_cold", ~seen[news]), ("auc_warm", seen[news])):
            l2 = lab[sel]
            expected = auc_score(l2, sc[sel]) if 0 < l2.sum() < len(l2) else np.nan
            np.testing.assert_allclose(arrays[name][i], expected, equal_nan=True)
        for c in set(ds.news.category[news[lab == 1]]):
            cats.setdefault(ds.news.categories[c], []).append(arrays["auc"][i])
    for name, vals in cats.items():
        assert by["category"][name]["n"] == len(vals)
        assert by["category"][name]["auc"] == pytest.approx(np.nanmean(vals))
    assert metrics["auc"] == pytest.approx(np.nanmean(arrays["auc"]))
    assert by["cold"]["n"] == int((~np.isnan(arrays["auc_cold"])).sum()) > 0


def test_weight_arrays_are_means_per_category_and_cold_warm():
    rng = np.random.default_rng(0)
    w = rng.dirichlet(np.ones(3), size=50)
    cat = rng.integers(0, 4, size=50)
    cat[cat == 2] = 1                                    # category 2 is empty
    cold = rng.random(50) < 0.3
    out = weight_arrays(w, cat, 4, cold)
    for c in (0, 1, 3):
        np.testing.assert_allclose(out["weights_by_category"][c], w[cat == c].mean(0))
    assert np.isnan(out["weights_by_category"][2]).all() and out["weights_count"][2] == 0
    np.testing.assert_allclose(out["weights_cold_warm"], np.stack([w[cold].mean(0), w[~cold].mean(0)]))


def test_device_resolution_and_bad_inputs(toy):
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(InputError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(InputError):
            resolve_device("cuda")
    ds, feats = toy
    with pytest.raises(InputError):
        train_run(ds, {"gnn": feats["gnn"]}, RunConfig(modalities=("llm",), **FAST))


def test_progress_callback_sees_steps_and_epochs(toy):
    ds, feats = toy
    events = []
    train_run(ds, feats, RunConfig(modalities=("id", "llm"), fusion="mean", **FAST), progress=events.append)
    kinds = [e["event"] for e in events]
    assert "step" in kinds and "epoch" in kinds and kinds[-1] == "eval"
    assert events[kinds.index("epoch") - 1]["step"] == events[kinds.index("epoch") - 1]["steps"]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("amp", [False, True])
def test_cuda_run_matches_the_cpu_run_closely(toy, amp):
    ds, feats = toy
    cpu, _ = train_run(ds, feats, RunConfig(fusion="attention", **FAST))
    gpu, arrays = train_run(ds, feats, RunConfig(fusion="attention", device="cuda", amp=amp, **FAST))
    assert gpu["timings"]["cuda_max_allocated_mb"] > 0
    assert abs(gpu["metrics"]["auc"] - cpu["metrics"]["auc"]) < (0.05 if amp else 0.01)
    assert np.isfinite(arrays["weights_by_category"]).all()


def test_cli_train_on_tiny_writes_a_record(tiny_dir, tmp_path):
    from typer.testing import CliRunner

    from newsbench.cli import app

    # id+llm: the gnn features (a LightGCN fit) would dominate the test time; the model path is the same
    args = ["train", "--data", str(tiny_dir), "--modalities", "id+llm", "--fusion", "attention",
            "--text-encoder", "hash", "--epochs", "1", "--batch-size", "64", "--device", "cpu",
            "--results", str(tmp_path), "--no-progress"]
    res = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert res.exit_code == 0, res.output
    recs = store.load_records(tmp_path)
    assert len(recs) == 1 and recs[0]["label"] == "id+llm/attention"
    assert 0 <= recs[0]["metrics"]["auc"] <= 1 and "auc" in res.output
    again = CliRunner().invoke(app, args, env={"COLUMNS": "160"})
    assert again.exit_code == 0 and "already done" in again.output
    assert recs[0]["config"]["id_dropout"] == RunConfig.id_dropout
    # --id-dropout is recorded and makes another run; outside [0, 1) it is a one-line user error
    off = CliRunner().invoke(app, args + ["--id-dropout", "0"], env={"COLUMNS": "160"})
    assert off.exit_code == 0 and "already done" not in off.output
    assert sorted(r["config"]["id_dropout"] for r in store.load_records(tmp_path)) == [0.0, RunConfig.id_dropout]
    bad = CliRunner().invoke(app, args + ["--id-dropout", "1.5"], env={"COLUMNS": "160"})
    assert bad.exit_code == 2 and "--id-dropout" in bad.output and "1.5" in bad.output


def test_id_dropout_trains_the_unknown_row_and_stays_deterministic(toy):
    # Without ID dropout row 0 (every news unseen in train) never sees a gradient and keeps its random init, which
    # moves every cold candidate's score at once; with it, row 0 learns from the dropped training slots.
    from newsbench.train import _build_model, train_model

    ds, feats = toy
    device = torch.device("cpu")
    rows0 = {}
    for p in (0.0, 0.2):
        cfg = RunConfig(modalities=("id",), seed=0, id_dropout=p, **FAST)
        model, *_ = _build_model(ds, feats, cfg, device)
        before = model.news_encoder.id_embedding.weight[0].detach().clone()
        train_model(model, ds, cfg, device)
        rows0[p] = model.news_encoder.id_embedding.weight[0].detach()
        moved = not torch.equal(before, rows0[p])
        assert moved == (p > 0)
    cfg = RunConfig(modalities=("id", "llm"), fusion="concat", seed=2, id_dropout=0.2, **FAST)
    r1, a1 = train_run(ds, feats, cfg)
    r2, a2 = train_run(ds, feats, cfg)
    assert r1["metrics"] == r2["metrics"] and r1["train_loss"] == r2["train_loss"]
    plain = RunConfig(modalities=("id", "llm"), fusion="concat", seed=2, id_dropout=0.0, **FAST)
    r0, _ = train_run(ds, feats, plain)
    assert r0["train_loss"] != r1["train_loss"]


@pytest.mark.parametrize("shape,high", [((500, 6), 3), ((300, 51), 2), ((1, 4), 9), ((40, 1), 5)])
def test_distinct_rows_equals_numpy_unique(shape, high):
    from newsbench.train import distinct_rows

    rng = np.random.default_rng(shape[0])
    a = rng.integers(-high, high, shape)
    a[::7] = a[0]                                              # many repeats of one row
    rows, inv = distinct_rows(a)
    ref_rows, ref_inv = np.unique(a, axis=0, return_inverse=True)
    assert np.array_equal(rows, ref_rows) and np.array_equal(inv, ref_inv.reshape(-1))
    assert np.array_equal(rows[inv], a)
    empty_rows, empty_inv = distinct_rows(np.zeros((0, 3), np.int64))
    assert empty_rows.shape == (0, 3) and len(empty_inv) == 0


def test_run_id_changes_with_the_code_versions_of_the_modalities_it_uses(monkeypatch):
    import newsbench.config as C
    import newsbench.features.graph as G
    import newsbench.features.text as X

    ids = {m: RunConfig(modalities=m, fusion="concat" if len(m) > 1 else "none").run_id("f")
           for m in [("id",), ("id", "llm"), ("id", "gnn")]}
    monkeypatch.setattr(G, "GRAPH_VERSION", G.GRAPH_VERSION + 1)
    moved = {m: RunConfig(modalities=m, fusion="concat" if len(m) > 1 else "none").run_id("f") for m in ids}
    assert moved[("id",)] == ids[("id",)] and moved[("id", "llm")] == ids[("id", "llm")]
    assert moved[("id", "gnn")] != ids[("id", "gnn")]
    monkeypatch.setattr(X, "ST_BATCHING_VERSION", X.ST_BATCHING_VERSION + 1)
    assert RunConfig(modalities=("id", "llm"), fusion="concat").run_id("f") != ids[("id", "llm")]
    monkeypatch.setattr(C, "TRAIN_VERSION", C.TRAIN_VERSION + 1)
    assert RunConfig(modalities=("id",), fusion="none").run_id("f") != ids[("id",)]


def test_lr_factor_warms_up_linearly_then_decays_to_near_zero():
    from newsbench.train import lr_factor

    assert [lr_factor(s, 10, 0.0, "none") for s in range(10)] == [1.0] * 10
    warm = [lr_factor(s, 10, 0.2, "none") for s in range(10)]
    assert warm[:3] == [0.5, 1.0, 1.0] and warm[-1] == 1.0
    lin = [lr_factor(s, 10, 0.2, "linear") for s in range(10)]
    assert lin[:2] == [0.5, 1.0] and lin[-1] == pytest.approx(1 / 8)
    assert all(a > b for a, b in zip(lin[2:], lin[3:]))                # strictly decreasing after the warm-up
    cos = [lr_factor(s, 100, 0.0, "cosine") for s in range(100)]
    assert cos[0] == 1.0 and cos[50] == pytest.approx(0.5) and 0 < cos[-1] < 1e-3


def test_lr_schedule_sets_every_optimizer_rate_per_step(toy, monkeypatch):
    # the scheduled rate reaches RowAdam (ID table) and Adam (dense) alike, step by step, and changes the run
    import newsbench.train as T

    ds, feats = toy
    cfg = RunConfig(modalities=("id", "llm"), fusion="gate", seed=0, warmup=0.3, lr_decay="linear", **FAST)
    seen = []
    real = T.make_optimizers

    def spy(*a, **k):
        opts = real(*a, **k)
        for o in opts:
            step = o.step

            def logged(*sa, _o=o, _step=step, **sk):
                seen.append((type(_o).__name__, _o.param_groups[0]["lr"]))
                return _step(*sa, **sk)
            o.step = logged
        return opts
    monkeypatch.setattr(T, "make_optimizers", spy)
    model, *_ = T._build_model(ds, feats, cfg, torch.device("cpu"))
    T.train_model(model, ds, cfg, torch.device("cpu"))
    steps = (len(T.TrainingClicks(ds.train)) + cfg.batch_size - 1) // cfg.batch_size
    for name in ("Adam", "RowAdam"):
        lrs = [lr for n, lr in seen if n == name]
        assert lrs == pytest.approx([cfg.lr * T.lr_factor(s, steps, 0.3, "linear") for s in range(steps)])
    monkeypatch.undo()
    plain = dataclasses.replace(cfg, warmup=0.0, lr_decay="none")
    assert train_run(ds, feats, plain)[0]["train_loss"] != train_run(ds, feats, cfg)[0]["train_loss"]
