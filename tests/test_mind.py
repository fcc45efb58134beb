"""The MIND reader and its cache: fixtures written here in MIND's format, and every file of the real excerpts."""

from __future__ import annotations

import calendar
import json
import os
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from newsbench.data import arrays, mind
from newsbench.data.load import load_dataset
from newsbench.data.mind import read_behaviors, read_mind, read_news, read_vectors
from newsbench.errors import InputError


def entity(label: str, wid: str, offset: int = 0) -> dict:
    return {"Label": label, "Type": "P", "WikidataId": wid, "Confidence": 1.0, "OccurrenceOffsets": [offset],
            "SurfaceForms": [label]}


def news_row(nid, cat="news", sub="newsus", title="A title", abstract="An abstract", title_ent=(), abs_ent=()):
    return "\t".join([nid, cat, sub, title, abstract, f"https://assets.msn.com/labs/mind/{nid}.html",
                      json.dumps(list(title_ent)), json.dumps(list(abs_ent))])


def behaviors_row(imp, user, when, history, impressions):
    return "\t".join([str(imp), user, when, " ".join(history), " ".join(impressions)])


def write_split(folder: Path, news: list[str], behaviors: list[str], vectors: dict[str, list[float]] | None = None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "news.tsv").write_text("".join(r + "\n" for r in news), encoding="utf-8")
    (folder / "behaviors.tsv").write_text("".join(r + "\n" for r in behaviors), encoding="utf-8")
    if vectors is not None:
        # MIND's .vec rows end with a trailing tab.
        text = "".join(k + "\t" + "\t".join(f"{x:.6f}" for x in v) + "\t\n" for k, v in vectors.items())
        (folder / "entity_embedding.vec").write_text(text, encoding="utf-8")


TRAIN_NEWS = [
    news_row("N1", "sports", "football_nfl", "Zürich wins ünïcödé 北京 title", "",  # empty abstract
             [entity("Zürich", "Q72")], [entity("Zürich", "Q72"), entity("北京", "Q956")]),
    news_row("N2", "news", "newsus", "Second", "Abstract two", [entity("Émile", "Q1")]),
    news_row("N3", "finance", "markets", "Third", "Abstract three"),
    news_row("N4", "news", "newsworld", "Fourth", "Abstract four"),
]
DEV_NEWS = [
    news_row("N4", "news", "newsworld", "Fourth, dev copy", "ignored: train's row wins"),
    news_row("N5", "lifestyle", "royals", "Fifth", "Abstract five", [], [entity("Q", "Q2")]),
]
TRAIN_BEH = [
    behaviors_row(1, "U1", "11/11/2019 9:05:58 AM", ["N1", "N2"], ["N3-1", "N4-0"]),
    behaviors_row(2, "U2", "11/11/2019 12:00:00 PM", [], ["N1-0", "N2-1", "N3-0"]),  # empty history
    behaviors_row(3, "U1", "11/12/2019 11:59:59 PM", ["N3"], ["N4-1"]),
]
DEV_BEH = [
    behaviors_row(7, "U3", "11/15/2019 1:02:03 AM", ["N1", "N4"], ["N5-1", "N2-0"]),
]


def write_mind(root: Path, layout: str = "train-dev", vectors: bool = True) -> Path:
    """A small MIND folder with MIND's quirks (empty history, empty abstract, unicode labels, shared news)."""
    train, dev = {"train-dev": ("train", "dev"), "mind": ("MINDsmall_train", "MINDsmall_dev")}[layout]
    write_split(root / train, TRAIN_NEWS, TRAIN_BEH, {"Q72": [0.1] * 4, "Q1": [0.2] * 4} if vectors else None)
    write_split(root / dev, DEV_NEWS, DEV_BEH, {"Q956": [0.3] * 4, "Q72": [9.0] * 4} if vectors else None)
    return root


