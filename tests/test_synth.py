"""The generator: determinism, MIND format, the reader, the planted signals and the calibration to real MIND."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest

from newsbench.data import synth, vocab
from newsbench.errors import InputError

FILES = ["train/news.tsv", "train/behaviors.tsv", "train/entity_embedding.vec",
         "dev/news.tsv", "dev/behaviors.tsv", "dev/entity_embedding.vec", "dataset_card.json"]
NEWS_ID = re.compile(r"^N\d+$")
USER_ID = re.compile(r"^U\d+$")
TIME = re.compile(r"^(1[0-2]|[1-9])/([1-9]|[12]\d|3[01])/2019 (1[0-2]|[1-9]):[0-5]\d:[0-5]\d [AP]M$")
CAND = re.compile(r"^N\d+-[01]$")
ENTITY_KEYS = ["Label", "Type", "WikidataId", "Confidence", "OccurrenceOffsets", "SurfaceForms"]


def _digest(folder: Path) -> dict[str, str]:
    return {f: hashlib.sha256((folder / f).read_bytes()).hexdigest() for f in FILES}


def _rows(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tiny_world() -> synth.World:
    return synth.build_world("tiny", 0)


def test_same_seed_same_bytes_and_different_seed_differs(tiny_dir, tmp_path):
    again = synth.generate("tiny", 0, tmp_path / "again")
    assert _digest(again) == _digest(tiny_dir)
    other = synth.generate("tiny", 1, tmp_path / "other")
    a, b = _digest(other), _digest(tiny_dir)
    assert all(a[f] != b[f] for f in FILES)


def test_news_tsv_is_mind_format(tiny_dir):
    topics = {sub: cat for cat, sub, _ in vocab.subcategory_topics()}
    qids = set()
    for split in ("train", "dev"):
        rows = _rows(tiny_dir / split / "news.tsv")
        assert rows and all(len(r) == 8 for r in rows)
        for nid, cat, sub, title, abstract, url, t_ent, a_ent in rows:
            assert NEWS_ID.match(nid) and topics[sub] == cat and title and url.startswith("https://")
            for text, cell in ((title, t_ent), (abstract, a_ent)):
                ents = json.loads(cell)
                for e in ents:
                    assert list(e) == ENTITY_KEYS and e["Type"] in "POG" and re.match(r"^Q\d+$", e["WikidataId"])
                    assert 0 < e["Confidence"] <= 1
                    # The offset points at the surface form in the text, as in MIND.
                    (off,), (form,) = e["OccurrenceOffsets"], e["SurfaceForms"]
                    assert text[off:off + len(form)] == form
                    qids.add(e["WikidataId"])
    # Unquoted fields, one line per row: no tab, newline or quote inside a generated field.
    assert '"' not in (tiny_dir / "train" / "news.tsv").read_text().split("\t")[3]
    assert qids


def test_behaviors_tsv_is_mind_format(tiny_dir):
    for split in ("train", "dev"):
        known = {r[0] for r in _rows(tiny_dir / split / "news.tsv")}
        rows = _rows(tiny_dir / split / "behaviors.tsv")
        assert all(len(r) == 5 for r in rows)
        assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
        for _, user, time, hist, imps in rows:
            assert USER_ID.match(user) and TIME.match(time), (user, time)
            hist_ids = hist.split(" ") if hist else []
            cands = imps.split(" ")
            assert all(NEWS_ID.match(h) for h in hist_ids) and all(CAND.match(c) for c in cands)
            assert any(c.endswith("-1") for c in cands) and any(c.endswith("-0") for c in cands)
            # Every id the behaviors name is in the same split's news.tsv.
            assert set(hist_ids) <= known and {c[:-2] for c in cands} <= known


def test_entity_vectors_are_mind_format(tiny_dir):
    for split in ("train", "dev"):
        named = set()
        for r in _rows(tiny_dir / split / "news.tsv"):
            named |= {e["WikidataId"] for col in (6, 7) for e in json.loads(r[col])}
        lines = (tiny_dir / split / "entity_embedding.vec").read_text().splitlines()
        ids = []
        for line in lines:
            parts = line.split("\t")
            assert len(parts) == 102 and parts[-1] == ""  # id, 100 floats, trailing tab (as MIND's .vec)
            np.array(parts[1:101], dtype=float)
            ids.append(parts[0])
        assert set(ids) == named and len(ids) == len(set(ids))


def test_reader_loads_it_with_card_and_cold_share(tiny_dir):
    from newsbench.data.load import load_dataset
    from newsbench.data.mind import read_mind

    ds = read_mind(tiny_dir)
    card = json.loads((tiny_dir / "dataset_card.json").read_text())
    assert ds.card == card
    assert len(ds.train) == card["sizes"]["train_impressions"] and len(ds.dev) == card["sizes"]["dev_impressions"]
    assert len(ds.news) == card["sizes"]["news"]
    assert ds.entity_vectors is not None and ds.entity_vectors.shape[1] == 100
    cold = float(np.mean(~ds.seen_in_train()[ds.dev.cand]))
    assert cold == pytest.approx(card["sizes"]["dev_cold_candidate_share"], abs=1e-6)
    assert cold == pytest.approx(synth.DEFAULT_COLD_SHARE, abs=0.05)
    assert set(np.unique(ds.dev.label)) == {0, 1}
    cached = load_dataset(tiny_dir, progress=False)
    assert len(cached.dev.cand) == len(ds.dev.cand)


def test_cold_share_is_an_option(tmp_path):
    card = json.loads((synth.generate("tiny", 0, tmp_path / "c", cold_share=0.1) / "dataset_card.json").read_text())
    assert card["cold_share"] == 0.1
    assert card["sizes"]["dev_cold_candidate_share"] == pytest.approx(0.1, abs=0.03)


def test_oracle_beats_single_signals_and_random(tiny_dir):
    card = json.loads((tiny_dir / "dataset_card.json").read_text())
    oracle = card["oracle_dev"]
    for metric in ("auc", "mrr", "ndcg5", "ndcg10"):
        for other in ("popularity", "popularity_seen_only", "topic", "community", "random"):
            assert oracle["utility"][metric] > oracle[other][metric], (metric, other)
        # Knowing popularity of cold news is worth something, so the reachable ceiling is below the full oracle.
        assert oracle["utility_seen_popularity"][metric] < oracle["utility"][metric]
    assert oracle["random"]["auc"] == pytest.approx(0.5, abs=0.03)
    assert set(card["modality_weights"]) == set(vocab.CATEGORIES)
    for cat, w in card["modality_weights"].items():
        # Sharpened rows: the seed paper's ordering of the modalities and the row's L2 norm are kept.
        paper = np.array(synth.PROFILES[synth.CATEGORY_PROFILE[cat]])
        planted = np.array([w["id"], w["llm"], w["gnn"]])
        assert np.linalg.norm(planted) == pytest.approx(np.linalg.norm(paper), abs=1e-5)
        assert (np.argsort(-planted, kind="stable") == np.argsort(-paper, kind="stable")).all()


def test_logistic_regression_on_true_signals_nears_the_oracle(tiny_world):
    """The planted signals are recoverable: a model given the components (per weight profile) learns the ceiling."""
    from sklearn.linear_model import LogisticRegression

    from newsbench.metrics import impression_metrics

    w = tiny_world
    profiles = list(synth.PROFILES)
    prof = np.array([profiles.index(synth.CATEGORY_PROFILE[c]) for c in vocab.CATEGORIES])[w.category]

    def features(split: synth.Split) -> np.ndarray:
        row = np.repeat(np.arange(len(split.user)), np.diff(split.cand_ptr))
        comp = w.components(split.user[row], split.cand)
        x = np.zeros((len(comp), 3 * len(profiles)))
        for k in range(3):
            x[np.arange(len(comp)), 3 * prof[split.cand] + k] = comp[:, k]
        return x

    lr = LogisticRegression(C=10.0, max_iter=500).fit(features(w.train), w.train.label)
    fitted = impression_metrics(lr.decision_function(features(w.dev)), w.dev.label, w.dev.cand_ptr)
    oracle = synth.make_card(w)["oracle_dev"]
    assert np.nanmean(fitted["auc"]) >= oracle["utility"]["auc"] - 0.02
    assert np.nanmean(fitted["auc"]) > oracle["topic"]["auc"] + 0.05


def test_text_and_entities_carry_topic_and_community(tiny_world):
    w = tiny_world
    topics = vocab.subcategory_topics()
    own = other = 0
    for i, title in enumerate(w.titles[:300]):
        words = {t.lower() for t in title.split()}
        own += len(words & set(topics[w.topic[i]][2]))
        other += len(words & set(topics[(w.topic[i] + 1) % len(topics)][2]))
    assert own > 5 * other
    per = synth.SPECS["tiny"].entities_per_community
    mentions = np.concatenate([e // per == w.community[i] for i, e in enumerate(w.news_entities)])
    assert mentions.mean() > 0.8  # most entities come from the news item's community pool


def test_refuses_non_empty_out_and_bad_scale(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(InputError, match="not empty"):
        synth.generate("tiny", 0, tmp_path / "full")
    assert (tmp_path / "full" / "x").read_text() == "keep me"
    with pytest.raises(InputError, match="unknown scale"):
        synth.generate("huge", 0, tmp_path / "new")
    assert not (tmp_path / "new").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_default_path_generates_once_and_tolerates_a_race(tmp_path, monkeypatch):
    first = synth.default_path(tmp_path, scale="tiny", seed=0)
    assert first.name == f"tiny-s0-v{synth.GENERATOR_VERSION}" and (first / "dataset_card.json").is_file()
    stamp = (first / "dataset_card.json").stat().st_mtime_ns
    assert synth.default_path(tmp_path, scale="tiny", seed=0) == first
    assert (first / "dataset_card.json").stat().st_mtime_ns == stamp

    # Another process finishes first, between our check and our rename: ours is discarded, theirs is used.
    build = synth._build_tmp

    def racing(scale, seed, out, progress, cold_share):
        ours = build(scale, seed, out, progress, cold_share)
        os.rename(build(scale, seed, out, progress, cold_share), out)  # theirs lands first
        return ours

    monkeypatch.setattr(synth, "_build_tmp", racing)
    second = synth.default_path(tmp_path, scale="tiny", seed=1)
    assert (second / "dataset_card.json").is_file()
    assert not [p for p in second.parent.iterdir() if p.name.startswith(".tmp-")]


def test_default_path_uses_cache_env(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSBENCH_CACHE", str(tmp_path / "c"))
    p = synth.default_path(scale="tiny", seed=0)
    assert p.parent == tmp_path / "c" / "synth"


def test_cli_synth(tmp_path):
    from typer.testing import CliRunner

    from newsbench.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["data", "synth", "--scale", "tiny", "--seed", "2", "--out", str(tmp_path / "s"),
                              "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "oracle dev AUC" in res.output and (tmp_path / "s" / "dev" / "behaviors.tsv").is_file()
    bad = runner.invoke(app, ["data", "synth", "--scale", "huge", "--out", str(tmp_path / "t")])
    assert bad.exit_code == 2 and not (tmp_path / "t").exists()
    assert "Example" in runner.invoke(app, ["data", "synth", "--help"]).output


# ------------------------------------------------------------------------------------------------ calibration

# Tolerances: quantiles p10..p90 within 15% (or 1 unit), means within 10%, shares within 0.01 absolute,
# concentration shares within 0.1. p99 and max are left out: in a 5,000-row sample they are a handful of rows.
QUANTILE_KEYS = ("p10", "p25", "p50", "p75", "p90")
CALIBRATED = ("history_length", "impression_size", "clicks_per_impression", "title_words", "abstract_words",
              "title_entities", "abstract_entities")


@pytest.fixture(scope="module")
def demo_marginals(tmp_path_factory) -> dict:
    out = synth.generate("demo", 0, tmp_path_factory.mktemp("demo") / "demo")
    return synth.marginals(out)


@pytest.mark.slow
def test_demo_marginals_match_real_mind(demo_marginals, real_mind):
    real = json.loads((real_mind / "small-sample" / "stats.json").read_text())
    gen = demo_marginals
    for key in CALIBRATED:
        for q in QUANTILE_KEYS:
            assert abs(gen[key][q] - real[key][q]) <= max(1.0, 0.15 * real[key][q]), (key, q)
        assert gen[key]["mean"] == pytest.approx(real[key]["mean"], rel=0.10), key
    assert gen["click_through_rate"] == pytest.approx(real["click_through_rate"], rel=0.10)
    for key in ("empty_history_fraction", "empty_abstract_fraction"):
        assert gen[key] == pytest.approx(real[key], abs=0.01), key
    for cat, share in real["category_share"].items():
        assert gen["category_share"].get(cat, 0.0) == pytest.approx(share, abs=0.01), cat
    for key in ("clicked_news", "history_news"):
        for share in ("top1pct_share", "top10pct_share"):
            assert gen[key][share] == pytest.approx(real[key][share], abs=0.1), (key, share)


def test_marginals_keys_match_stats_json(tiny_dir, real_mind):
    real = json.loads((real_mind / "small-sample" / "stats.json").read_text())
    gen = synth.marginals(tiny_dir)
    assert set(gen) == set(real)
    for key, value in real.items():
        if isinstance(value, dict) and key != "category_share":
            assert set(gen[key]) == set(value), key
