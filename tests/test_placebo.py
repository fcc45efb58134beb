"""The `rand` placebo modality: its vectors, its place in a run's identity, its runs, its parameter counts."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from newsbench.config import RunConfig, code_versions
from newsbench.features.placebo import RAND_VERSION, placebo_vectors, splitmix64
from newsbench.config import train_command
from newsbench.params import count_params, flops_per_news, subsets
from newsbench.train import feature_matrix, train_run
from toydata import make_dataset, make_features

FAST = dict(epochs=1, batch_size=32, id_dim=16, dim=32, user_hidden=16, rand_dim=12)


@pytest.fixture(scope="module")
def toy():
    ds = make_dataset()
    return ds, make_features(ds)


def test_a_news_vector_depends_on_its_id_and_the_seed_only():
    ids = [f"N{i}" for i in range(50)]
    full = placebo_vectors(ids, 10, seed=3)
    assert full.shape == (50, 10) and full.dtype == np.float32 and full.flags.c_contiguous
    # another dataset holding some of the same news, in another order, among news of its own
    other = ["X1", ids[7], "X2", ids[31], ids[2]]
    sub = placebo_vectors(other, 10, seed=3)
    np.testing.assert_array_equal(sub[[1, 3, 4]], full[[7, 31, 2]])
    np.testing.assert_array_equal(placebo_vectors(ids, 10, seed=3), full)        # the same call, the same bytes
    # another seed, other vectors (for every news); distinct ids, distinct vectors
    moved = placebo_vectors(ids, 10, seed=4)
    assert not np.any(np.all(np.isclose(moved, full), axis=1))
    assert len({row.tobytes() for row in full}) == 50


def test_vectors_are_standard_normal():
    z = placebo_vectors([f"N{i}" for i in range(4000)], 64, seed=0).astype(np.float64)
    n = z.size
    # a mean off by 4 standard errors, or a std off by 1%, fails (256,000 draws: se 0.002 and 0.0014)
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.std() - 1) < 0.01
    # N(0, 1) tails and no correlation between neighbouring columns (Box-Muller pairs included)
    assert abs((np.abs(z) > 1.96).mean() - 0.05) < 0.004
    assert abs(np.corrcoef(z[:, 0], z[:, 32])[0, 1]) < 0.06
    assert abs(np.corrcoef(z[:, 0], z[:, 1])[0, 1]) < 0.06


def test_splitmix64_matches_its_reference_values():
    # the first outputs of splitmix64 seeded with 0 (Vigna's reference code: state += gamma, then mix)
    out = splitmix64(np.array([0], dtype=np.uint64))
    assert int(out[0]) == 0xE220A8397B1DCDAF


def test_rand_dim_is_part_of_the_identity_of_rand_runs_only():
    with_rand = RunConfig(modalities=("id", "rand"), fusion="concat")
    assert with_rand.identity()["rand_dim"] == 128
    assert dataclasses.replace(with_rand, rand_dim=64).run_id("f") != with_rand.run_id("f")
    plain = RunConfig(modalities=("id", "gnn"), fusion="concat")
    assert "rand_dim" not in plain.identity()
    assert dataclasses.replace(plain, rand_dim=64).run_id("f") == plain.run_id("f")
    assert code_versions(("id", "rand"))["rand"] == RAND_VERSION and "rand" not in code_versions(("id", "gnn"))
    cmd = train_command(dataclasses.replace(with_rand, rand_dim=64).to_dict())
    assert "--modalities id+rand" in cmd and "--rand-dim 64" in cmd
    assert "--rand-dim" not in train_command(dataclasses.replace(plain, rand_dim=64).to_dict())


def test_the_run_draws_rand_from_its_seed_after_the_real_features(toy):
    ds, feats = toy
    cfg = RunConfig(modalities=("id", "llm", "gnn", "rand"), fusion="gate", **FAST)
    x, llm_dim, gnn_dim = feature_matrix(ds, feats, cfg)
    assert x.shape == (len(ds.news), llm_dim + gnn_dim + 12)
    np.testing.assert_array_equal(x[:, :llm_dim], feats["llm"])
    np.testing.assert_array_equal(x[:, llm_dim + gnn_dim:], placebo_vectors(ds.news.ids, 12, cfg.seed))
    x1, _, _ = feature_matrix(ds, feats, dataclasses.replace(cfg, seed=1))
    assert not np.array_equal(x1[:, llm_dim + gnn_dim:], x[:, llm_dim + gnn_dim:])
    # no features needed for id+rand: the placebo is made by the run
    only, _, _ = feature_matrix(ds, None, RunConfig(modalities=("id", "rand"), fusion="concat", **FAST))
    assert only.shape == (len(ds.news), 12)


@pytest.mark.parametrize("fusion", ["concat", "attention"])
def test_runs_with_the_placebo_train_deterministically_and_attribute_it(toy, fusion):
    ds, feats = toy
    cfg = RunConfig(modalities=("id", "llm", "gnn", "rand"), fusion=fusion, **FAST)
    rec, arrays = train_run(ds, feats, cfg)
    again, _ = train_run(ds, feats, cfg)
    assert rec["metrics"] == again["metrics"]
    assert rec["attribution"]["modalities"] == ["id", "llm", "gnn", "rand"]
    assert rec["params"]["projection_rand"] == 12 * 32 + 32
    assert "--modalities id+llm+gnn+rand" in rec["command"] and "--rand-dim 12" in rec["command"]
    if fusion == "attention":
        assert rec["weights"]["modalities"] == ["id", "llm", "gnn", "rand"]
        assert arrays["weights_by_category"].shape[1] == 4
    # with another seed the placebo moves too, so does the run
    other, _ = train_run(ds, feats, dataclasses.replace(cfg, seed=1))
    assert other["metrics"] != rec["metrics"]


def test_parameter_counts_of_the_placebo_are_those_of_a_feature_of_its_width():
    rand = count_params(RunConfig(modalities=("id", "rand"), fusion="concat"), n_id_rows=11)
    gnn = count_params(RunConfig(modalities=("id", "gnn"), fusion="concat"), gnn_dim=128, n_id_rows=11)
    assert rand["total"] == gnn["total"] and rand["projection_rand"] == gnn["projection_gnn"]
    assert flops_per_news(RunConfig(modalities=("id", "rand"), fusion="gate")) == flops_per_news(
        RunConfig(modalities=("id", "gnn"), fusion="gate"), gnn_dim=128)
    # the parameter table's subsets: the 7 real ones, then (with --rand-dim) each with rand added
    real, placebo = subsets(), subsets(placebo=True)
    assert len(real) == 7 and placebo[:7] == real and placebo[7:] == [s + ("rand",) for s in real]
