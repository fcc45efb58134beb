"""newsbench.report on fake but structurally real run records (store.save_record), no training."""

from __future__ import annotations

import io
import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from newsbench import report, store
from newsbench.cli import app
from newsbench.config import RunConfig
from newsbench.errors import InputError

CATS = ["finance", "sports", "tech"]
FP = "f" * 16
N_IMP = 240
RESAMPLES = 999          # fewer than the default 10,000 to keep the suite fast; p >= 1/1000 is plenty here


def _record(cfg: RunConfig, fp: str, arrays: dict, rng) -> dict:
    metrics = {"auc": float(np.nanmean(arrays["auc"])), "mrr": float(np.nanmean(arrays["mrr"])),
               "ndcg@5": float(np.nanmean(arrays["ndcg5"])), "ndcg@10": float(np.nanmean(arrays["ndcg10"]))}
    k = len(cfg.modalities)
    rec = {
        "run_id": cfg.run_id(fp), "schema": 1, "config": cfg.to_dict(), "label": cfg.label, "group": cfg.group_key,
        "dataset": {"name": f"synth-{fp[:4]}", "fingerprint": fp, "n_train_impressions": 1000,
                    "n_dev_impressions": N_IMP, "n_news": 500},
        "metrics": metrics,
        "metrics_by": {"category": {c: {"auc": metrics["auc"] + rng.normal(0, 0.01), "mrr": 0.3, "ndcg@5": 0.3,
                                        "ndcg@10": 0.35, "n": 80} for c in CATS},
                       "cold": {"auc": float(np.nanmean(arrays["auc_cold"])), "n": N_IMP},
                       "warm": {"auc": float(np.nanmean(arrays["auc_warm"])), "n": N_IMP}},
        "params": {"fusion": {"none": 0, "concat": 525056, "gate": 2307, "attention": 66048}.get(cfg.fusion, 0),
                   "total": 1_000_000 + 1000 * k},
        "flops_per_news": 100_000 * k,
        "timings": {"epoch_seconds": [1.0], "seconds_per_epoch": 1.0 + rng.uniform(0, 0.1),
                    "samples_per_second": 1000.0, "eval_seconds": 0.5, "peak_rss_mb": 100.0,
                    "cuda_max_allocated_mb": None},
        "train_loss": [1.0],
        "features": {},
        "environment": {"newsbench": "0.1.0", "torch": "2.5", "numpy": np.__version__, "python": "3.11",
                        "platform": "linux", "device": "cpu"},
        "created": "2026-01-01T00:00:00Z",
    }
    if cfg.fusion in ("gate", "attention"):
        rec["weights"] = {"modalities": list(cfg.modalities), "categories": CATS}
    return rec


def _write_runs(results, spec, seeds=(0, 1, 2), fp=FP, seed_offsets=None, users=True):
    """spec: {(modalities, fusion): planted AUC shift}. seed_offsets: {(modalities, fusion): per-seed sd}.
    users: store each impression's user (3 impressions per user), as train.evaluate does; False: an older record."""
    base = np.random.default_rng(0).uniform(0.45, 0.75, N_IMP)     # impression difficulty, shared by all runs
    for gi, ((mods, fusion), shift) in enumerate(spec.items()):
        for s in seeds:
            rng = np.random.default_rng(1000 * gi + s)
            cfg = RunConfig(modalities=mods, fusion=fusion, seed=s)
            offset = rng.normal(0, (seed_offsets or {}).get((mods, fusion), 0.0))
            auc = np.clip(base + shift + offset + rng.normal(0, 0.03, N_IMP), 0, 1)
            auc[::40] = np.nan                                          # impressions with no click: undefined
            perm = rng.permutation(N_IMP)                               # array order need not be id order
            arrays = {"impression_id": np.arange(5000, 5000 + N_IMP)[perm], "auc": auc[perm],
                      "mrr": auc[perm] * 0.5, "ndcg5": auc[perm] * 0.55, "ndcg10": auc[perm] * 0.6,
                      "auc_cold": auc[perm] - 0.05, "auc_warm": auc[perm] + 0.02}
            if users:
                arrays["user"] = (np.arange(N_IMP) // 3)[perm]
            if fusion in ("gate", "attention"):
                k = len(cfg.modalities)
                w = rng.dirichlet(np.ones(k) * 5, size=len(CATS))
                if k == 3:   # lean towards the planted weights so the rank correlation has something to find
                    w = 0.5 * w + 0.5 * np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2], [0.2, 0.6, 0.2]])
                arrays.update({"weights_by_category": w, "weights_count": np.array([80, 90, 70]),
                               "weights_cold_warm": rng.dirichlet(np.ones(k), size=2)})
            store.save_record(results, _record(cfg, fp, arrays, rng), arrays)


