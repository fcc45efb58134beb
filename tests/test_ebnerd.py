"""The EB-NeRD reader (newsbench.data.ebnerd) on generated folders written in EB-NeRD's schema: the same world read
as MIND and as EB-NeRD gives the same arrays and the same metrics; layouts, types, embeddings, the CLI."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from newsbench import api, store
from newsbench.data import ebnerd
from newsbench.data.load import data_format, load_dataset, load_training_data
from newsbench.data.mind import read_mind
from newsbench.errors import InputError

BEHAVIOR_FIELDS = ("impression_id", "user", "time", "hist_ptr", "hist", "cand_ptr", "cand", "label")


@pytest.fixture(scope="module")
def eb_dir(tmp_path_factory):
    """The tiny world of `tiny_dir` (seed 0), written in EB-NeRD's schema."""
    from newsbench.data.synth import generate

    return generate("tiny", 0, tmp_path_factory.mktemp("eb") / "tiny-eb", fmt="ebnerd")


def test_the_same_world_reads_into_the_same_arrays(tiny_dir, eb_dir):
    m, e = read_mind(tiny_dir), ebnerd.read_ebnerd(eb_dir)
    # ids: EB-NeRD's are integers (article N123 is article_id 123); the order is the same
    assert ["N" + i for i in e.news.ids] == list(m.news.ids)
    assert ["U" + u for u in e.users] == list(m.users)
    for name in ("category", "entity_ptr", "entity_idx"):
        assert np.array_equal(getattr(m.news, name), getattr(e.news, name)), name
    assert m.news.categories == e.news.categories and m.news.entities == e.news.entities
    assert list(m.news.title) == list(e.news.title) and list(m.news.abstract) == list(e.news.abstract)
    # subcategories are integer ids in EB-NeRD: other names, the same grouping of the news
    assert pd.crosstab(m.news.subcategory, e.news.subcategory).astype(bool).sum(axis=1).eq(1).all()
    assert len(m.news.subcategories) == len(e.news.subcategories)
    for split in ("train", "dev"):
        for name in BEHAVIOR_FIELDS:
            a, b = getattr(getattr(m, split), name), getattr(getattr(e, split), name)
            assert a.dtype == b.dtype and np.array_equal(a, b), (split, name)
    # what differs: no entity vectors in EB-NeRD, and the fingerprints (other files, another reader)
    assert m.entity_vectors is not None and e.entity_vectors is None
    assert m.fingerprint != e.fingerprint and e.card["format"] == "ebnerd"


def test_files_carry_the_published_types(eb_dir):
    arts = pq.read_schema(eb_dir / "articles.parquet")
    beh = pq.read_schema(eb_dir / "train" / "behaviors.parquet")
    hist = pq.read_schema(eb_dir / "validation" / "history.parquet")
    assert arts.field("article_id").type == pa.int32() and arts.field("category_str").type == pa.string()
    for name in ("ner_clusters", "entity_groups", "topics"):
        assert arts.field(name).type == pa.list_(pa.string())
    assert arts.field("subcategory").type == pa.list_(pa.int16())
    assert beh.field("impression_id").type == pa.uint32() and beh.field("user_id").type == pa.uint32()
    assert pa.types.is_timestamp(beh.field("impression_time").type)
    for name in ("article_ids_inview", "article_ids_clicked"):
        assert beh.field(name).type == pa.list_(pa.int32())
    assert hist.field("article_id_fixed").type == pa.list_(pa.int32())
    assert hist.field("impression_time_fixed").type == pa.list_(pa.timestamp("us"))


def test_each_impression_gets_its_users_history_and_its_clicks(eb_dir):
    ds = ebnerd.read_ebnerd(eb_dir)
    beh = pq.read_table(eb_dir / "validation" / "behaviors.parquet").to_pandas()
    hist = pq.read_table(eb_dir / "validation" / "history.parquet").to_pandas().set_index("user_id")
    b = ds.dev
    ids = ds.news.ids.astype(np.int64)
    for i in (0, 7, len(b) - 1):
        row = beh.iloc[i]
        assert ds.users[b.user[i]] == str(row.user_id)
        assert list(ids[b.hist[b.hist_ptr[i]:b.hist_ptr[i + 1]]]) == list(hist.loc[row.user_id, "article_id_fixed"])
        cands = ids[b.cand[b.cand_ptr[i]:b.cand_ptr[i + 1]]]
        assert list(cands) == list(row.article_ids_inview)
        clicked = set(row.article_ids_clicked)
        assert list(b.label[b.cand_ptr[i]:b.cand_ptr[i + 1]]) == [int(c in clicked) for c in cands]
        assert b.time[i] == pd.Timestamp(row.impression_time).value // 10 ** 9