def unix(text: str) -> int:
    return calendar.timegm(datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p").timetuple())


def tokens_back(ds, b, split_rows: list[str]) -> None:
    """The arrays give back exactly the rows' ids, labels, users and times."""
    for i, row in enumerate(split_rows):
        imp, user, when, hist, cands = row.split("\t")
        assert b.impression_id[i] == int(imp)
        assert ds.users[b.user[i]] == user
        assert b.time[i] == unix(when)
        got_hist = [ds.news.ids[j] for j in b.hist[b.hist_ptr[i]:b.hist_ptr[i + 1]]]
        assert got_hist == (hist.split(" ") if hist else [])
        sl = slice(b.cand_ptr[i], b.cand_ptr[i + 1])
        got = [f"{ds.news.ids[j]}-{lab}" for j, lab in zip(b.cand[sl], b.label[sl])]
        assert got == cands.split(" ")


@pytest.mark.parametrize("layout", ["train-dev", "mind"])
def test_reads_fixture_with_quirks(tmp_path, layout):
    ds = read_mind(write_mind(tmp_path / "m", layout))
    assert list(ds.news.ids) == ["N1", "N2", "N3", "N4", "N5"]  # one index; N4 once
    assert ds.news.title[3] == "Fourth"  # the first file's row wins
    assert ds.news.title[0] == "Zürich wins ünïcödé 北京 title"
    assert ds.news.abstract[0] == ""
    assert ds.news.categories[ds.news.category[0]] == "sports"
    assert ds.news.subcategories[ds.news.subcategory[4]] == "royals"
    # Entities: title + abstract, deduplicated per news, in first-seen order.
    ents = [ds.news.entities[k] for k in ds.news.entity_idx[ds.news.entity_ptr[0]:ds.news.entity_ptr[1]]]
    assert ents == ["Q72", "Q956"]
    assert np.diff(ds.news.entity_ptr).tolist() == [2, 1, 0, 0, 1]
    tokens_back(ds, ds.train, TRAIN_BEH)
    tokens_back(ds, ds.dev, DEV_BEH)
    assert ds.train.hist.dtype == np.int32 and ds.train.label.dtype == np.int8 and ds.train.time.dtype == np.int64
    # Vectors: train's file wins for Q72; absent entities are NaN rows.
    ev = ds.entity_vectors
    assert ev.shape == (len(ds.news.entities), 4) and ev.dtype == np.float32
    assert np.allclose(ev[ds.news.entities.index("Q72")], 0.1)
    assert np.allclose(ev[ds.news.entities.index("Q956")], 0.3)
    assert np.isnan(ev[ds.news.entities.index("Q2")]).all()
    assert len(ds.fingerprint) == 16


def test_single_split_folder_by_name(tmp_path):
    root = write_mind(tmp_path / "m", "mind", vectors=False)
    dev = read_mind(root / "MINDsmall_dev", unknown_news="drop")
    assert dev.train is None and dev.dev is not None
    train = read_mind(root / "MINDsmall_train")
    assert train.dev is None and len(train.train) == 3


def test_layout_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_mind(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a MIND folder"):
        read_mind(tmp_path / "empty")
    root = write_mind(tmp_path / "both", vectors=False)
    write_split(root / "MINDsmall_train", TRAIN_NEWS, TRAIN_BEH)
    with pytest.raises(InputError, match="ambiguous"):
        read_mind(root)


def test_unlabelled_test_split(tmp_path):
    write_split(tmp_path / "MINDlarge_test", TRAIN_NEWS, [behaviors_row(1, "U1", "11/16/2019 1:00:00 PM",
                                                                       ["N1"], ["N2", "N3"])])
    ds = read_mind(tmp_path / "MINDlarge_test")
    assert ds.train.label.tolist() == [-1, -1]


def test_unknown_news_error_and_drop(tmp_path, capsys):
    beh = TRAIN_BEH + [behaviors_row(4, "U9", "11/13/2019 1:00:00 PM", ["N1", "N99"], ["N98-1", "N2-0"]),
                       behaviors_row(5, "U9", "11/13/2019 1:00:00 PM", [], ["N97-1"])]
    write_split(tmp_path / "train", TRAIN_NEWS, beh)
    with pytest.raises(InputError) as err:
        read_mind(tmp_path / "train")
    assert err.value.line == 4 and "N99" in err.value.reason and err.value.file.endswith("behaviors.tsv")
    ds = read_mind(tmp_path / "train", unknown_news="drop")
    assert len(ds.train) == 4  # impression 5 had no known candidate left
    assert [ds.news.ids[j] for j in ds.train.hist[ds.train.hist_ptr[3]:ds.train.hist_ptr[4]]] == ["N1"]
    assert ds.train.label[ds.train.cand_ptr[3]:].tolist() == [0]
    warning = capsys.readouterr().err
    assert "dropped 1 history and 2 candidate" in warning and "1 impressions" in warning
    with pytest.raises(InputError, match="unknown_news"):
        read_mind(tmp_path / "train", unknown_news="ignore")


# ------------------------------------------------------------------------------------------------------- real rows


def test_real_small_head(real_mind):
    for sub in ("small-head", "small-head/train", "small-head/dev"):
        ds = read_mind(real_mind / sub, unknown_news="drop")
        assert len(ds.news) > 0
    ds = read_mind(real_mind / "small-head", unknown_news="drop")
    assert ds.train is not None and ds.dev is not None
    assert len(ds.news) < 202  # the two news files share ids: one index
    assert ds.news.entity_ptr[-1] == len(ds.news.entity_idx)


def test_real_every_file(real_mind):
    for news in sorted(real_mind.glob("small-*/*/news.tsv")):
        t = read_news(news)
        assert len(t.ids) == sum(1 for _ in open(news, encoding="utf-8"))
    for beh in sorted(real_mind.glob("small-*/*/behaviors.tsv")):
        t = read_behaviors(beh)
        n = sum(1 for _ in open(beh, encoding="utf-8"))
        assert len(t.impression_id) == n and len(t.cand_ptr) == n + 1
        assert set(np.unique(t.label)) <= {0, 1}
    keys, m = read_vectors(real_mind / "small-head/dev/relation_embedding.vec")
    assert m.shape == (1091, 100) and keys[0] == "P31" and np.isfinite(m).all()
    ds = read_mind(real_mind / "small-sample/train", unknown_news="drop")
    assert len(ds.news) == 2000 and len(ds.users) == 4637


def test_real_large_case(real_mind, tmp_path):
    """The edited MINDlarge rows: blank and '#' lines are not MIND; once removed, the rows parse."""
    case = real_mind / "large-case"
    for name, line in (("news.tsv", 4), ("dev_news.tsv", 2)):
        with pytest.raises(InputError) as err:
            read_news(case / name)
        assert err.value.line == line and "blank line" in err.value.reason
        kept = [r for r in (case / name).read_text("utf-8").split("\n") if r and not r.startswith("#")]
        (tmp_path / name).write_text("\n".join(kept) + "\n", "utf-8")
        assert len(read_news(tmp_path / name).ids) == len(kept)
    t = read_behaviors(case / "dev_behaviors.tsv")
    # repeated impression ids: every row kept as its own impression, numbered by line (reports pair runs by id)
    assert t.impression_id.tolist() == [1, 2, 3]
    assert np.diff(t.hist_ptr)[2] == 2  # a repeated history id stays repeated


# ----------------------------------------------------------------------------------------------------------- cache


def test_cache_hit_skips_parser(tmp_path, monkeypatch):
    root = write_mind(tmp_path / "m")
    cache = tmp_path / "cache"
    first = load_dataset(root, cache_dir=cache, progress=False)

    def boom(*a, **k):
        raise AssertionError("parsed again")

    monkeypatch.setattr(mind, "read_mind", boom)
    second = load_dataset(root, cache_dir=cache, progress=False)
    assert second.fingerprint == first.fingerprint
    for split in ("train", "dev"):
        for f in arrays.BEHAVIOR_FIELDS:
            np.testing.assert_array_equal(getattr(getattr(first, split), f), getattr(getattr(second, split), f))
    for f in ("ids", "title", "abstract", "category", "entity_ptr", "entity_idx"):
        np.testing.assert_array_equal(getattr(first.news, f), getattr(second.news, f))
    assert first.news.entities == second.news.entities and first.news.categories == second.news.categories
    np.testing.assert_array_equal(first.entity_vectors, second.entity_vectors)
    np.testing.assert_array_equal(first.users, second.users)


def test_cache_key_follows_content(tmp_path):
    root = write_mind(tmp_path / "m")
    cache = tmp_path / "cache"
    fp1 = load_dataset(root, cache_dir=cache, progress=False).fingerprint
    beh = root / "dev" / "behaviors.tsv"
    beh.write_text(beh.read_text("utf-8").replace("N2-0", "N2-1"), "utf-8")
    os.utime(beh, ns=(time.time_ns(), time.time_ns() + 10**9))
    ds = load_dataset(root, cache_dir=cache, progress=False)
    assert ds.fingerprint != fp1 and ds.dev.label.tolist() == [1, 1]
    assert len(list((cache / "datasets").glob("*/error.npz"))) == 2


def test_truncated_cache_is_rebuilt(tmp_path, capsys):
    root = write_mind(tmp_path / "m")
    cache = tmp_path / "cache"
    ds = load_dataset(root, cache_dir=cache, progress=False)
    npz, meta = arrays.entry_paths(cache, ds.fingerprint, "error")
    npz.write_bytes(npz.read_bytes()[: npz.stat().st_size // 2])
    again = load_dataset(root, cache_dir=cache, progress=False)
    assert "checksum" in capsys.readouterr().err
    np.testing.assert_array_equal(again.train.cand, ds.train.cand)
    assert arrays.load(cache, ds.fingerprint, "error") is not None  # rebuilt and valid


def test_failed_validation_writes_no_cache(tmp_path):
    root = write_mind(tmp_path / "m")
    (root / "dev" / "news.tsv").write_text("N1\tonly three\tcolumns\n", "utf-8")
    cache = tmp_path / "cache"
    with pytest.raises(InputError):
        load_dataset(root, cache_dir=cache, progress=False)
    assert not (cache / "datasets").exists() or not any((cache / "datasets").iterdir())


def test_drop_warning_repeats_from_cache(tmp_path, capsys):
    write_split(tmp_path / "train", TRAIN_NEWS, TRAIN_BEH + [behaviors_row(9, "U1", "11/13/2019 1:00:00 PM",
                                                                           ["N77"], ["N1-1"])])
    cache = tmp_path / "cache"
    load_dataset(tmp_path / "train", cache_dir=cache, unknown_news="drop", progress=False)
    first = capsys.readouterr().err
    load_dataset(tmp_path / "train", cache_dir=cache, unknown_news="drop", progress=False)
    assert "dropped 1 history" in first and capsys.readouterr().err == first
    with pytest.raises(InputError, match="N77"):
        load_dataset(tmp_path / "train", cache_dir=cache, unknown_news="error", progress=False)


def test_cache_file_is_deterministic(tmp_path):
    """Two writers of the same entry produce the same bytes, so a race between them can't break the checksum."""
    root = write_mind(tmp_path / "m")
    a = load_dataset(root, cache_dir=tmp_path / "c1", progress=False)
    load_dataset(root, cache_dir=tmp_path / "c2", progress=False)
    npz1, _ = arrays.entry_paths(tmp_path / "c1", a.fingerprint, "error")
    npz2, _ = arrays.entry_paths(tmp_path / "c2", a.fingerprint, "error")
    assert npz1.read_bytes() == npz2.read_bytes()


def test_default_dataset_comes_from_synth(tmp_path, monkeypatch):
    """path=None reads whatever `newsbench.data.synth.default_path(cache_dir)` returns (imported lazily)."""
    import sys
    import types

    root = write_mind(tmp_path / "generated")
    fake = types.ModuleType("newsbench.data.synth")
    calls = []
    fake.default_path = lambda cache_dir=None: calls.append(cache_dir) or root
    monkeypatch.setitem(sys.modules, "newsbench.data.synth", fake)
    ds = load_dataset(None, cache_dir=tmp_path / "cache", progress=False)
    assert calls == [tmp_path / "cache"] and ds.name == "generated" and len(ds.dev) == 1


# ---------------------------------------------------------------------------------------------- property: round trip

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Any text MIND could hold in a field: no tab, no line end, no surrogate.
FIELD = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r"), max_size=12)
WHEN = st.datetimes(min_value=datetime(2019, 1, 1), max_value=datetime(2020, 12, 31)).map(
    lambda d: d.strftime("%m/%d/%Y %I:%M:%S %p").lstrip("0").replace("/0", "/").replace(" 0", " "))


@st.composite
def mind_split(draw):
    n = draw(st.integers(1, 8))
    ids = [f"N{i}" for i in draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))]
    wids = st.lists(st.sampled_from(["Q1", "Q2", "Q42", "Q9682"]), max_size=3)
    news = [news_row(i, draw(FIELD.filter(str.strip)), draw(FIELD), draw(FIELD), draw(FIELD),
                     [entity(draw(FIELD), w) for w in draw(wids)], [entity(draw(FIELD), w) for w in draw(wids)])
            for i in ids]
    rows = []
    for imp in range(draw(st.integers(1, 6))):
        hist = draw(st.lists(st.sampled_from(ids), max_size=5))
        cands = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=5))
        labels = draw(st.lists(st.sampled_from("01"), min_size=len(cands), max_size=len(cands)))
        rows.append(behaviors_row(imp + 1, f"U{draw(st.integers(0, 5))}", draw(WHEN), hist,
                                  [f"{c}-{lab}" for c, lab in zip(cands, labels)]))
    return news, rows


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(split=mind_split())
def test_round_trip_generated_files(tmp_path_factory, split):
    news, rows = split
    folder = tmp_path_factory.mktemp("rt") / "train"
    write_split(folder, news, rows)
    ds = read_mind(folder)
    assert list(ds.news.ids) == [r.split("\t")[0] for r in news]
    assert list(ds.news.title) == [r.split("\t")[3] for r in news]
    assert list(ds.news.abstract) == [r.split("\t")[4] for r in news]
    assert [ds.news.categories[c] for c in ds.news.category] == [r.split("\t")[1] for r in news]
    for i, r in enumerate(news):
        wids = [e["WikidataId"] for col in (6, 7) for e in json.loads(r.split("\t")[col])]
        got = [ds.news.entities[k] for k in ds.news.entity_idx[ds.news.entity_ptr[i]:ds.news.entity_ptr[i + 1]]]
        assert got == list(dict.fromkeys(wids))
    tokens_back(ds, ds.train, rows)


