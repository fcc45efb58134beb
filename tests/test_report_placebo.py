"""The report's controls: placebo rows marked, each modality's gain over its placebo, and the thesis' comparison
(best three-modality fusion vs best two-modality configuration), on fake but structurally real run records."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from rich.console import Console

from newsbench import report
from test_report import CARD, RESAMPLES, _write_runs

FULL = ("id", "llm", "gnn")
SPEC = {(("id",), "none"): 0.0,
        (("id", "llm"), "concat"): 0.02,
        (("id", "gnn"), "concat"): 0.05,
        (("id", "rand"), "concat"): -0.01,
        (("llm", "rand"), "concat"): 0.20,             # the best pair, but a control: not the thesis' two-modality side
        (FULL, "concat"): 0.0,
        (FULL, "attention"): 0.06,
        (("id", "llm", "rand"), "attention"): 0.10}    # the best triple, but a control: not the thesis' three


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("placebo")
    _write_runs(d, SPEC)
    return d


@pytest.fixture(scope="module")
def built(results):
    return report.build_report(results, card=CARD, n_resamples=RESAMPLES)


def _table(rep, key):
    return next(t for t in rep.tables if t.key == key)


def test_each_modality_is_compared_with_its_placebo(built):
    t = _table(built, "placebo")
    pairs = [(r["configuration"], r["modality"], r["placebo"]) for r in t.records]
    # the same fusion with the modality swapped for rand, wherever the results hold that counterpart
    assert pairs == [("id+llm/concat", "llm", "id+rand/concat"), ("id+gnn/concat", "gnn", "id+rand/concat"),
                     ("id+llm+gnn/attention", "gnn", "id+llm+rand/attention")]
    diff = {(r["configuration"], r["modality"]): r["diff_impression"] for r in t.records}
    assert diff[("id+gnn/concat", "gnn")] == pytest.approx(0.06, abs=0.01)
    assert diff[("id+llm+gnn/attention", "gnn")] == pytest.approx(-0.04, abs=0.01)     # the placebo can win
    gnn = t.records[1]
    assert gnn["p_impression_holm"] < 0.05 and gnn["verdict"] == "different"
    # one family, Holm over its three pairs, both levels, in the shared comparisons list
    fam = [c for c in built.data["comparisons"] if c["table"] == "placebo"]
    assert len(fam) == 3 and {c["family_size"] for c in fam} == {3}
    assert all(c["seed"]["n"] == 3 and c["clustered_by"] == "user" for c in fam)
    assert any("replaced by rand" in n for n in t.notes) and any("Holm" in n for n in t.notes)


def test_controls_are_marked_in_the_ablation_table(built):
    t = _table(built, "ablation")
    marked = {r[0].text for r in t.rows if r[0].mark == "‡"}
    assert marked == {"id+rand/concat", "llm+rand/concat", "id+llm+rand/attention"}
    assert {r["configuration"] for r in t.records if r.get("control")} == marked
    assert any(n.startswith("‡: a control") for n in t.notes)
    assert {g["label"] for g in built.data["groups"] if g["control"]} == marked


def test_thesis_compares_the_best_fusion_with_the_best_pair(built):
    thesis = built.data["thesis"]
    # the best id+llm+gnn fusion and the best pair of real modalities: the better controls are not candidates
    assert (thesis["a"], thesis["b"]) == ("id+llm+gnn/attention", "id+gnn/concat")
    assert thesis["impression"]["diff"] == pytest.approx(0.01, abs=0.01)
    assert thesis["family_size"] == 1 and thesis["seed"]["n"] == 3
    t = _table(built, "ablation")
    row = next(r for r in t.records if r.get("comparison") == "thesis")
    assert row["configuration"] == "thesis: id+llm+gnn/attention vs id+gnn/concat"
    assert row["p_impression_holm"] == thesis["impression_p_holm"] and row["n_seeds"] == 3
    note = next(n for n in t.notes if n.startswith('Row "thesis"'))
    assert "best three-modality fusion (id+llm+gnn/attention" in note
    assert "best two-modality configuration (id+gnn/concat" in note


def test_every_format_shows_the_controls(results, tmp_path):
    out = tmp_path / "out"
    report.print_and_write(results, out_dir=out, console=Console(file=io.StringIO(), width=200), card=CARD,
                           n_resamples=RESAMPLES)
    md = (out / "report.md").read_text()
    assert "Each modality's gain over its placebo" in md and "thesis: id+llm+gnn/attention vs id+gnn/concat" in md
    assert "id+rand/concat<sup>‡</sup>" in md
    tex = (out / "report.tex").read_text()
    assert r"\textsuperscript{\ddag}" in tex and "tab:placebo" in tex and "thesis: id+llm+gnn/attention" in tex
    assert len(pd.read_csv(out / "placebo.csv")) == 3
    ablation = pd.read_csv(out / "ablation.csv")
    assert (ablation["comparison"] == "thesis").sum() == 1
    weights = pd.read_csv(out / "weights.csv")
    assert "rand_mean" in weights.columns        # a weighted run with the placebo: its column is shown


def test_no_placebo_table_or_thesis_without_their_runs(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0, (("id", "llm"), "concat"): 0.02, (("id", "gnn"), "concat"): 0.0},
                seeds=(0, 1))
    rep = report.build_report(tmp_path, n_resamples=RESAMPLES)
    assert [t.key for t in rep.tables if t.key == "placebo"] == [] and rep.data["thesis"] is None
    assert not any(r.get("comparison") == "thesis" for r in _table(rep, "ablation").records)
