"""`newsbench report --plots`: PNG + PDF figures and their sidecar CSVs, from fake run records (store.save_record)
and from the committed example records (results/example) with a generated card; no training.

The sidecar CSV of each figure holds exactly the plotted numbers; they are compared here with report.json's, and the
derived ones (t intervals, Spearman's rho) with scipy."""

from __future__ import annotations

import csv
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps
from typer.testing import CliRunner

pytest.importorskip("matplotlib")

from newsbench import report  # noqa: E402
from newsbench.report import figures as plots  # noqa: E402
from newsbench.cli import app  # noqa: E402
from newsbench.errors import InputError  # noqa: E402
from test_report import CARD, SPEC, _write_runs  # noqa: E402  (tests/ is on sys.path, as for toydata)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RESAMPLES = "99"      # the figures do not depend on the number of resamples; keep the report build fast
EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "example"
ALL = ("forest", "weights_vs_planted", "attribution_vs_planted", "cold_warm", "metrics", "weights")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _write_runs(d, SPEC)
    return d


@pytest.fixture(scope="module")
def example(tmp_path_factory, tiny_dir):
    """The committed example records' report with --plots, the tiny generated card standing in for the demo's (the
    same generator's categories and reference scorers; its numbers need not match the records')."""
    out = tmp_path_factory.mktemp("example") / "report"
    data = report.print_and_write(EXAMPLE, out_dir=out, fmt="csv", n_resamples=199, plots=True,
                                  card=tiny_dir / "dataset_card.json")
    saved = json.loads((out / "report.json").read_text())
    return out, data, saved


def _read_csv(path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _f(text: str) -> float:
    return float(text) if text != "" else math.nan


def _same(a, b) -> bool:
    a, b = (math.nan if a is None else float(a)), (math.nan if b is None else float(b))
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-15)


def _check_files(fig_dir, stems):
    for stem in stems:
        png, pdf = fig_dir / f"{stem}.png", fig_dir / f"{stem}.pdf"
        assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert pdf.read_bytes()[:5] == b"%PDF-"
        assert (fig_dir / f"{stem}.csv").stat().st_size > 0
    assert sorted(p.stem for p in fig_dir.glob("*.png")) == sorted(stems)
    assert not list(fig_dir.glob(".tmp-*"))      # atomic writes leave no temporaries


# ------------------------------------------------------------------------------------ the example records

def test_example_draws_every_figure(example):
    out, data, _ = example
    assert data["figures"]["names"] == list(ALL)
    _check_files(out / "figures", ALL)


def test_forest_csv_holds_every_ci_of_the_ablation_table(example):
    out, _, saved = example
    rows = _read_csv(out / "figures" / "forest.csv")
    metric = saved["protocol"]["metric"]
    ablation = [r for r in saved["tables"]["ablation"]["rows"] if r.get("ci_low") is not None]
    assert len(ablation) >= 6 + 1 + 4           # 6 configurations against id, the thesis' row, 4 baselines
    reference = [r for r in rows if r["panel"] == "reference"]
    assert len(reference) == len(ablation)
    # Row for row, in the table's order: the same difference and interval, written with at least 4 decimals.
    for r, t in zip(reference, ablation):
        name = t["configuration"]
        assert r["label"] == (name.replace(" vs ", " − ") if name.startswith("thesis") else f"{name} − id")
        assert r["metric"] == metric
        for key, col in (("diff_impression", "diff_impression"), ("ci_low", "ci_low_impression"),
                         ("ci_high", "ci_high_impression"), ("p_impression_holm", "p_impression_holm")):
            assert _same(_f(r[col]), t[key]), (name, col)
        for col in ("ci_low_impression", "ci_high_impression"):
            assert len(r[col].split(".")[1].rstrip("0")) >= 4 or float(r[col]) == round(float(r[col]), 4)
            assert round(float(r[col]), 4) == round(t["ci_low" if "low" in col else "ci_high"], 4)
    # The seed level and the Holm decisions are report.json's comparisons', for every panel.
    comps = {(c["table"], c["a"], c["b"]): c for c in saved["comparisons"] if c["metric"] == metric}
    assert len(rows) == len([k for k in comps if k[0] in ("ablation", "thesis", "baselines", "fusion", "placebo")])
    for r in rows:
        c = comps[(r["table"], r["a"], r["b"])]
        for col, value in (("diff_seed", c["seed"]["diff"]), ("ci_low_seed", c["seed"]["ci_low"]),
                           ("ci_high_seed", c["seed"]["ci_high"]), ("p_seed_holm", c["seed_p_holm"]),
                           ("ci_low_impression", c["impression"]["ci_low"]), ("margin", c["margin"])):
            assert _same(_f(r[col]), value), (r["label"], col)
        assert r["significant_impression"] == str(c["impression_significant"]).lower()
        assert r["verdict"] == c["verdict"]
    # The fusion pairs' impression-level intervals exist with --plots (the fusion table itself shows none).
    fusion = [r for r in rows if r["panel"] == "fusion"]
    assert len(fusion) == 3 and all(math.isfinite(_f(r["ci_low_impression"])) for r in fusion)
    assert all(_f(r["ci_low_impression"]) <= _f(r["diff_impression"]) <= _f(r["ci_high_impression"])
               for r in fusion)
    # Baselines are deterministic scorers: no seed-level interval to draw.
    assert all(r["ci_low_seed"] == "" for r in rows if r["table"] == "baselines")