def test_reads_only_the_columns_it_needs(eb_dir, monkeypatch):
    asked = []
    real = pq.read_table
    monkeypatch.setattr(pq, "read_table", lambda path, columns=None, **kw: asked.append(columns) or real(
        path, columns=columns, **kw))
    ebnerd.read_ebnerd(eb_dir)
    assert asked and all(cols is not None for cols in asked)
    read = {c for cols in asked for c in cols}
    assert "body" not in read and "image_ids" not in read and "read_time_fixed" not in read
    assert read == set(ebnerd.ARTICLE_COLUMNS) | set(ebnerd.BEHAVIOR_COLUMNS) | set(ebnerd.HISTORY_COLUMNS)


def test_layouts(eb_dir, tmp_path, tiny_dir):
    assert data_format(eb_dir) == "ebnerd" and data_format(tiny_dir) == "mind"
    # one split folder given directly: validation/ is the dev split, articles.parquet is its parent's
    one = ebnerd.read_ebnerd(eb_dir / "validation")
    assert one.train is None and len(one.dev) == len(ebnerd.read_ebnerd(eb_dir).dev)
    # the test set: test/ without article_ids_clicked is an unlabelled dev split, refused for training
    root = tmp_path / "ebnerd_testset"
    (root / "test").mkdir(parents=True)
    shutil.copy(eb_dir / "articles.parquet", root)
    shutil.copy(eb_dir / "validation" / "history.parquet", root / "test")
    beh = pq.read_table(eb_dir / "validation" / "behaviors.parquet")
    pq.write_table(beh.drop_columns(["article_ids_clicked"]), root / "test" / "behaviors.parquet")
    ds = load_dataset(root, cache_dir=tmp_path / "c", progress=False)
    assert ds.train is None and (ds.dev.label == -1).all() and ds.source["format"] == "ebnerd"
    with pytest.raises(InputError, match="no train split"):
        load_training_data(root, cache_dir=tmp_path / "c")
    # validation/ beside test/: the labelled one is the dev split
    shutil.copytree(eb_dir / "validation", root / "validation")
    assert ebnerd.find_splits(root) == {"dev": root / "validation"}


def test_unknown_articles_are_an_error_or_dropped(eb_dir, tmp_path):
    root = tmp_path / "eb"
    shutil.copytree(eb_dir, root)
    arts = pq.read_table(root / "articles.parquet")
    beh = pq.read_table(root / "train" / "behaviors.parquet").to_pandas()
    gone = int(beh.article_ids_inview.iloc[0][0])
    keep = pa.array(np.asarray(arts.column("article_id")) != gone)
    pq.write_table(arts.filter(keep), root / "articles.parquet")
    with pytest.raises(InputError, match=f"row 0 \\(from 0\\), column article_ids_inview: unknown article id {gone}"):
        load_dataset(root, cache_dir=tmp_path / "c", progress=False)
    ds = load_dataset(root, cache_dir=tmp_path / "c", unknown_news="drop", progress=False)
    full = ebnerd.read_ebnerd(eb_dir)
    assert len(ds.news) == len(full.news) - 1
    dropped = len(full.train.cand) - len(ds.train.cand)
    assert dropped == int(sum(gone in list(v) for v in beh.article_ids_inview))
    assert ds.source["warnings"] and "dropped" in ds.source["warnings"][0]


def test_the_same_world_gives_the_same_metrics(tiny_dir, eb_dir, tmp_path):
    """Target 1: `id` and `id+llm+gnn/attention` on both formats of one world. Entity rows start random in both
    (EB-NeRD ships no entity vectors; with `--entity-vectors data` the MIND read would start from its .vec)."""
    opts = dict(text_encoder="hash", epochs=1, dim=32, id_dim=16, user_hidden=16, history_len=10, graph_epochs=2,
                graph_dim=16, entity_vectors="random", device="cpu")
    for modalities in ("id", "id+llm+gnn"):
        got = [api.train(d, results=tmp_path / name, cache_dir=tmp_path / "cache", modalities=modalities,
                         fusion="attention", **opts).records[0] for d, name in ((tiny_dir, "m"), (eb_dir, "e"))]
        assert got[0]["metrics"] == got[1]["metrics"], modalities
        assert 0.5 < got[1]["metrics"]["auc"] < 1                 # a trained model, not an empty comparison
        assert got[0]["run_id"] != got[1]["run_id"]             # other dataset fingerprints: other runs
    assert len(store.load_records(tmp_path / "e")) == 2


