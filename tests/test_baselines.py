"""Data-derived baselines against a direct per-impression loop."""

import numpy as np
import pytest

from newsbench import baselines
from newsbench.data.dataset import Behaviors


def _behaviors(rng, m=40, n_news=30):
    hist_len = rng.integers(0, 6, size=m)
    cand_len = rng.integers(2, 7, size=m)
    hist_ptr = np.r_[0, np.cumsum(hist_len)]
    cand_ptr = np.r_[0, np.cumsum(cand_len)]
    return Behaviors(
        impression_id=np.arange(1, m + 1), user=np.zeros(m, np.int32), time=np.zeros(m, np.int64),
        hist_ptr=hist_ptr, hist=rng.integers(0, n_news, hist_ptr[-1]).astype(np.int32),
        cand_ptr=cand_ptr, cand=rng.integers(0, n_news, cand_ptr[-1]).astype(np.int32),
        label=(rng.random(cand_ptr[-1]) < 0.3).astype(np.int8))


def test_history_centroid_equals_a_direct_loop(monkeypatch):
    rng = np.random.default_rng(0)
    beh = _behaviors(rng)
    vec = rng.normal(size=(30, 7)).astype(np.float32)
    vec[3] = 0.0                                    # a zero vector stays zero instead of dividing by 0
    monkeypatch.setattr(baselines, "CENTROID_CHUNK_ROWS", 5)   # force many chunks
    got = baselines.history_centroid_scores(beh, vec)
    norm = np.linalg.norm(vec.astype(np.float64), axis=1, keepdims=True)
    unit = np.where(norm > 0, vec / np.where(norm > 0, norm, 1), 0.0)
    want = []
    for i in range(len(beh)):
        h = beh.hist[beh.hist_ptr[i]:beh.hist_ptr[i + 1]]
        u = unit[h].mean(axis=0) if len(h) else np.zeros(7)
        want += [float(unit[c] @ u) for c in beh.cand[beh.cand_ptr[i]:beh.cand_ptr[i + 1]]]
    np.testing.assert_allclose(got, want, atol=1e-5)
    empty = np.flatnonzero(np.diff(beh.hist_ptr) == 0)
    assert len(empty) and all((got[beh.cand_ptr[i]:beh.cand_ptr[i + 1]] == 0).all() for i in empty)


def test_auc_drop_matches_a_direct_loop():
    from newsbench.attribution import auc_drop
    from newsbench.metrics import auc_score

    rng = np.random.default_rng(1)
    beh = _behaviors(rng, m=60)
    group = rng.integers(-1, 3, size=len(beh.cand))
    full = rng.normal(size=len(beh.cand))
    ablated = {"x": np.round(full + rng.normal(size=len(full)), 1)}     # rounding makes ties
    drops, n = auc_drop(full, ablated, beh.label, beh.cand_ptr, group, 3)
    for g in range(3):
        diffs = []
        for i in range(len(beh)):
            sl = slice(beh.cand_ptr[i], beh.cand_ptr[i + 1])
            keep = group[sl] == g
            y = beh.label[sl][keep]
            if y.any() and not y.all():
                diffs.append(auc_score(y, full[sl][keep]) - auc_score(y, ablated["x"][sl][keep]))
        assert n[g] == len(diffs)
        np.testing.assert_allclose(drops["x"][g], np.mean(diffs) if diffs else np.nan)


# ---------------------------------------------------------------------------------------------------------------
# Popularity, evaluation, records, the command

def _dataset(rng, n_news=30):
    from newsbench.data.dataset import Dataset, News

    train, dev = _behaviors(rng, m=80, n_news=n_news), _behaviors(rng, m=40, n_news=n_news)
    train.time = np.sort(rng.integers(0, 4 * baselines.DAY_SECONDS, size=len(train)))
    dev.cand = np.where(dev.cand < 5, dev.cand + n_news, dev.cand).astype(np.int32)   # some dev-only news
    n = n_news + 5
    news = News(ids=np.array([f"N{i}" for i in range(n)]), category=np.zeros(n, np.int32),
                subcategory=np.zeros(n, np.int32), categories=["c"], subcategories=["s"],
                title=np.array([""] * n), abstract=np.array([""] * n), entity_ptr=np.zeros(n + 1, np.int64),
                entity_idx=np.zeros(0, np.int32), entities=[])
    train.cand = np.minimum(train.cand, n_news - 1).astype(np.int32)
    return Dataset(name="t", fingerprint="fp0", news=news, users=np.array(["U"]), train=train, dev=dev)


def test_popularity_and_recency_equal_a_direct_loop():
    rng = np.random.default_rng(2)
    ds = _dataset(rng)
    tr = ds.train
    last = int(tr.time.max())
    total, recent = {}, {}
    for i in range(len(tr)):
        for s in range(tr.cand_ptr[i], tr.cand_ptr[i + 1]):
            if tr.label[s] == 1:
                total[tr.cand[s]] = total.get(tr.cand[s], 0) + 1
                if tr.time[i] > last - baselines.DAY_SECONDS:
                    recent[tr.cand[s]] = recent.get(tr.cand[s], 0) + 1
    assert 0 < sum(recent.values()) < sum(total.values())           # the window really cuts
    np.testing.assert_array_equal(baselines.popularity_scores(ds), [total.get(c, 0) for c in ds.dev.cand])
    np.testing.assert_array_equal(baselines.recent_popularity_scores(ds), [recent.get(c, 0) for c in ds.dev.cand])


