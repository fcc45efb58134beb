"""The card's reference scorers: keys, the estimators against direct transcriptions, the value of adaptivity."""

from __future__ import annotations

import json

import numpy as np
import pytest

from newsbench.data import synth, synth_reference as ref
from newsbench.metrics import impression_metrics

NAMES = ("oracle", "oracle_global", "learnable_ceiling", "learnable_ceiling_global", "ceiling_topic",
         "ceiling_community", "ceiling_popularity", "text_centroid", "graph_centroid", "random")
METRICS = ("auc", "mrr", "ndcg@5", "ndcg@10")


@pytest.fixture(scope="module")
def card(tiny_dir) -> dict:
    return json.loads((tiny_dir / "dataset_card.json").read_text())


def test_card_has_every_reference_entry(card):
    assert card["generator_version"] == 2
    rd = card["reference_dev"]
    assert set(rd) == set(NAMES)
    for name, entry in rd.items():
        assert entry["kind"] in ("ceiling", "floor", "reference") and entry["label"]
        for part in ("overall", "cold", "warm"):
            assert set(entry[part]) == set(METRICS)
            assert all(0.0 <= entry[part][k] <= 1.0 for k in METRICS), (name, part)
    for name in ("oracle", "learnable_ceiling"):
        v = card["value_of_adaptivity"][name]
        assert set(v) == {"auc", "se", "n"} and v["n"] > 100 and v["se"] > 0
        att = card["reference_attribution"][name]
        assert set(att["category"]) == set(synth.MODALITY_WEIGHTS)
        for part in ("cold", "warm"):
            assert set(att[part]) == {"id", "llm", "gnn"}
    assert "utility" in card["oracle_dev"] and card["reference_notes"]


def test_reference_order_ceilings_floors(card):
    rd = card["reference_dev"]
    auc = {n: rd[n]["overall"]["auc"] for n in NAMES}
    assert auc["oracle"] > auc["learnable_ceiling"] > auc["text_centroid"] > auc["random"] == 0.5
    # Cold news have no known popularity (all get the mean of a shown item; only the category weight still
    # separates them), so popularity ranks warm candidates far better than cold ones.
    pop = rd["ceiling_popularity"]
    assert pop["cold"]["auc"] < 0.56 and pop["warm"]["auc"] > pop["cold"]["auc"] + 0.1
    for n in ("ceiling_topic", "ceiling_community", "text_centroid"):
        assert rd[n]["cold"]["auc"] > 0.53, n
    # The oracle here is the card's historical "utility" row.
    assert auc["oracle"] == pytest.approx(card["oracle_dev"]["utility"]["auc"], abs=1e-6)


def test_value_of_adaptivity_is_positive(card):
    """Per-category weights beat the best fitted global row, for the oracle and the learnable ceiling."""
    for name in ("oracle", "learnable_ceiling"):
        v = card["value_of_adaptivity"][name]
        assert v["auc"] > 2 * v["se"], (name, v)


def test_value_of_adaptivity_is_the_paired_difference(card, tiny_dir):
    rd = card["reference_dev"]
    v = card["value_of_adaptivity"]["oracle"]
    # The mean paired difference over common impressions is close to the difference of the two means (equal when
    # both are defined on the same impressions, which holds for overall AUC).
    assert v["auc"] == pytest.approx(rd["oracle"]["overall"]["auc"] - rd["oracle_global"]["overall"]["auc"],
                                     abs=2e-6)


def test_random_expected_matches_monte_carlo():
    rng = np.random.default_rng(0)
    sizes = rng.integers(2, 30, size=300)
    ptr = np.r_[0, np.cumsum(sizes)]
    labels = (rng.random(ptr[-1]) < 0.15).astype(np.int64)
    labels[ptr[:-1]] = 1                                 # every impression has a click
    exact = ref.random_expected(labels, ptr)
    draws = [impression_metrics(rng.random(ptr[-1]), labels, ptr) for _ in range(400)]
    for k in ("auc", "mrr", "ndcg5", "ndcg10"):
        mc = np.nanmean([np.nanmean(d[k]) for d in draws])
        assert np.nanmean(exact[k]) == pytest.approx(mc, abs=0.004), k


def test_history_preferences_is_the_formula():
    hist_ptr = np.array([0, 3, 3, 5])
    hist = np.array([0, 1, 2, 3, 4])
    key = np.array([0, 0, 1, 2, 2])                      # news -> topic
    weight = np.array([1.0, 1.0, 1.0, 3.0, 1.0])          # news 3's category weighs this signal 3x
    est = ref.history_preferences(hist_ptr, hist, key, 3, weight, pseudo=2.0)
    wt = weight / weight.mean()                          # each click counts its weight over the mean
    counts = np.array([[2 * wt[0], wt[2], 0], [0, 0, 0], [0, 0, wt[3] + wt[4]]])
    base = (counts.sum(axis=0) + 1) / (counts.sum() + 3)
    for u in range(3):
        h = counts[u].sum()
        for t in range(3):
            want = np.log((counts[u, t] + 2.0 * base[t]) / ((h + 2.0) * base[t]))
            assert est[u, t] == pytest.approx(want)
    assert np.all(est[1] == 0)                           # empty history: no preference