FULL = ("id", "llm", "gnn")
SPEC = {(("id",), "none"): 0.0, (("id", "llm"), "concat"): 0.02,
        (FULL, "concat"): 0.0, (FULL, "gate"): 0.0, (FULL, "attention"): 0.06}
CARD = {"generator": "test", "category_weights": {
    "finance": {"popularity": 0.2, "topic": 0.3, "community": 0.5},
    "sports": {"popularity": 0.6, "topic": 0.2, "community": 0.2},
    "tech": {"popularity": 0.2, "topic": 0.6, "community": 0.2}},
    "oracle": {"auc": 0.93, "mrr": 0.6, "ndcg@5": 0.62, "ndcg@10": 0.66}}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _write_runs(d, SPEC)
    return d


@pytest.fixture(scope="module")
def built(results):
    return report.build_report(results, card=CARD, n_resamples=RESAMPLES)


def _table(rep, key):
    return next(t for t in rep.tables if t.key == key)


def test_fusion_markers_follow_planted_difference(built):
    t = _table(built, "fusion")
    methods = [r[0].text for r in t.rows]
    assert methods == ["(a) concat", "(b) gate", "(c) attention"]
    auc = {r[0].text.split()[1]: r[1] for r in t.rows}
    # attention is planted +0.06 above concat and gate: it beats both, in bold; concat and gate are equal: no letters
    assert auc["attention"].sup == "ab" and auc["attention"].bold
    assert auc["concat"].sup == "" and auc["gate"].sup == ""
    assert all(r[1].mark == "" for r in t.rows)      # both levels agree on every pair here
    assert any("Holm" in n for n in t.notes) and any("alpha = 0.05" in n for n in t.notes)
    assert any("n = 234 dev impressions" in n and "n = 3 seeds" in n for n in t.notes)
    assert t.rows[0][5].text == "525,056"              # fusion params of concat


def test_ablation_relative_change_and_pvalues(built):
    t = _table(built, "ablation")
    recs = {r["configuration"]: r for r in t.records}
    assert recs["id"]["baseline"]
    for label, shift in (("id+llm+gnn/attention", 0.06), ("id+llm/concat", 0.02)):
        r = recs[label]
        assert r["auc_rel_change_pct"] == pytest.approx(shift / recs["id"]["auc_mean"] * 100, rel=0.3)
        assert r["p_impression_holm"] < 0.05 and r["ci_low"] > 0
        assert r["p_impression_holm"] >= r["p_impression"]
    assert recs["id+llm+gnn/gate"]["p_impression_holm"] > 0.05
    assert recs["oracle (dataset card)"]["auc_mean"] == pytest.approx(0.93)


def test_weights_with_planted_card(built):
    t = _table(built, "weights")
    assert "planted GNN" in t.header
    cats = {(r["configuration"], r["category"]) for r in t.records}
    assert ("id+llm+gnn/attention", "finance") in cats and ("id+llm+gnn/gate", "(cold news)") in cats
    fin = next(r for r in t.records if r["category"] == "finance" and r["configuration"] == "id+llm+gnn/gate")
    assert fin["planted_gnn"] == pytest.approx(0.5)
    assert sum(fin[f"{m}_mean"] for m in ("id", "llm", "gnn")) == pytest.approx(1.0)
    assert any("Spearman" in n for n in t.notes)
    rho = built.bars[0]["spearman"]["all"]
    assert rho > 0.5                                       # learned weights were built to lean towards planted


def test_breakdown_table(built):
    t = _table(built, "breakdown")
    assert [r[0].text for r in t.rows] == ["cold", "warm", *CATS]
    assert len(t.header) == 2 + len(SPEC)
    cold = t.records[0]
    assert cold["id+llm+gnn/attention_mean"] > cold["id_mean"]        # planted +0.06 shows in the cold subset


