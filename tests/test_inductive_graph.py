"""The default graph model (newsbench.features.inductive): one function of a news item's entities for warm and cold
news alike, trained from the train split only, deterministic across thread counts; and the graph diagnostics."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from newsbench.config import GRAPH_EPOCHS, RunConfig
from newsbench.errors import InputError
from newsbench.features import inductive
from newsbench.features.graph import diagnostics, graph_features, graph_features_with_meta
from newsbench.config import train_command
from newsbench.options import identity_fields
from test_graph_features import make_feature_dataset

FAST = dict(dim=16, epochs=2, progress=False)


@pytest.fixture(scope="module")
def ds():
    return make_feature_dataset()


def test_entity_bags_are_idf_weights_normalised_per_news(ds):
    news = ds.news
    ptr, rows, weights, n_rows = inductive.entity_bags(news)
    n, n_ent = len(news), len(news.entities)
    assert n_rows == n_ent + 1
    df = np.zeros(n_ent)
    for i in range(n):
        for e in news.entity_idx[news.entity_ptr[i]:news.entity_ptr[i + 1]]:
            df[e] += 1
    for i in range(n):                              # a direct transcription, one news at a time
        ents = news.entity_idx[news.entity_ptr[i]:news.entity_ptr[i + 1]].tolist()
        got_rows = rows[ptr[i]:ptr[i + 1]].tolist()
        got_w = weights[ptr[i]:ptr[i + 1]]
        if not ents:
            assert got_rows == [n_ent] and got_w.tolist() == [1.0]
            continue
        idf = [math.log((n + 1) / (df[e] + 1)) + 1 for e in ents]
        assert got_rows == ents
        np.testing.assert_allclose(got_w, np.array(idf) / sum(idf), rtol=1e-6)


def test_initial_table_from_data_vectors(ds):
    n_rows = len(ds.news.entities) + 1
    vec = np.random.default_rng(0).normal(size=(n_rows - 1, 5)).astype(np.float32)
    vec[2] = np.nan                                   # an entity without a vector keeps a random row
    random_table, used0 = inductive.initial_table(None, n_rows, 8, seed=1)
    table, used = inductive.initial_table(vec, n_rows, 8, seed=1)
    assert used0 == 0 and used == n_rows - 2 and table.shape == (n_rows, 8) and table.dtype == np.float32
    assert np.array_equal(table[2], random_table[2]) and np.array_equal(table[-1], random_table[-1])
    assert not np.allclose(table[0], random_table[0])
    # the data rows keep the data's geometry (a linear map of the centred vectors) at the random rows' scale
    ok = np.flatnonzero(np.isfinite(vec).all(1))
    x = vec[ok] - vec[ok].mean(0)
    coef, *_ = np.linalg.lstsq(x, table[ok], rcond=None)
    np.testing.assert_allclose(x @ coef, table[ok], atol=1e-4)
    assert abs(np.linalg.norm(table[ok], axis=1).mean() - 0.1 * np.sqrt(8)) < 1e-4
    _, none = inductive.initial_table(vec, n_rows, 8, seed=1, entity_init="random")
    assert none == 0
    with pytest.raises(InputError, match="entity-vectors"):
        inductive.initial_table(vec, n_rows, 8, seed=1, entity_init="transE")


def test_cold_and_warm_news_are_one_function_of_their_entities(ds, tmp_path):
    m, meta = graph_features_with_meta(ds, cache_dir=tmp_path, **FAST)
    assert meta["model"] == "inductive" and m.shape == (len(ds.news), 16) and np.isfinite(m).all()
    np.testing.assert_allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)    # unit vectors, warm and cold
    bags = {}
    for i in range(len(ds.news)):
        bags.setdefault(tuple(ds.news.entity_idx[ds.news.entity_ptr[i]:ds.news.entity_ptr[i + 1]]), []).append(i)
    seen = ds.seen_in_train()
    shared = [rows for rows in bags.values() if len(rows) > 1 and seen[rows].any() and (~seen[rows]).any()]
    assert shared, "the fixture must hold a cold and a warm news with the same entities"
    for rows in shared:       # same entities -> same vector, whether or not anyone clicked the news in train
        assert (m[rows] == m[rows[0]]).all()
    d = meta["diagnostics"]
    assert abs(d["cold_warm_norm_ratio"] - 1.0) < 1e-5 and d["n_cold"] == int((~seen).sum())


def test_train_only_dev_labels_never_enter(ds, tmp_path):
    base, meta = graph_features_with_meta(ds, cache_dir=tmp_path / "a", **FAST)
    rng = np.random.default_rng(2)
    for i, label in enumerate([rng.permutation(ds.dev.label), 1 - ds.dev.label]):
        dev = dataclasses.replace(ds.dev, label=label.astype(np.int8))
        other, other_meta = graph_features_with_meta(dataclasses.replace(ds, dev=dev), cache_dir=tmp_path / f"d{i}",
                                                     **FAST)
        assert other_meta["cache_hit"] is False and other_meta["key"] == meta["key"]
        assert other.tobytes() == base.tobytes()
    flipped = dataclasses.replace(ds.train, label=(1 - ds.train.label).astype(np.int8))
    moved = graph_features(dataclasses.replace(ds, train=flipped), cache_dir=tmp_path / "t", **FAST)
    assert not np.array_equal(moved, base)          # train labels do move it: the check above is not vacuous


def test_same_bytes_for_any_thread_count_and_seed_matters(ds, tmp_path):
    import torch

    previous = torch.get_num_threads()
    out = []
    try:
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            out.append(graph_features(ds, seed=5, cache_dir=tmp_path / str(threads), **FAST))
            assert torch.get_num_threads() == threads     # restored after training on one thread
    finally:
        torch.set_num_threads(previous)
    assert out[0].tobytes() == out[1].tobytes() == out[2].tobytes()
    other = graph_features(ds, seed=6, cache_dir=tmp_path / "s6", **FAST)
    assert not np.array_equal(other, out[0])


def test_modes_and_learning(ds, tmp_path):
    """Users click their topic and a topic's news share its entities: after training, a cold news item's nearest
    news are of its topic far above chance, in every mode that trains something."""
    topic = ds.news.category
    seen = ds.seen_in_train()
    cold = np.flatnonzero(~seen & (np.diff(ds.news.entity_ptr) > 0))
    for mode in ("clicks", "entities", "both"):
        m, meta = graph_features_with_meta(ds, mode=mode, dim=16, epochs=20, cache_dir=tmp_path, progress=False)
        assert meta["losses"][-1] < meta["losses"][0], mode
        sim = m[cold] @ m[seen].T
        nearest = np.flatnonzero(seen)[sim.argmax(1)]
        assert (topic[nearest] == topic[cold]).mean() >= 0.75, mode
    assert meta["n_train_clicks"] == int((ds.train.label == 1).sum())
    with pytest.raises(InputError, match="graph model"):
        graph_features(ds, model="node2vec", cache_dir=tmp_path, **FAST)


def test_diagnostics_against_a_constructed_space(ds):
    seen = ds.seen_in_train()
    n = len(ds.news)
    m = np.zeros((n, 4), np.float32)
    m[seen, 0] = 2.0                 # warm news on one axis, cold news on another with half the norm
    m[~seen, 1] = 1.0
    m += np.random.default_rng(0).normal(0, 1e-3, size=m.shape).astype(np.float32)
    community = np.where(seen, 0, 1)
    d = diagnostics(m, ds, community=community)
    assert abs(d["cold_warm_norm_ratio"] - 0.5) < 0.01
    assert d["cold_neighbours_warm"] == 0.0                 # cold news live apart
    assert d["nn_community_cold"] == 1.0 and d["nn_community_all"] == 1.0
    share = np.bincount(community) / n
    assert abs(d["nn_community_chance"] - (share ** 2).sum()) < 1e-12
    mixed = m.copy()
    mixed[~seen] = m[np.flatnonzero(seen)[: (~seen).sum()]]   # cold vectors copied from warm ones
    assert diagnostics(mixed, ds, community=None)["cold_neighbours_warm"] == 1.0


def test_planted_communities_replay_the_generator():
    from newsbench.data import synth
    from newsbench.features.graph import planted_community

    world = synth.build_world("tiny", 4)
    ids, community = synth.planted_communities("tiny", 4)
    assert (ids == world.news_ids).all() and (community == world.community).all()
    assert planted_community(make_feature_dataset()) is None       # no card: no planted truth


def test_config_defaults_and_identity_per_graph_model():
    assert GRAPH_EPOCHS["inductive"] == inductive.DEFAULT_EPOCHS
    ind = RunConfig(modalities=("id", "gnn"), fusion="concat")
    lgc = RunConfig(modalities=("id", "gnn"), fusion="concat", graph_model="LightGCN")
    assert (ind.graph_model, ind.graph_epochs, lgc.graph_model, lgc.graph_epochs) == ("inductive", 3, "lightgcn", 20)
    ident_i, ident_l = ind.identity(), lgc.identity()
    assert "graph_layers" not in ident_i and ident_i["entity_vectors"] == "data"
    assert "entity_vectors" not in ident_l and ident_l["graph_layers"] == 3
    assert ind.run_id("fp") != lgc.run_id("fp")
    # a layers value means nothing to the inductive model, so it does not split its runs
    assert dataclasses.replace(ind, graph_layers=7).run_id("fp") == ind.run_id("fp")
    assert dataclasses.replace(ind, entity_vectors="random").run_id("fp") != ind.run_id("fp")
    assert "gnn" not in identity_fields(RunConfig(modalities=("id",)).to_dict()).get("modalities")
    cmd = train_command(lgc.to_dict())
    assert "--graph-model lightgcn" in cmd and "--graph-epochs 20" in cmd
    assert "--graph-model" not in train_command(ind.to_dict())
    with pytest.raises(ValueError, match="--graph-model"):
        RunConfig(graph_model="gat")


def test_real_mind_rows(real_mind, tmp_path):
    """The real rows of ../shared/data/mind-real (no entity_embedding.vec there: the rows start random)."""
    from newsbench.data.mind import read_mind

    real = read_mind(real_mind / "small-head", unknown_news="drop")
    m, meta = graph_features_with_meta(real, cache_dir=tmp_path, dim=8, epochs=1, progress=False)
    assert m.shape == (len(real.news), 8) and np.isfinite(m).all()
    assert meta["n_entity_rows_from_data"] == 0 and meta["n_entities"] == len(real.news.entities) > 0
    assert meta["diagnostics"]["n_cold"] + meta["diagnostics"]["n_warm"] == len(real.news)