def test_forest_artists_are_the_tables_intervals(example):
    # Read back from the drawn figure: each printed interval is a line with the report's ends, and the numbers'
    # column shows the ablation table's CI text.
    _, _, saved = example
    with plots._style():
        fig, _, rows = plots.forest_figure(saved)
    fig.canvas.draw()
    texts = " | ".join(t.get_text() for ax in fig.axes for t in ax.get_yticklabels())
    printed = [r for r in saved["tables"]["ablation"]["rows"] if r.get("ci_low") is not None]
    for r in printed:
        printed_ci = f"{r['diff_impression']:+.4f} [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]"
        assert printed_ci.replace("-", "−") in texts      # drawn with the typographic minus
    ends = {tuple(np.round(np.asarray(line.get_xdata(), dtype=float), 12)) for ax in fig.axes
            for line in ax.get_lines() if len(line.get_xdata()) == 2}
    for r in rows:
        for level in ("impression", "seed"):
            if r[f"ci_low_{level}"] is not None:
                assert (round(r[f"ci_low_{level}"], 12), round(r[f"ci_high_{level}"], 12)) in ends
    dots = {round(float(line.get_xdata()[0]), 12) for ax in fig.axes for line in ax.get_lines()
            if line.get_marker() == "o" and len(line.get_xdata()) == 1}
    assert {round(r["diff_impression"], 12) for r in rows} <= dots


def test_plots_change_no_number_of_the_report(example, tmp_path, tiny_dir):
    # The fusion pairs' impression-level intervals are extra; every other number is the report's without --plots.
    _, _, with_plots = example
    report.print_and_write(EXAMPLE, out_dir=tmp_path, fmt="csv", n_resamples=199,
                           card=tiny_dir / "dataset_card.json")
    without = json.loads((tmp_path / "report.json").read_text())
    assert without["tables"] == with_plots["tables"]
    assert len(without["comparisons"]) == len(with_plots["comparisons"])
    for a, b in zip(without["comparisons"], with_plots["comparisons"]):
        if a["table"] == "fusion" and a["metric"] == with_plots["protocol"]["metric"]:
            assert a["impression"]["ci_low"] is None and b["impression"]["ci_low"] is not None
            a, b = ({**c, "impression": {k: v for k, v in c["impression"].items() if not k.startswith("ci_")}}
                    for c in (a, b))
        assert a == b


def test_weights_against_planted(example):
    out, data, saved = example
    rows = _read_csv(out / "figures" / "weights_vs_planted.csv")
    table = {(r["configuration"], r["category"]): r for r in saved["tables"]["weights"]["rows"]}
    assert {r["configuration"] for r in rows} == {"id+llm+gnn/gate", "id+llm+gnn/attention"}
    for r in rows:
        t = table[(r["configuration"], r["category"])]
        assert _same(_f(r["learned"]), t[f"{r['modality']}_mean"])
        if r["category"].startswith("("):
            assert r["category"] in ("(cold news)", "(warm news)") and r["planted"] == ""   # drawn apart, as lines
        else:
            assert _same(_f(r["planted"]), t[f"planted_{r['modality']}"])
    # Spearman's rho of each panel: scipy on the panel's points, and the report's own value.
    rhos = {b["label"]: b["spearman"] for b in saved["weights"]}
    for cfg in rhos:
        for mod in ("id", "llm", "gnn"):
            pts = [r for r in rows if r["configuration"] == cfg and r["modality"] == mod and r["planted"] != ""]
            assert len(pts) >= 10
            rho = sps.spearmanr([_f(r["planted"]) for r in pts], [_f(r["learned"]) for r in pts]).statistic
            assert _same(_f(pts[0]["spearman"]), rho) and _same(rho, rhos[cfg][mod])
            assert _same(data["figures"]["weights_vs_planted"]["spearman"][cfg][mod], rho)