def test_seed_level_disagreement_marked(tmp_path):
    # A per-seed offset that is large next to the planted difference: averaging over seeds first makes the
    # impression level see a consistent shift (pseudo-replication), the 3-seed t-test does not.
    spec = {(FULL, "concat"): 0.0, (FULL, "attention"): 0.01}
    _write_runs(tmp_path, spec, seed_offsets={(FULL, "attention"): 0.05, (FULL, "concat"): 0.05})
    rep = report.build_report(tmp_path, n_resamples=RESAMPLES)
    t = _table(rep, "fusion")
    entries = [e for e in rep.data["comparisons"] if e["table"] == "fusion" and e["metric"] == "auc"]
    disagree = entries[0]["impression_significant"] != bool(entries[0]["seed_significant"])
    marks = [r[1].mark for r in t.rows]
    assert (DAG := report.DAGGER) in marks if disagree else DAG not in marks
    assert disagree                                        # the construction above does make them disagree


def test_one_seed_prints_na(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0, (FULL, "attention"): 0.05}, seeds=(0,))
    text = report.render_text(tmp_path, "markdown", n_resamples=RESAMPLES)
    assert "n/a: 1 seed" in text
    rep = report.build_report(tmp_path, n_resamples=RESAMPLES)
    e = rep.data["comparisons"][0]
    assert e["seed_p"] is None and e["impression_p_holm"] < 0.05


def test_fingerprint_mismatch_refused(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0}, seeds=(0,), fp="a" * 16)
    _write_runs(tmp_path, {(FULL, "attention"): 0.05}, seeds=(0,), fp="b" * 16)
    with pytest.raises(InputError, match="fingerprints differ"):
        report.build_report(tmp_path)
    # filtering by fingerprint prefix or dataset name picks one dataset
    rep = report.build_report(tmp_path, dataset="aaaa", n_resamples=RESAMPLES)
    assert [r["configuration"] for r in _table(rep, "ablation").records] == ["id"]
    rep = report.build_report(tmp_path, dataset="synth-bbbb", n_resamples=RESAMPLES)
    assert [r["configuration"] for r in _table(rep, "ablation").records] == ["id+llm+gnn/attention"]


def test_empty_folder_refused(tmp_path):
    with pytest.raises(InputError, match="no run records in"):
        report.build_report(tmp_path)


def test_markdown(results):
    text = report.render_text(results, "markdown", n_resamples=RESAMPLES, card=CARD)
    assert "## Protocol" in text and "### Table 1. Fusion methods compared" in text
    assert "<sup>ab</sup>" in text and "**" in text
    assert "fingerprint " + FP in text
    assert re.search(r"\| *Method *\|", text)


def _balanced(tex: str):
    stack = []
    for kind, env in re.findall(r"\\(begin|end)\{(\w+)\}", tex):
        if kind == "begin":
            stack.append(env)
        else:
            assert stack and stack.pop() == env, env
    assert not stack
    depth = 0
    for ch in re.sub(r"\\[{}]", "", tex):
        depth += ch == "{"
        depth -= ch == "}"
        assert depth >= 0
    assert depth == 0


