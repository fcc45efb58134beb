"""The report's beyond-accuracy table (newsbench.report.beyond_table) on real runs of the tiny data: its numbers
against the records and against the paired tests computed directly, coverage's bootstrap test transcribed, --k,
records made before the metrics (left out, one line, no crash), the terminal view at 80 columns."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

from newsbench import api, beyond, stats, store
from newsbench.cli import app

GRID = ["-e", "hash", "--subsets", "id,id+llm", "--fusions", "concat", "--n-seeds", "2", "--epochs", "1"]


@pytest.fixture(scope="module")
def ablated(ablate_tiny):
    return ablate_tiny(*GRID)[0]


def _groups(res):
    recs = store.load_records(res)
    by = {}
    for r in recs:
        by.setdefault(r["label"], []).append(r)
    return by


def _rows(table, metric):
    return {r["configuration"]: r for r in table.to_dict("records") if r["metric"] == metric}


@pytest.mark.parametrize("k", beyond.KS)
def test_table_means_and_tests_match_records_and_direct_tests(ablated, k):
    rep = api.report(ablated, k=k, resamples=2000)
    table = rep.tables["beyond"]
    assert set(table["metric"]) == {f"{m}@{k}" for m in beyond.NAMES}
    groups = _groups(ablated)
    assert set(groups) == {"id", "id+llm/concat"}
    runs = {label: stats.RunGroup(label, {r["config"]["seed"]: store.load_arrays(ablated, r["run_id"]) for r in rs})
            for label, rs in groups.items()}
    users = (runs["id"].runs[0]["impression_id"], runs["id"].runs[0]["user"])
    for m in beyond.PER_IMPRESSION:
        name = f"{m}@{k}"
        rows = _rows(table, name)
        for label, rs in groups.items():
            vals = [r["beyond"]["metrics"][name] for r in rs]
            assert rows[label]["mean"] == pytest.approx(np.mean(vals))
            assert rows[label]["std"] == pytest.approx(np.std(vals, ddof=1))
        c = stats.compare(runs["id+llm/concat"], runs["id"], name, n_resamples=2000, users=users, margin=0.005)
        row = rows["id+llm/concat"]
        assert row["diff"] == pytest.approx(c.impression.diff)
        assert row["p_impression_holm"] == pytest.approx(c.impression.p("permutation"))      # a family of one
        assert row["p_seed_holm"] == pytest.approx(c.seed.p("ttest"))
        assert rows["id"]["baseline"] and math.isnan(rows["id"].get("diff", math.nan))


def test_coverage_test_transcribed(ablated):
    rep = api.report(ablated, resamples=500)
    row = _rows(rep.tables["beyond"], "coverage@10")["id+llm/concat"]
    arrays = {label: [store.load_arrays(ablated, r["run_id"]) for r in sorted(rs, key=lambda r: r["config"]["seed"])]
              for label, rs in _groups(ablated).items()}
    cov = {label: [a["coverage10"][0] for a in arrs] for label, arrs in arrays.items()}
    boot = {label: np.mean([a["coverage10_boot"] for a in arrs], axis=0) for label, arrs in arrays.items()}
    diff = np.mean(cov["id+llm/concat"]) - np.mean(cov["id"])
    se = np.std(boot["id+llm/concat"] - boot["id"], ddof=1)
    assert row["diff"] == pytest.approx(diff)
    assert row["p_impression_holm"] == pytest.approx(2 * sps.norm.sf(abs(diff) / se))
    assert row["ci_low"] == pytest.approx(diff - 1.959964 * se)
    assert row["ci_high"] == pytest.approx(diff + 1.959964 * se)
    assert row["p_seed_holm"] == pytest.approx(sps.ttest_rel(cov["id+llm/concat"], cov["id"]).pvalue)


def test_k_picks_the_cut_off_and_an_other_k_is_one_line(ablated):
    five = CliRunner().invoke(app, ["report", "-r", str(ablated), "--table", "beyond", "--k", "5", "--markdown"])
    assert five.exit_code == 0 and "ILD cat.@5" in five.stdout and "@10" not in five.stdout
    bad = CliRunner().invoke(app, ["report", "-r", str(ablated), "--k", "7"])
    assert bad.exit_code == 2 and "--k" in bad.output


def test_terminal_view_is_compact_and_fits_80_columns(ablated):
    out = CliRunner().invoke(app, ["report", "-r", str(ablated)], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Beyond accuracy at k = 10" in line)
    assert lines[start + 1].split() == ["Configuration", "ILD", "cat", "ILD", "emb", "Novelty", "Unexp.", "Calib.",
                                        "Cover."]
    assert max(map(len, lines)) <= 80


def _strip(res, run_ids):
    """Records as made before the metrics: the same JSON without `beyond`, arrays without theirs."""
    for run_id in run_ids:
        rec = store.load_record(res, run_id)
        rec.pop("beyond", None)
        arrays = {k: v for k, v in store.load_arrays(res, run_id).items()
                  if k in ("impression_id", "user", "auc", "mrr", "ndcg5", "ndcg10", "auc_cold", "auc_warm")}
        store.save_record(res, rec, arrays)


def test_records_made_before_the_metrics(ablated, tmp_path, cli):
    res = tmp_path / "old"
    shutil.copytree(ablated, res)
    groups = _groups(res)
    _strip(res, [r["run_id"] for r in groups["id+llm/concat"]])
    rep = api.report(res, resamples=200)
    table = rep.tables["beyond"]
    assert set(table["configuration"]) == {"id"}                         # left out, not shown as zeros
    notes = " ".join(rep.data["tables"]["beyond"]["notes"])
    assert "Left out, made before newsbench recorded these metrics: id+llm/concat" in notes
    _strip(res, [r["run_id"] for r in groups["id"]])
    out = CliRunner().invoke(app, ["report", "-r", str(res)], env={"COLUMNS": "80"})
    assert out.exit_code == 0, out.output
    assert "Beyond accuracy at" not in out.stdout
    lines = out.stdout.splitlines()
    assert sum("Beyond-accuracy metrics: none, these runs predate them" in line for line in lines) == 1
    assert "Table 4. AUC by news category" in out.stdout                # the accuracy tables as before
    asked = cli("report", "-r", res, "--table", "beyond")
    assert asked.exit_code == 2 and asked.stderr.startswith("newsbench: error: no table 'beyond' in this report: ")
    assert "these runs predate them" in asked.stderr and len(asked.stderr.strip().splitlines()) == 1


def test_records_made_before_the_normalised_metrics(ablated, tmp_path):
    """Records of the first version (every beyond array but the normalised ones): the table keeps the other metrics
    for every configuration, leaves the normalised ones out and says why; the terminal view never shows them."""
    res = tmp_path / "first"
    shutil.copytree(ablated, res)
    full = api.report(res, resamples=200).tables["beyond"]
    assert {f"{m}@10" for m in beyond.NORMALISED} <= set(full["metric"])
    normalised = {beyond.array_names(k)[f"{m}@{k}"] for k in beyond.KS for m in beyond.NORMALISED}
    old = [r["run_id"] for r in _groups(res)["id"]]
    for run_id in old:
        rec = store.load_record(res, run_id)
        rec["beyond"]["metrics"] = {k: v for k, v in rec["beyond"]["metrics"].items()
                                    if k.split("@")[0] not in beyond.NORMALISED}
        store.save_record(res, rec, {k: v for k, v in store.load_arrays(res, run_id).items() if k not in normalised})
    rep = api.report(res, resamples=200)
    table = rep.tables["beyond"]
    assert set(table["metric"]) == {f"{m}@10" for m in beyond.NAMES if m not in beyond.NORMALISED}
    assert set(table["configuration"]) == {"id", "id+llm/concat"}
    notes = " ".join(rep.data["tables"]["beyond"]["notes"])
    assert "No normalised category diversity, novelty and unexpectedness: the records of id predate them" in notes
    out = CliRunner().invoke(app, ["report", "-r", str(res)], env={"COLUMNS": "80"})
    lines = out.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "Beyond accuracy at k = 10" in line)
    assert out.exit_code == 0 and "norm" not in lines[start + 1] and "Novelty" in lines[start + 1]


def test_records_made_before_the_normalised_category_diversity(ablated, tmp_path):
    """Records of the second version (normalised novelty and unexpectedness, no normalised category diversity):
    only the missing metric is left out, with its own note."""
    res = tmp_path / "second"
    shutil.copytree(ablated, res)
    dropped = {beyond.array_names(k)[f"ild-cat-norm@{k}"] for k in beyond.KS}
    for run_id in [r["run_id"] for r in _groups(res)["id+llm/concat"]]:
        rec = store.load_record(res, run_id)
        rec["beyond"]["metrics"] = {k: v for k, v in rec["beyond"]["metrics"].items()
                                    if not k.startswith("ild-cat-norm@")}
        store.save_record(res, rec, {k: v for k, v in store.load_arrays(res, run_id).items() if k not in dropped})
    rep = api.report(res, resamples=200)
    metrics = set(rep.tables["beyond"]["metric"])
    assert "ild-cat-norm@10" not in metrics and {"novelty-norm@10", "unexpectedness-norm@10"} <= metrics
    notes = " ".join(rep.data["tables"]["beyond"]["notes"])
    assert "No normalised category diversity: the records of id+llm/concat predate them" in notes
    assert "No normalised novelty" not in notes