def test_attribution_against_planted(example):
    out, _, saved = example
    rows = _read_csv(out / "figures" / "attribution_vs_planted.csv")
    table = {(r["configuration"], r["category"]): r for r in saved["tables"]["attribution"]["rows"]}
    learned = [r for r in rows if r.get("auc_lost")]
    assert {r["configuration"] for r in learned} == set(saved["attribution"]) - {"learnable ceiling"}
    for r in learned:
        assert _same(_f(r["auc_lost"]), table[(r["configuration"], r["category"])][f"drop_{r['modality']}_mean"])
    for cfg, summary in saved["attribution"].items():
        if cfg == "learnable ceiling":
            continue
        for mod, rho in summary["spearman_vs_planted"].items():
            pts = [r for r in learned if r["configuration"] == cfg and r["modality"] == mod
                   and not r["category"].startswith("(")]
            if rho is None:
                assert not pts      # the configuration has no such modality: no panel
                continue
            ref = sps.spearmanr([_f(r["planted"]) for r in pts], [_f(r["auc_lost"]) for r in pts]).statistic
            assert _same(ref, rho) and _same(_f(pts[0]["spearman"]), rho)
    sides = {r["category"] for r in learned if r["category"].startswith("(")}
    assert sides == {"(cold cands)", "(warm cands)"}


def test_cold_warm_with_baselines_and_ceilings(example, tiny_dir):
    out, _, saved = example
    rows = _read_csv(out / "figures" / "cold_warm.csv")
    seeds = {g["label"]: len(g["seeds"]) for g in saved["groups"]}
    breakdown = {r["subset"]: r for r in saved["tables"]["breakdown"]["rows"]}
    configs = [r for r in rows if r["kind"] == "configuration"]
    assert len(configs) == 2 * len(seeds)
    for r in configs:
        b = breakdown[r["part"]]
        mean, std, n = b[f"{r['label']}_mean"], b[f"{r['label']}_std"], seeds[r["label"]]
        assert _same(_f(r["auc"]), mean) and int(r["n_seeds"]) == n == 3
        # (scipy's interval of a zero scale is NaN; `id` on cold candidates is 0.5 in every seed: no width)
        lo, hi = sps.t.interval(0.95, n - 1, loc=mean, scale=std / math.sqrt(n)) if std > 0 else (mean, mean)
        assert _f(r["ci_low"]) == pytest.approx(lo, abs=1e-12) and _f(r["ci_high"]) == pytest.approx(hi, abs=1e-12)
    base = [r for r in rows if r["kind"] == "baseline"]
    by_label = {b["label"]: b for b in saved["baselines"]}
    assert len(base) == 2 * len(by_label)
    for r in base:
        assert _same(_f(r["auc"]), by_label[r["label"].removeprefix("baseline: ")]["metrics_by"][r["part"]]["auc"])
    card = json.loads((tiny_dir / "dataset_card.json").read_text())["reference_dev"]
    ceilings = {f"{e['kind']}: {e['label']}": e for e in card.values() if e["kind"] == "ceiling"}
    drawn = [r for r in rows if r["kind"] == "card"]
    assert {r["label"] for r in drawn} == set(ceilings) and len(drawn) == 2 * len(ceilings)
    for r in drawn:
        assert _same(_f(r["auc"]), ceilings[r["label"]][r["part"]]["auc"])


def test_markdown_links_every_figure(example):
    out, data, _ = example
    text = (out / "report.md").read_text()
    assert "## Figures" in text
    for stem in data["figures"]["names"]:
        for ext in ("png", "pdf", "csv"):
            assert f"(figures/{stem}.{ext})" in text
            assert (out / "figures" / f"{stem}.{ext}").is_file()


def test_latex_includes_every_figure_as_its_pdf(example, results, tmp_path):
    out, data, _ = example
    tex = (out / "report.tex").read_text()
    assert tex.startswith("% newsbench report; needs \\usepackage{booktabs} and \\usepackage{graphicx}")
    for stem in data["figures"]["names"]:
        block = tex[tex.index(f"\\includegraphics[width=\\textwidth]{{figures/{stem}.pdf}}"):]
        assert f"\\label{{fig:{stem.replace('_', '-')}}}" in block[:block.index("\\end{figure*}")]
        assert (out / "figures" / f"{stem}.pdf").is_file()
    assert tex.count("\\begin{figure*}") == tex.count("\\end{figure*}") == len(data["figures"]["names"])
    assert "Spearman's $\\rho$" in tex          # the captions go through the same escaping as the tables
    compact = (out / "report-compact.tex").read_text()
    assert compact[compact.index("\\begin{figure*}"):] == tex[tex.index("\\begin{figure*}"):]   # the same figures
    # Without --plots: no figure and no graphicx.
    report.print_and_write(results, out_dir=tmp_path, fmt="csv", n_resamples=int(RESAMPLES))
    plain = (tmp_path / "report.tex").read_text()
    assert "includegraphics" not in plain and "graphicx" not in plain