def test_latex_booktabs(results):
    tex = report.render_text(results, "latex", n_resamples=RESAMPLES, card=CARD)
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\textsuperscript{ab}", r"\textbf{", r"$\pm$"):
        assert rule in tex
    _balanced(tex)
    # every tabular row has as many cells as its column spec
    for spec, body in re.findall(r"\\begin\{tabular\}\{(\w+)\}(.*?)\\end\{tabular\}", tex, re.S):
        for line in body.splitlines():
            if line.endswith(r"\\"):
                assert len(re.split(r"(?<!\\)&", line)) == len(spec)


def test_out_dir_writes_every_format(results, tmp_path):
    out = tmp_path / "out"
    data = report.print_and_write(results, out_dir=out, console=Console(file=io.StringIO(), width=200),
                                  card=CARD, n_resamples=RESAMPLES)
    for name in ("report.md", "report.tex", "report.json", "fusion.csv", "ablation.csv", "weights.csv",
                 "breakdown.csv"):
        assert (out / name).is_file(), name
    fusion = pd.read_csv(out / "fusion.csv")
    assert list(fusion["method"]) == ["concat", "gate", "attention"]
    assert fusion["auc_mean"].between(0, 1).all()
    ablation = pd.read_csv(out / "ablation.csv")
    assert len(ablation) == len(SPEC) + 2                  # + the thesis row, the oracle row
    saved = json.loads((out / "report.json").read_text())
    assert saved["protocol"]["fingerprint"] == FP
    # every number of every table is in the JSON, and every comparison with both levels
    assert saved["tables"]["fusion"]["rows"][2]["auc_mean"] == pytest.approx(fusion["auc_mean"][2])
    n_pairs_fusion = 3 * 4                                  # 3 pairs x 4 metrics
    assert sum(e["table"] == "fusion" for e in saved["comparisons"]) == n_pairs_fusion
    e = saved["comparisons"][0]
    for key in ("diff", "ci_low", "ci_high", "dz", "n", "mean_a", "mean_b"):
        assert key in e["impression"] and key in e["seed"]
    assert set(e["impression"]["tests"]) == {"ttest", "wilcoxon", "permutation"}
    assert data["protocol"]["alpha"] == 0.05
    assert saved["card"]["oracle"]["auc"] == pytest.approx(0.93)


def test_rich_output_has_bars_when_asked(results):
    buf = io.StringIO()
    report.print_and_write(results, console=Console(file=buf, width=200), card=CARD, n_resamples=RESAMPLES)
    text = buf.getvalue()
    assert "Table 1. Fusion methods compared" in text and "planted" in text
    assert "█" not in text                                 # bars only when asked: --table weights or --plots
    for kw in ({"bars": True}, {"table": "weights"}):
        buf = io.StringIO()
        report.print_and_write(results, console=Console(file=buf, width=200), card=CARD, n_resamples=RESAMPLES,
                               **kw)
        assert "█" in buf.getvalue()


@pytest.mark.parametrize("test", ["ttest", "wilcoxon", "permutation"])
def test_choice_of_test(results, test):
    rep = report.build_report(results, test=test, n_resamples=RESAMPLES)
    auc = {r[0].text.split()[1]: r[1] for r in _table(rep, "fusion").rows}
    assert auc["attention"].sup == "ab" and auc["concat"].sup == ""
    assert all(e["impression_test"] == test for e in rep.data["comparisons"])


def test_cli(results, tmp_path):
    runner = CliRunner()
    card = tmp_path / "dataset_card.json"
    card.write_text(json.dumps(CARD))
    res = runner.invoke(app, ["report", "--results", str(results), "--csv", "--resamples", "199",
                              "--card", str(card), "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "o" / "report.json").is_file()
    # stdout is one CSV (the ablation table, as in --out), the pointer to the others goes to stderr
    assert pd.read_csv(io.StringIO(res.stdout)).equals(pd.read_csv(tmp_path / "o" / "ablation.csv"))
    assert "--table fusion|weights|breakdown" in res.stderr
    res = runner.invoke(app, ["report", "--results", str(results), "--latex", "--resamples", "199",
                              "--test", "ttest", "--alpha", "0.01"])
    assert res.exit_code == 0 and r"\toprule" in res.output and "alpha = 0.01" in res.output
    res = runner.invoke(app, ["report", "--help"])
    assert res.exit_code == 0 and "Example" in res.output


def test_cli_errors_exit_2(tmp_path):
    from newsbench.cli import main

    for argv in (["report", "--results", str(tmp_path)],
                 ["report", "--results", str(tmp_path), "--markdown", "--latex"]):
        import sys

        old = sys.argv
        sys.argv = ["newsbench", *argv]
        try:
            with pytest.raises(SystemExit) as exc:
                main()
        finally:
            sys.argv = old
        assert exc.value.code == 2


def test_generated_dataset_card(tiny_dir):
    # The card the generator really writes: per-category modality weights and oracle rows are found.
    card = report.read_card(tiny_dir / "dataset_card.json")
    planted = report.planted_weights(card)
    assert "finance" in planted and set(planted["finance"]) == {"id", "llm", "gnn"}
    assert sum(planted["finance"].values()) == pytest.approx(1.0)
    names = [name for name, _ in report.oracle_rows(card)]
    assert names[0] == "ceiling: oracle (true utility)" and "floor: random ranking" in names   # card v2 rows
    assert 0.5 < report.oracle_metrics(card)["auc"] <= 1.0


def test_card_parsing_variants():
    assert report.planted_weights({"categories": {"x": {"weights": [0.5, 0.25, 0.25]}}}) == {
        "x": {"id": 0.5, "llm": 0.25, "gnn": 0.25}}
    got = report.planted_weights({"signal_weights": [{"category": "y", "popularity": 2, "text": 1, "graph": 1}]})
    assert got["y"]["id"] == pytest.approx(0.5)
    assert report.planted_weights({"nothing": 1}) == {}
    assert report.oracle_metrics({"oracle": {"dev": {"AUC": 0.9, "nDCG@10": 0.7}}}) == {"auc": 0.9, "ndcg@10": 0.7}
    assert math.isnan(report.builder._spearman([1, 1, 1], [1, 2, 3]))


def test_bad_array_file_refused(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0}, seeds=(0,))
    npz = next((tmp_path / "runs").glob("*.npz"))
    npz.write_bytes(npz.read_bytes()[:50])                # truncated
    with pytest.raises(InputError, match="unreadable per-impression array file"):
        report.build_report(tmp_path)
    np.savez(npz.with_suffix(""), impression_id=np.arange(3))   # np.savez appends .npz
    with pytest.raises(InputError, match="lacks auc"):
        report.build_report(tmp_path)


def _golden_results(results):
    """Two configurations x 2 seeds x 8 impressions with hand-set values: no random numbers in the records."""
    ids = np.arange(1, 9)
    base = np.array([0.50, 0.55, 0.60, 0.65, 0.70, 0.75, 0.80, np.nan])
    for mods, fusion, shift in ((("id",), "none", 0.0), (FULL, "attention", 0.05)):
        for s in (0, 1):
            cfg = RunConfig(modalities=mods, fusion=fusion, seed=s)
            gain = shift * np.array([1.0, 0.6, 1.2, 0.4, 0.8, 1.0, -0.2, 0.0])
            auc = base + gain + (0.01 if s else -0.01) * np.array([1, -1, 1, -1, 1, -1, 1, 1]) + 0.002 * s
            auc += 0.003 * s * (shift > 0)              # the seeds move the two configurations differently
            arrays = {"impression_id": ids, "auc": auc, "mrr": auc / 2, "ndcg5": auc / 2, "ndcg10": auc / 2,
                      "auc_cold": auc, "auc_warm": auc, "user": np.array([1, 1, 2, 3, 3, 4, 5, 5])}
            rec = _record(cfg, "0123456789abcdef", arrays, np.random.default_rng(0))
            rec["environment"]["numpy"] = "2.x"
            rec["timings"]["seconds_per_epoch"] = 1.5 + s
            rec.pop("metrics_by")
            store.save_record(results, rec, arrays)


GOLDEN_MD = None   # set at the end of this file


def test_markdown_golden(tmp_path):
    # The markdown of a fixed set of records is pinned: format changes show up as a diff here (with 7 defined
    # impressions of 5 users the sign-flip test is exact, so no resampling enters the p-values).
    _golden_results(tmp_path)
    assert report.render_text(tmp_path, "markdown") == GOLDEN_MD


# The markdown of _golden_results. Regenerate after an intended format change with
# `print(report.render_text(folder, "markdown"), end="")` on a folder written by _golden_results.
GOLDEN_MD = '''## Protocol

Dataset synth-0123 (fingerprint 0123456789abcdef): 240 dev impressions, 1,000 train impressions, 500 news. 2 configurations, 4 runs, seeds 0, 1 (2 per configuration); epochs 3; device cpu; newsbench 0.1.0, torch 2.5, numpy 2.x. Metrics follow MIND's official per-impression definitions, averaged over dev impressions. Significance at two levels: impression level, paired randomisation (sign-flip) test on each user's summed per-impression differences (users, not impressions, are the independent units) (10,000 seeded sign flips, exact enumeration when 2^users is fewer), on per-impression metrics averaged over seeds and paired over common dev impressions, with a bootstrap 95% CI of the mean difference (resampling users) and Cohen's dz; seed level, paired t-test on per-seed means. Holm correction within each table's family of comparisons; alpha = 0.05. Equivalence: TOST within ±0.005 in metric units (--margin). Power: the smallest difference the seed-level t-test detects with 80% probability, and the seeds the observed one would need. Beyond-accuracy metrics: none, these runs predate them (rerun into a new results folder, or `newsbench train --force` per run).

### Table 1. Fusion methods compared

| Method        | AUC                 | MRR                 | nDCG@5              | nDCG@10             | Fusion params   | Total params   | FLOPs/news   | s/epoch     | Seeds   |
|:--------------|:--------------------|:--------------------|:--------------------|:--------------------|:----------------|:---------------|:-------------|:------------|:--------|
| (a) attention | **0.6868 ± 0.0056** | **0.3434 ± 0.0028** | **0.3434 ± 0.0028** | **0.3434 ± 0.0028** | 66,048          | 1,003,000      | 300,000      | 2.00 ± 0.71 | 2       |

- Fusion of id+llm+gnn; mean ± sample std over seeds; best mean in bold.

### Table 2. Ablation against `id` alone (AUC)

| Configuration        | AUC                 | MRR                 | nDCG@5              | nDCG@10             | ΔAUC vs base (%)   | 95% CI ΔAUC (impr.)   | p impr. (Holm)   | p seed (Holm)   | Verdict (±0.005)   | Seeds   |
|:---------------------|:--------------------|:--------------------|:--------------------|:--------------------|:-------------------|:----------------------|:-----------------|:----------------|:-------------------|:--------|
| id                   | 0.6510 ± 0.0034     | 0.3255 ± 0.0017     | 0.3255 ± 0.0017     | 0.3255 ± 0.0017     | baseline           | —                     | —                | —               | —                  | 2       |
| id+llm+gnn/attention | **0.6868 ± 0.0056** | **0.3434 ± 0.0028** | **0.3434 ± 0.0028** | **0.3434 ± 0.0028** | +5.50              | [+0.0165, +0.0515]    | 0.1250           | **0.0267**      | undecided          | 2       |

- Baseline: `id` alone. Δ: relative change of the mean AUC over seeds; CI: bootstrap 95% interval of the mean per-impression difference (configuration − baseline), resampling users; p-values in bold are below alpha after correction.
- Impression level: paired randomisation (sign-flip) test on each user's summed per-impression differences (users, not impressions, are the independent units); metrics averaged over each configuration's seeds, paired over common dev impressions. Seed level: paired t-test on per-seed means, paired by seed. Holm correction over the 1 comparison with the baseline on AUC; alpha = 0.05.
- n = 7 dev impressions from 5 users (impression level), n = 2 seeds (seed level).
- Verdict (impression level, margin ±0.005 AUC): different = the test above is significant; equivalent = TOST (two one-sided t-tests on user sums, Holm) puts the difference within the margin; undecided = neither (not significant is not equal).
- Seed-level power (paired t-test, 2 seeds, alpha 0.05 unadjusted, 80% power): smallest detectable AUC difference 0.0245; the observed difference would need 2 seeds.
'''


# ---- user clustering, equivalence, power ----------------------------------------------------------------------

def _entries(rep, table, metric="auc"):
    return [e for e in rep.data["comparisons"] if e["table"] == table and e["metric"] == metric]


def test_impression_level_is_clustered_by_user_by_default(built, results):
    from newsbench import stats

    assert built.data["protocol"]["clustered_by"] == "user" and built.data["protocol"]["users_source"] == "run records"
    e = _entries(built, "ablation")[0]
    assert e["impression"]["clusters"] == N_IMP // 3 and e["clustered_by"] == "user"
    # The same p-value as the test run by hand on each user's summed per-impression differences.
    groups, _ = report.load_groups(results)
    a = next(g for g in groups if g.label == e["a"])
    b = next(g for g in groups if g.label == e["b"])
    ids_a, va = a.runs.impression_means("auc")
    ids_b, vb = b.runs.impression_means("auc")
    assert np.array_equal(ids_a, ids_b)
    keep = ~(np.isnan(va) | np.isnan(vb))
    sums = pd.Series(va[keep] - vb[keep]).groupby((ids_a[keep] - 5000) // 3).sum().to_numpy()
    ref = stats.permutation_tests(sums, RESAMPLES, 0)[0].pvalue
    assert e["impression_p"] == pytest.approx(ref, rel=1e-12)
    t = _table(built, "ablation")
    assert any("users, not impressions, are the independent units" in n for n in t.notes)
    assert any("from 80 users" in n for n in t.notes) and "resampling users" in t.notes[0]


def test_cluster_none_treats_impressions_as_independent(results):
    rep = report.build_report(results, n_resamples=RESAMPLES, cluster="none")
    e = _entries(rep, "ablation")[0]
    assert e["impression"]["clusters"] is None and rep.data["protocol"]["clustered_by"] is None
    assert e["impression"]["tests"]["permutation"]["n"] == e["impression"]["n"]
    assert any("each impression independent (--cluster none)" in n for n in _table(rep, "ablation").notes)
    with pytest.raises(InputError, match="--cluster"):
        report.build_report(results, cluster="session")


def test_old_records_without_users_say_they_are_not_clustered(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NEWSBENCH_CACHE", str(tmp_path / "cache"))    # a cache that has no such dataset
    _write_runs(tmp_path / "r", {(("id",), "none"): 0.0, (FULL, "attention"): 0.03}, users=False)
    rep = report.build_report(tmp_path / "r", n_resamples=RESAMPLES)
    assert "warning: impression-level tests are not clustered by user" in capsys.readouterr().err
    assert rep.data["protocol"]["clustered_by"] is None
    assert "not clustered by user" in rep.protocol
    assert _entries(rep, "ablation")[0]["impression"]["clusters"] is None


def test_old_records_find_users_in_the_dataset_cache(tiny_dir, tmp_path, monkeypatch):
    from newsbench.data.load import load_dataset

    monkeypatch.setenv("NEWSBENCH_CACHE", str(tmp_path / "cache"))
    ds = load_dataset(tiny_dir, progress=False)                       # parsed once: now in the cache
    ids = ds.dev.impression_id
    rng = np.random.default_rng(0)
    for s in (0, 1):
        for mods, fusion, shift in ((("id",), "none", 0.0), (FULL, "attention", 0.02)):
            cfg = RunConfig(modalities=mods, fusion=fusion, seed=s)
            auc = np.clip(rng.uniform(0.4, 0.8, len(ids)) + shift, 0, 1)
            arrays = {"impression_id": ids, "auc": auc, "mrr": auc, "ndcg5": auc, "ndcg10": auc,
                      "auc_cold": auc, "auc_warm": auc}                  # no "user": an older record
            store.save_record(tmp_path / "r", _record(cfg, ds.fingerprint, arrays, rng), arrays)
    rep = report.build_report(tmp_path / "r", n_resamples=RESAMPLES)
    assert rep.data["protocol"]["users_source"] == f"dataset cache ({ds.fingerprint})"
    assert _entries(rep, "ablation")[0]["impression"]["clusters"] == len(np.unique(ds.dev.user))


def test_equivalence_verdicts(results):
    # concat and gate are planted equal (noise 0.03 per impression), attention is planted +0.06 above both
    rep = report.build_report(results, n_resamples=RESAMPLES, margin=0.02)
    verdict = {(e["a"], e["b"]): e["verdict"] for e in _entries(rep, "fusion")}
    assert verdict[("id+llm+gnn/concat", "id+llm+gnn/gate")] == "equivalent"
    assert verdict[("id+llm+gnn/concat", "id+llm+gnn/attention")] == "different"
    tight = report.build_report(results, n_resamples=RESAMPLES, margin=0.0005)
    e = next(e for e in _entries(tight, "fusion") if e["b"] == "id+llm+gnn/gate")
    assert e["verdict"] == "undecided" and e["tost_p_holm"] >= e["tost_p"] > 0.05
    ablation = {r["configuration"]: r for r in _table(rep, "ablation").records}
    assert ablation["id+llm+gnn/attention"]["verdict"] == "different"
    assert "Verdict (±0.02)" in _table(rep, "ablation").header
    assert "margin 0.02" in rep.protocol.replace("±", "") or "±0.02" in rep.protocol
    with pytest.raises(InputError, match="--margin"):
        report.build_report(results, margin=0)


def test_power_line_under_each_comparison_table(built):
    from newsbench import stats

    for key in ("fusion", "ablation"):
        t = _table(built, key)
        line = next(n for n in t.notes if n.startswith("Seed-level power"))
        entries = _entries(built, key)
        mde = [stats.min_detectable_effect(e["seed"]["sd"], e["seed"]["n"]) for e in entries]
        assert [e["seed_mde"] for e in entries] == pytest.approx(mde)
        assert f"{min(mde):.4f}" in line and "3 seeds" in line and "80% power" in line
    rec = next(r for r in _table(built, "ablation").records if r["configuration"] == "id+llm+gnn/attention")
    assert rec["seeds_needed"] == stats.pairs_needed(
        next(e for e in _entries(built, "ablation") if e["a"] == "id+llm+gnn/attention")["seed"]["diff"],
        next(e for e in _entries(built, "ablation") if e["a"] == "id+llm+gnn/attention")["seed"]["sd"])


# ---- output formats ------------------------------------------------------------------------------------------

def test_latex_captions_have_no_number_and_a_label(results):
    tex = report.render_text(results, "latex", n_resamples=RESAMPLES, card=CARD)
    captions = re.findall(r"\\caption\{(.*?)\}\n", tex)
    assert captions and not any(c.startswith("Table") for c in captions)
    assert re.findall(r"\\label\{(.*?)\}", tex) == ["tab:fusion", "tab:ablation", "tab:weights", "tab:breakdown"]


def test_csv_table_choice_and_errors(results, tmp_path):
    text = report.render_text(results, "csv", n_resamples=RESAMPLES, table="fusion")
    assert list(pd.read_csv(io.StringIO(text))["method"]) == ["concat", "gate", "attention"]
    md = report.render_text(results, "markdown", n_resamples=RESAMPLES, table="weights")
    assert "Modality weights" in md and "Fusion methods" not in md
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--results", str(results), "--csv", "--table", "nope", "--resamples", "9",
                              "--out", str(tmp_path / "o")])
    assert isinstance(res.exception, InputError) and "choose from fusion, ablation, weights, breakdown" in str(
        res.exception)
    assert not (tmp_path / "o").exists()                       # nothing written


def _cells_intact(text: str, rep) -> None:
    """Every cell of the terminal view of every table appears whole on one line of the terminal output."""
    from newsbench.report.brief import brief_table

    lines = text.splitlines()
    for t in rep.tables:
        b = brief_table(t, "auc", 0.05, None, "stars")
        for row in b.rows + [r for _, block in b.blocks for r in block]:
            for c in row:
                if c.text:
                    assert any(c.text in line for line in lines), (t.key, c.text)
        for h in b.header:
            assert any(h in line for line in lines), (t.key, h)


@pytest.mark.parametrize("columns", ["80", "60"])
def test_terminal_tables_fit_columns(results, built, columns):
    runner = CliRunner()
    res = runner.invoke(app, ["report", "--results", str(results), "--resamples", str(RESAMPLES)],
                        env={"COLUMNS": columns})
    assert res.exit_code == 0, res.output
    width = max(len(line) for line in res.stdout.splitlines())
    assert width <= int(columns)
    _cells_intact(res.stdout, report.build_report(results, n_resamples=RESAMPLES))
    assert "every column and the full notes: --markdown, --csv --table NAME or --out DIR" in " ".join(
        res.stdout.split())
    if columns == "80":
        assert "part 1 of" not in res.stdout


def test_wide_terminal_keeps_tables_whole(results):
    buf = io.StringIO()
    report.print_and_write(results, console=Console(file=buf, width=250), n_resamples=RESAMPLES)
    assert "(part " not in buf.getvalue() and "Table 2. Ablation" in buf.getvalue()


def test_piped_report_assumes_80_columns(results):
    res = CliRunner().invoke(app, ["report", "--results", str(results), "--resamples", str(RESAMPLES)],
                             env={"COLUMNS": None, "LINES": None})
    assert res.exit_code == 0, res.output
    assert max(len(line) for line in res.stdout.splitlines()) <= 80 and "…" not in res.stdout
