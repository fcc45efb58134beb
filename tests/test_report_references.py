"""The report's data-derived baseline rows and its modality-attribution table, on fake but structurally real
records (no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats as sps

from newsbench import baselines, report, stats, store
from test_report import CATS, FP, N_IMP, RESAMPLES, _write_runs

FULL = ("id", "llm", "gnn")
SPEC = {(("id",), "none"): 0.0, (FULL, "concat"): 0.03, (FULL, "gate"): 0.0}
PLANTED = {"finance": [0.2, 0.3, 0.5], "sports": [0.6, 0.2, 0.2], "tech": [0.2, 0.6, 0.2]}
CARD = {"modality_weights": {c: dict(zip(FULL, w)) for c, w in PLANTED.items()},
        "reference_attribution": {"learnable_ceiling": {"category": {
            c: dict(zip(FULL, np.asarray(w) * 0.2)) for c, w in PLANTED.items()}}}}


def _id_impression_auc(results) -> tuple[np.ndarray, np.ndarray]:
    """The `id` group's per-impression AUC averaged over seeds, by impression id (what the tests pair)."""
    recs = [r for r in store.load_records(results) if r["label"] == "id"]
    runs = {r["config"]["seed"]: store.load_arrays(results, r["run_id"]) for r in recs}
    return stats.RunGroup("id", runs).impression_means("auc")


def _baseline(results, name, auc, ids, fp=FP):
    arrays = {"impression_id": ids, "auc": auc, "mrr": auc * 0.5, "ndcg5": auc * 0.5, "ndcg10": auc * 0.6,
              "auc_cold": auc, "auc_warm": auc}
    metrics = {"auc": float(np.nanmean(auc)), "mrr": float(np.nanmean(auc * 0.5)),
               "ndcg@5": float(np.nanmean(auc * 0.5)), "ndcg@10": float(np.nanmean(auc * 0.6))}
    rec = {"baseline_id": baselines.baseline_id(name, fp, {}, None), "schema": 1, "baseline": name,
           "label": baselines.LABELS[name], "params": {}, "features": {},
           "dataset": {"name": "x", "fingerprint": fp, "n_dev_impressions": N_IMP},
           "metrics": metrics, "metrics_by": {s: {**metrics, "n": N_IMP} for s in ("all", "cold", "warm")}}
    baselines.save_baseline(results, rec, arrays)
    return rec


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _write_runs(d, SPEC)
    ids, id_auc = _id_impression_auc(d)
    rng = np.random.default_rng(7)
    _baseline(d, "popularity", np.clip(id_auc + 0.04 + rng.normal(0, 0.02, len(ids)), 0, 1), ids)
    _baseline(d, "recent", np.clip(id_auc + rng.normal(0, 0.02, len(ids)), 0, 1), ids)
    _baseline(d, "text", id_auc, ids, fp="0" * 16)          # another dataset: never shown
    # attribution: each fusion run's drop per category leans on the planted weights (GNN with noise)
    for r in store.load_records(d):
        if len(r["config"]["modalities"]) < 2:
            continue
        rng = np.random.default_rng(r["config"]["seed"])
        cat = {c: {m: 0.1 * w + rng.normal(0, 0.005) for m, w in zip(FULL, PLANTED[c])} for c in CATS}
        r["attribution"] = {"modalities": list(FULL), "category": cat, "all": cat["finance"],
                            "cold": cat["sports"], "warm": cat["tech"],
                            "n": {"all": N_IMP, "cold": 50, "warm": 60, "category": {c: 40 for c in CATS}}}
        store.save_record(d, r, store.load_arrays(d, r["run_id"]))
    return d