def test_rerun_writes_the_same_bytes(results, tmp_path):
    rep = report.build_report(results, card=CARD, n_resamples=int(RESAMPLES))
    # PDFs carry no creation date and PNGs no software stamp: the same numbers give the same files, so a rerun of
    # the report does not churn git.
    for out in ("a", "b"):
        with plots._style():
            fig, _, rows = plots.forest_figure(rep.data)
            plots._save(fig, tmp_path / out / "forest", rows)
    for ext in ("png", "pdf", "csv"):
        assert (tmp_path / "a" / f"forest.{ext}").read_bytes() == (tmp_path / "b" / f"forest.{ext}").read_bytes()
    assert b"CreationDate" not in (tmp_path / "a" / "forest.pdf").read_bytes()


# --------------------------------------------------------------------------------------- fake run records

def test_cli_plots_default_folder(results):
    res = CliRunner().invoke(app, ["report", "--results", str(results), "--markdown", "--resamples", RESAMPLES,
                                   "--plots"])
    assert res.exit_code == 0, res.output
    # No card: nothing planted to compare with, and no baselines or ceilings; the cold/warm panel still draws.
    _check_files(results / "report" / "figures", ("forest", "cold_warm", "metrics", "weights"))
    # Printed without --out: the links reach the folder written; stderr says where it is, stdout stays markdown.
    assert f"]({(results / 'report' / 'figures').as_posix()}/forest.png)" in res.stdout
    assert f"newsbench: 4 figures (forest, cold_warm, metrics, weights) as PNG, PDF and CSV in " \
           f"{results / 'report' / 'figures'}" in res.stderr.replace("\n", " ")
    assert "newsbench:" not in res.stdout


def test_plots_summary_and_out_dir(results, tmp_path):
    data = report.print_and_write(results, out_dir=tmp_path / "o", fmt="csv", n_resamples=int(RESAMPLES),
                                  plots=True, card=CARD)
    _check_files(tmp_path / "o" / "figures", ("forest", "weights_vs_planted", "cold_warm", "metrics", "weights"))
    assert (tmp_path / "o" / "report.json").is_file()
    figs = data["figures"]
    assert len(figs["files"]) == 5 * 3
    m = figs["metrics"]
    labels = [g["label"] for g in data["groups"]]
    # One bar group per configuration, in the report's order, each drawn from 3 seeds.
    assert m["configurations"] == labels and m["bar_groups"] == len(SPEC) == len(labels)
    assert m["seeds"] == [3] * len(labels)
    for metric in plots.METRICS:
        for i, g in enumerate(data["groups"]):
            assert m["metrics"][metric]["mean"][i] == pytest.approx(g["metrics"][metric]["mean"])
            assert m["metrics"][metric]["ci95_half_width"][i] > 0
    assert "95% CI" in m["caption"]
    # One weights panel per fusion with weights (gate, attention), with the report's categories.
    w = figs["weights"]
    assert sorted(w["panels"]) == ["id+llm+gnn/attention", "id+llm+gnn/gate"]
    assert "finance" in w["categories"]["id+llm+gnn/gate"]
    # 3 categories: the rank correlation per panel is scipy's over them.
    wp = figs["weights_vs_planted"]
    assert wp["modalities"] == ["id", "llm", "gnn"]
    assert wp["spearman"]["id+llm+gnn/gate"] == {k: pytest.approx(v, nan_ok=True) for k, v in
                                                 data["weights"][0]["spearman"].items() if k != "all"}