def test_unknown_news_error_names_earliest_line(tmp_path):
    """The first line naming an unknown id is reported, whichever column it is in."""
    beh = [behaviors_row(1, "U1", "11/11/2019 9:05:58 AM", ["N1"], ["N2-1"]),
           behaviors_row(2, "U1", "11/11/2019 9:05:58 AM", ["N1"], ["N2-0", "N500-1"]),
           behaviors_row(3, "U1", "11/11/2019 9:05:58 AM", ["N501"], ["N2-1"])]
    write_split(tmp_path / "train", TRAIN_NEWS, beh)
    with pytest.raises(InputError) as err:
        read_mind(tmp_path / "train")
    assert err.value.line == 2 and "N500 in the impressions column" in err.value.reason
    assert "(2 such references" in err.value.reason


def test_generated_tiny_dataset(tiny_dir, tmp_path):
    """The generator's output (synth helper) reads cleanly, strictly, with its card and entity vectors."""
    ds = load_dataset(tiny_dir, cache_dir=tmp_path / "cache", progress=False)
    assert ds.train is not None and ds.dev is not None and ds.card is not None
    assert ds.fingerprint == read_mind(tiny_dir).fingerprint
    assert ds.train.cand.max() < len(ds.news) and ds.dev.hist.min() >= 0
    if ds.entity_vectors is not None:
        assert ds.entity_vectors.shape[0] == len(ds.news.entities)