def test_evaluate_scores_cold_and_warm_equal_a_direct_loop():
    from newsbench.metrics import auc_score, mrr_score, ndcg_score

    rng = np.random.default_rng(3)
    ds = _dataset(rng)
    scores = rng.normal(size=len(ds.dev.cand))
    metrics, by, arrays = baselines.evaluate_scores(scores, ds)
    seen = ds.seen_in_train()
    dev = ds.dev
    for side in ("cold", "warm"):
        for i in range(len(dev)):
            sl = slice(dev.cand_ptr[i], dev.cand_ptr[i + 1])
            keep = ~seen[dev.cand[sl]] if side == "cold" else seen[dev.cand[sl]]
            y, s = dev.label[sl][keep], scores[sl][keep]
            defined = y.any() and not y.all()
            want = (auc_score(y, s) if defined else np.nan, mrr_score(y, s) if y.any() else np.nan,
                    ndcg_score(y, s, 5) if y.any() else np.nan)
            got = (arrays[f"auc_{side}"][i], arrays[f"mrr_{side}"][i], arrays[f"ndcg5_{side}"][i])
            np.testing.assert_allclose(got, want)
        assert by[side]["n"] == int((~np.isnan(arrays[f"auc_{side}"])).sum()) > 0
    assert metrics["auc"] == np.nanmean(arrays["auc"]) and by["all"]["mrr"] == metrics["mrr"]


def test_records_round_trip_and_ids_name_what_the_scores_depend_on(tmp_path):
    rng = np.random.default_rng(4)
    ds = _dataset(rng)
    vec = rng.normal(size=(len(ds.news), 6)).astype(np.float32)
    info = {"llm": {"key": "text-aaa", "encoder": "hash", "fields": "title"}, "gnn": {"key": "graph-bbb"}}
    done = baselines.compute_baselines(ds, {"llm": vec, "gnn": vec}, info)
    assert [r["baseline"] for r, _ in done] == list(baselines.BASELINES)
    assert len({r["baseline_id"] for r, _ in done}) == 4
    text = dict((r["baseline"], (r, a)) for r, a in done)["text"]
    np.testing.assert_array_equal(text[1]["impression_id"], ds.dev.impression_id)
    other = baselines.compute_baselines(ds, {"llm": vec}, {"llm": {"key": "text-ccc", "encoder": "minilm"}},
                                        names=("text",))[0][0]
    assert other["baseline_id"] != text[0]["baseline_id"] and other["label"] == "text centroid (minilm)"
    for r, a in done:
        baselines.save_baseline(tmp_path, r, a)
    loaded = baselines.load_baselines(tmp_path, fingerprint="fp0")
    assert [r["baseline_id"] for r in loaded] == [r["baseline_id"] for r, _ in done]
    assert baselines.load_baselines(tmp_path, fingerprint="other") == []
    arrays = baselines.load_baseline_arrays(tmp_path, text[0]["baseline_id"])
    np.testing.assert_array_equal(arrays["auc_cold"], text[1]["auc_cold"])
    assert not list((tmp_path / "baselines").glob(".tmp-*"))


@pytest.mark.slow
def test_baselines_command_in_process(tiny_dir, tmp_path):
    import json

    from typer.testing import CliRunner

    from newsbench.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["baselines", "-d", str(tiny_dir), "-e", "hash", "--only", "popularity,recent,text",
                              "--json", "--results", str(tmp_path)])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.stdout)
    assert [r["baseline"] for r in recs] == ["popularity", "recent", "text"]
    pop = recs[0]
    assert pop["metrics_by"]["cold"]["auc"] == 0.5          # every cold candidate has 0 train clicks: all tied
    assert pop["metrics_by"]["warm"]["auc"] > 0.6            # the generator plants popularity
    assert recs[2]["features"]["llm"]["encoder"] == "hash"
    assert len(baselines.load_baselines(tmp_path)) == 3
    table = runner.invoke(app, ["baselines", "-d", str(tiny_dir), "-e", "hash", "--only", "popularity,text"],
                          env={"COLUMNS": "80"})
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("text centroid (hash)" in line for line in lines) and sum(" cold " in line for line in lines) == 2
    bad = runner.invoke(app, ["baselines", "-d", str(tiny_dir), "--only", "popularity,oracle"])
    assert bad.exit_code != 0 and "oracle" in str(bad.exception)


def test_baselines_on_real_mind_rows(real_mind, tmp_path):
    # The real excerpts barely join; a time split of the independent train sample keeps a few dozen dev impressions
    # with both a click and a non-click (copied into a temporary folder, never into the project).
    import shutil

    from newsbench.data.load import load_dataset

    src = real_mind / "small-sample" / "train"
    lines = (src / "behaviors.tsv").read_text().splitlines(keepends=True)
    for split, rows in (("train", [x for x in lines if "\t11/14/2019" not in x]),
                        ("dev", [x for x in lines if "\t11/14/2019" in x])):
        (tmp_path / split).mkdir()
        shutil.copy(src / "news.tsv", tmp_path / split / "news.tsv")
        (tmp_path / split / "behaviors.tsv").write_text("".join(rows))
    ds = load_dataset(tmp_path, cache_dir=tmp_path / "cache", unknown_news="drop", progress=False)
    from newsbench.features.text import text_features_with_meta

    vec, meta = text_features_with_meta(ds, "hash", "title", "cpu", tmp_path / "cache", False)
    done = baselines.compute_baselines(ds, {"llm": vec}, {"llm": meta}, names=("popularity", "recent", "text"))
    for r, a in done:
        assert r["metrics_by"]["all"]["n"] >= 20
        assert all(0 <= r["metrics"][k] <= 1 for k in ("auc", "mrr", "ndcg@5", "ndcg@10"))
        assert len(a["auc"]) == len(ds.dev)