def test_baseline_rows_are_tested_against_id_in_their_own_family(results):
    # cluster="none": impressions as independent units, so a plain paired sign-flip test is the reference
    rep = report.build_report(results, n_resamples=RESAMPLES, cluster="none")
    t = next(t for t in rep.tables if t.key == "ablation")
    recs = {r["configuration"]: r for r in t.records}
    assert "baseline: popularity" in recs and "baseline: recent popularity" in recs
    assert not any("text centroid" in k for k in recs)                    # other fingerprint
    # the same impression-level test as the models, computed here directly, Holm over the two baselines only
    ids, id_auc = _id_impression_auc(results)
    pvals, diffs = [], []
    for name in ("popularity", "recent"):
        bid = baselines.baseline_id(name, FP, {}, None)
        b = baselines.load_baseline_arrays(results, bid)
        order = np.argsort(b["impression_id"])
        a = b["auc"][order][np.searchsorted(b["impression_id"][order], ids)]
        keep = ~(np.isnan(a) | np.isnan(id_auc))
        pvals.append(stats.permutation_test(a[keep], id_auc[keep], RESAMPLES).pvalue)
        diffs.append(float((a[keep] - id_auc[keep]).mean()))
    holm = stats.holm(pvals)
    for name, d, p in zip(("baseline: popularity", "baseline: recent popularity"), diffs, holm):
        assert recs[name]["diff_impression"] == pytest.approx(d)
        assert recs[name]["p_impression_holm"] == pytest.approx(p)
        assert recs[name]["p_seed_holm"] is None
    assert recs["baseline: popularity"]["p_impression_holm"] < 0.05 < recs["baseline: recent popularity"][
        "p_impression_holm"]
    assert any("baseline: ..." in n and "family of their own" in n for n in t.notes)


def test_baselines_do_not_change_the_model_comparisons(results, tmp_path):
    # the models' Holm family is untouched by the reference rows: same p-values as with no baseline recorded
    import shutil

    shutil.copytree(results / "runs", tmp_path / "runs")
    without = {r["configuration"]: r for r in next(
        t for t in report.build_report(tmp_path, n_resamples=RESAMPLES).tables if t.key == "ablation").records}
    with_ = {r["configuration"]: r for r in next(
        t for t in report.build_report(results, n_resamples=RESAMPLES).tables if t.key == "ablation").records}
    for label, r in without.items():
        assert with_[label].get("p_impression_holm") == r.get("p_impression_holm")


def test_attribution_table_with_planted_weights_and_ceiling(results):
    rep = report.build_report(results, card=CARD, n_resamples=RESAMPLES)
    t = next(t for t in rep.tables if t.key == "attribution")
    assert t.header[3:6] == ["ΔID", "ΔLLM", "ΔGNN"] and "planted GNN" in t.header and "ceiling ΔGNN" in t.header
    rows = [r for r in t.records if r["configuration"] == "id+llm+gnn/concat"]
    assert [r["category"] for r in rows] == CATS + ["(cold cands)", "(warm cands)"]
    fin = rows[0]
    vals = []
    for s in (0, 1, 2):
        rng = np.random.default_rng(s)
        vals.append([0.1 * w + rng.normal(0, 0.005) for w in PLANTED["finance"]])
    assert fin["drop_gnn_mean"] == pytest.approx(np.mean([v[2] for v in vals]))
    assert fin["planted_gnn"] == pytest.approx(0.5) and fin["ceiling_gnn"] == pytest.approx(0.1)
    # Spearman across the 3 categories per modality, against scipy on the seed means
    summary = rep.data["attribution"]["id+llm+gnn/concat"]["spearman_vs_planted"]
    for j, m in enumerate(FULL):
        got = [r[f"drop_{m}_mean"] for r in rows[:3]]
        assert summary[m] == pytest.approx(sps.spearmanr(got, [PLANTED[c][j] for c in CATS]).statistic)
    ceiling = rep.data["attribution"]["learnable ceiling"]["spearman_vs_planted"]
    assert ceiling["gnn"] == pytest.approx(sps.spearmanr([0.5, 0.2, 0.2], [0.5, 0.2, 0.2]).statistic)
    assert any("ceiling, planted" in n for n in t.notes)
    # without a card: drops only
    plain = next(t for t in report.build_report(results, n_resamples=RESAMPLES).tables if t.key == "attribution")
    assert plain.header == ["Configuration", "Category", "n", "ΔID", "ΔLLM", "ΔGNN"]


def test_runs_without_attribution_have_no_attribution_table(tmp_path):
    _write_runs(tmp_path, SPEC)
    rep = report.build_report(tmp_path, n_resamples=RESAMPLES)
    assert "attribution" not in [t.key for t in rep.tables] and rep.data["attribution"] is None


def test_markdown_and_json_carry_the_new_rows(results):
    md = report.render_text(results, "markdown", card=CARD, n_resamples=RESAMPLES)
    assert "baseline: popularity" in md and "Modality attribution" in md
    data = json.loads(json.dumps(report.build_report(results, card=CARD, n_resamples=RESAMPLES).data))
    assert {b["baseline"] for b in data["baselines"]} == {"popularity", "recent"}
    assert "attribution" in data["tables"]