def test_forest_follows_the_metric(results, tmp_path):
    data = report.print_and_write(results, out_dir=tmp_path, fmt="csv", n_resamples=int(RESAMPLES), plots=True,
                                  metric="mrr")
    rows = _read_csv(tmp_path / "figures" / "forest.csv")
    assert {r["metric"] for r in rows} == {"mrr"} and data["figures"]["forest"]["metric"] == "mrr"
    ablation = [r for r in data["tables"]["ablation"]["rows"] if r.get("ci_low") is not None]
    ref = [r for r in rows if r["panel"] == "reference"]
    assert [_f(r["ci_low_impression"]) for r in ref] == pytest.approx([r["ci_low"] for r in ablation])
    # The fake records' mrr is auc / 2 per impression: the differences halve.
    auc = {(c["a"], c["b"]): c["impression"]["diff"] for c in data["comparisons"] if c["metric"] == "auc"}
    for r in rows:
        if (r["a"], r["b"]) in auc:
            assert _f(r["diff_impression"]) == pytest.approx(auc[(r["a"], r["b"])] / 2)


def test_mean_ci_against_hand_computation():
    vals = [0.60, 0.62, 0.64]
    mean, half, n = plots.mean_ci(vals + [None, math.nan])
    sd = np.std(vals, ddof=1)
    assert n == 3 and mean == pytest.approx(0.62)
    assert half == pytest.approx(4.302652729911275 * sd / math.sqrt(3))   # t_{0.975, 2}
    mean, half, n = plots.mean_ci([0.7])
    assert (mean, n) == (0.7, 1) and math.isnan(half)
    assert plots.t_half_width(sd, 3) == pytest.approx(half_ := 4.302652729911275 * sd / math.sqrt(3)) and half_
    assert math.isnan(plots.t_half_width(0.1, 1))


def test_spearman_against_scipy():
    pts = [("a", 0.1, 0.3), ("b", 0.4, 0.2), ("c", 0.3, 0.5), ("d", 0.9, 0.8)]
    assert plots.spearman(pts) == pytest.approx(sps.spearmanr([0.1, 0.4, 0.3, 0.9], [0.3, 0.2, 0.5, 0.8])[0])
    assert math.isnan(plots.spearman(pts[:2])) and math.isnan(plots.spearman([(c, 1.0, y) for c, _, y in pts]))


def test_one_seed_has_no_error_bars(tmp_path):
    _write_runs(tmp_path, SPEC, seeds=(0,))
    data = report.print_and_write(tmp_path, out_dir=tmp_path / "o", fmt="csv", n_resamples=int(RESAMPLES),
                                  plots=True)
    m = data["figures"]["metrics"]
    assert all(math.isnan(h) for h in m["metrics"]["auc"]["ci95_half_width"])
    assert "no error bars" in m["caption"] and "1 seed" in m["caption"]
    _check_files(tmp_path / "o" / "figures", ("forest", "cold_warm", "metrics", "weights"))
    # One seed: no seed-level interval, and none on the cold / warm AUC either.
    assert all(r["ci_low_seed"] == "" for r in _read_csv(tmp_path / "o" / "figures" / "forest.csv"))
    assert all(r["ci_low"] == "" for r in _read_csv(tmp_path / "o" / "figures" / "cold_warm.csv"))


def test_no_weights_figure_without_weighted_fusion(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0, (("id", "llm"), "concat"): 0.02}, seeds=(0, 1))
    data = report.print_and_write(tmp_path, out_dir=tmp_path / "o", fmt="csv", n_resamples=int(RESAMPLES),
                                  plots=True, card=CARD)
    assert data["figures"]["weights"] is None and data["figures"]["weights_vs_planted"] is None
    _check_files(tmp_path / "o" / "figures", ("forest", "cold_warm", "metrics"))
    assert not (tmp_path / "o" / "figures" / "weights.png").exists()


def test_missing_matplotlib_is_an_input_error(results, monkeypatch):
    # A None entry in sys.modules makes `import matplotlib` raise ImportError, as when the extra is absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(InputError, match=r"matplotlib is needed for --plots: pip install 'newsbench\[plots\]'"):
        report.print_and_write(results, fmt="csv", n_resamples=int(RESAMPLES), plots=True)


def test_help_mentions_plots():
    res = CliRunner().invoke(app, ["report", "--help"], terminal_width=200)
    assert res.exit_code == 0
    assert "--plots" in res.output and "newsbench report --results results --plots" in res.output


def test_api_report_with_plots(results, tmp_path):
    from newsbench import api

    res = api.report(results, out=tmp_path, resamples=int(RESAMPLES), plots=True)
    names = res.data["figures"]["names"]
    assert names == ["forest", "cold_warm", "metrics", "weights"]
    for stem in names:
        assert f"![" in res.markdown and f"(figures/{stem}.png)" in res.markdown
        assert (tmp_path / "figures" / f"{stem}.csv").is_file()
    # report.md on disk links them as the returned markdown does
    assert "(figures/forest.pdf)" in (tmp_path / "report.md").read_text()