def test_ebnerd_embeddings_are_the_text_modality(eb_dir, tmp_path):
    from newsbench.features.text import hash_encode, text_features, texts_for

    ds = ebnerd.read_ebnerd(eb_dir)
    vectors = hash_encode(texts_for(ds.news, "title"), dim=16)
    order = np.random.default_rng(0).permutation(len(ds.news))           # rows in another order than the news
    folder = tmp_path / "FacebookAI_xlm_roberta_base"
    folder.mkdir()
    path = folder / "xlm_roberta_base.parquet"
    pq.write_table(pa.table({"article_id": pa.array(ds.news.ids.astype(np.int64)[order], pa.int32()),
                             "FacebookAI/xlm-roberta-base": pa.array(vectors[order].tolist(),
                                                                     pa.list_(pa.float32()))}), path)
    for spec in (f"ebnerd:{path}", f"ebnerd:{folder}", f"file:{path}"):
        got = text_features(ds, spec, cache_dir=tmp_path / "c", progress=False)
        assert np.array_equal(got, vectors), spec
    # coverage: an article without a vector is named
    pq.write_table(pq.read_table(path).slice(1), path)
    with pytest.raises(InputError, match=f"1 of {len(ds.news)} news ids have no vector"):
        text_features(ds, f"ebnerd:{path}", cache_dir=tmp_path / "c2", progress=False)
    (tmp_path / "x.npy").write_bytes(b"x")
    with pytest.raises(InputError, match="other vector files go through file:PATH"):
        text_features(ds, f"ebnerd:{tmp_path}/x.npy", cache_dir=tmp_path / "c2", progress=False)


def test_cli_synth_info_validate_and_ablate(cli, tmp_path):
    out = tmp_path / "eb"
    res = cli("data", "synth", "--scale", "tiny", "--format", "ebnerd", "--out", out, "--no-progress")
    assert res.exit_code == 0 and (out / "train" / "history.parquet").is_file(), res.output
    info = cli("data", "info", "-d", out, "--cache-dir", tmp_path / "c")
    assert info.exit_code == 0 and "EB-NeRD (parquet)" in info.stdout.splitlines()[0], info.output
    ok = cli("data", "validate", out, "--cache-dir", tmp_path / "c")
    assert ok.exit_code == 0 and ok.stdout.startswith(f"ok: {out}: EB-NeRD (parquet), 800 news"), ok.output
    raw = cli("data", "info", "--raw", "-d", out)
    assert raw.exit_code == 2 and "EB-NeRD folder" in raw.stderr
    res = tmp_path / "results"
    ab = cli("ablate", "-d", out, "--results", res, "--subsets", "id", "--seeds", "0", "--device", "cpu",
             "--text-encoder", "hash", "--epochs", "1", "--dim", "32", "--id-dim", "16", "--user-hidden", "16",
             "--history-len", "10")
    assert ab.exit_code == 0, ab.output
    assert (res / "report" / "report.md").is_file() and "1 run trained" in ab.output


def test_gather_histories_equals_a_loop_over_impressions(monkeypatch):
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 9, 40)
    user_ptr = np.r_[0, np.cumsum(lengths)]
    user_hist = rng.integers(0, 1000, int(user_ptr[-1])).astype(np.int32)
    rows = rng.integers(0, 40, 333)
    monkeypatch.setattr(ebnerd, "GATHER_ROWS", 7)          # many steps, a short last one
    ptr, hist = ebnerd.gather_histories(user_ptr, user_hist, rows)
    expect = [user_hist[user_ptr[r]:user_ptr[r + 1]] for r in rows]
    assert hist.dtype == np.int32 and list(np.diff(ptr)) == [len(e) for e in expect]
    assert np.array_equal(hist, np.concatenate(expect))


def test_info_json_names_the_format(cli, eb_dir, tiny_dir, tmp_path):
    import json

    for folder, fmt in ((eb_dir, "ebnerd"), (tiny_dir, "mind")):
        res = cli("data", "info", "-d", folder, "--json", "--cache-dir", tmp_path)
        assert res.exit_code == 0 and json.loads(res.stdout)["format"] == fmt, res.output


def test_times_with_a_zone_or_sub_seconds_read_as_whole_utc_seconds(eb_dir, tmp_path):
    root = tmp_path / "eb"
    shutil.copytree(eb_dir, root)
    path = root / "validation" / "behaviors.parquet"
    t = pq.read_table(path)
    us = t.column("impression_time").combine_chunks().cast(pa.int64()).to_numpy() + 999_999
    i = t.schema.get_field_index("impression_time")
    pq.write_table(t.set_column(i, "impression_time", pa.array(us, pa.int64()).cast(pa.timestamp("us", tz="UTC"))),
                   path)
    assert np.array_equal(ebnerd.read_ebnerd(root).dev.time, ebnerd.read_ebnerd(eb_dir).dev.time)


def test_the_writer_refuses_two_histories_for_one_user(tiny_dir, tmp_path):
    from newsbench.data.ebnerd_write import write_ebnerd

    ds = read_mind(tiny_dir)
    b = ds.train
    u = b.user[0]
    later = int(np.flatnonzero(b.user == u)[1])             # the user's second impression
    assert b.hist_ptr[later + 1] > b.hist_ptr[later]
    b.hist[b.hist_ptr[later]] = (b.hist[b.hist_ptr[later]] + 1) % len(ds.news)
    with pytest.raises(InputError, match=f"impression {b.impression_id[later]} has another history"):
        write_ebnerd(ds, tmp_path / "out")
    assert not (tmp_path / "out").exists()