def test_choice_fit_recovers_planted_coefficients():
    """Clicks drawn as Gumbel top-1 of x @ coef (the generator's click model): the fit recovers coef."""
    rng = np.random.default_rng(1)
    sizes = rng.integers(5, 40, size=4000)
    ptr = np.r_[0, np.cumsum(sizes)]
    x = rng.standard_normal((ptr[-1], 3))
    coef = np.array([1.5, -0.5, 0.8])
    row = np.repeat(np.arange(len(sizes)), sizes)
    label = synth._gumbel_top(rng, row, x @ coef, np.ones(len(sizes), dtype=np.int64)).astype(np.int64)
    got = ref.fit_choice_weights(x, label, ptr)
    assert got == pytest.approx(coef, abs=0.08)


def test_attribution_of_learnable_ceiling_follows_planted_weights(card):
    """Across categories with enough impressions, the AUC a signal carries rises with its planted weight."""
    from scipy.stats import spearmanr

    att = card["reference_attribution"]["learnable_ceiling"]
    cats = [c for c, n in att["category_impressions"].items() if n >= 30]
    assert len(cats) >= 3
    for m in ("llm",):   # tiny has too few categories with impressions for id and gnn; demo is checked below
        rho = spearmanr([att["category"][c][m] for c in cats],
                        [card["modality_weights"][c][m] for c in cats]).statistic
        assert rho > 0, (m, rho)


@pytest.mark.slow
def test_demo_reference_targets():
    """Issue 13's checks at demo scale, seed 0 (benchmarks/synth_targets.py prints them for seeds 0-3).

    Attribution: the categories where a modality's planted weight is highest lose more AUC without it than the
    categories where it is lowest (among categories with >= 100 impressions). The issue's Spearman rho >= 0.8
    across categories holds for llm, not reliably for gnn: 11 of 15 categories have gnn weights within 0.088-0.139,
    whose order the per-category drop (+-0.02 at demo) cannot resolve; the report gives rho per seed."""
    world = synth.build_world("demo", 0)
    card = synth.make_card(world)
    att = card["reference_attribution"]["learnable_ceiling"]
    cats = [c for c, n in att["category_impressions"].items() if n >= 100]
    for m in ("id", "llm", "gnn"):
        w = np.array([card["modality_weights"][c][m] for c in cats])
        drop = np.array([att["category"][c][m] for c in cats])
        assert drop[w == w.max()].mean() > drop[w == w.min()].mean() + 0.02, m
    v = card["value_of_adaptivity"]["learnable_ceiling"]
    assert v["auc"] > 2 * v["se"]
    rd = card["reference_dev"]
    assert rd["oracle"]["overall"]["auc"] <= 0.95
    assert rd["learnable_ceiling"]["cold"]["auc"] > rd["text_centroid"]["cold"]["auc"] > 0.55
    for n in ("ceiling_topic", "ceiling_community"):
        assert rd[n]["cold"]["auc"] > rd["random"]["cold"]["auc"] + 0.03, n


def test_report_reads_reference_rows_and_adaptivity(card):
    from newsbench.report.card import adaptivity_note, oracle_metrics, oracle_rows

    rows = oracle_rows(card)
    rd = card["reference_dev"]
    assert [name for name, _ in rows] == [f"{rd[n]['kind']}: {rd[n]['label']}" for n in NAMES]   # ceilings first
    assert rows[0][1]["auc"] == card["reference_dev"]["oracle"]["overall"]["auc"]
    assert oracle_metrics(card)["auc"] == card["reference_dev"]["oracle"]["overall"]["auc"]
    note = adaptivity_note(card)
    assert f"{card['value_of_adaptivity']['learnable_ceiling']['auc']:+.4f}" in note
    # A version-1 card (no reference_dev) still gives its oracle rows.
    old = {"oracle_dev": card["oracle_dev"]}
    assert [n for n, _ in oracle_rows(old)][0] == "oracle: true utility" and adaptivity_note(old) is None


def test_reference_work_is_bounded(monkeypatch):
    """`small` generates in bounded time because the card scores at most MAX_DEV_IMPRESSIONS dev impressions and
    fits on at most FIT_MAX_CANDIDATES train candidates; shrunk here to check that both caps apply."""
    world = synth.build_world("tiny", 3)
    monkeypatch.setattr(ref, "MAX_DEV_IMPRESSIONS", 100)
    monkeypatch.setattr(ref, "FIT_MAX_CANDIDATES", 2000)
    card = synth.make_card(world)
    fit = card["reference_fit"]
    assert fit["dev_impressions"] == 100 and card["value_of_adaptivity"]["oracle"]["n"] <= 100
    assert 0 < world.train.cand_ptr[fit["fit_train_impressions"]] <= 2000
