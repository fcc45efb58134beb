"""`newsbench report --plots`: PNG + PDF figures from fake run records (store.save_record), no training."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("matplotlib")

from newsbench import report  # noqa: E402
from newsbench.report import figures as plots  # noqa: E402
from newsbench.cli import app  # noqa: E402
from newsbench.errors import InputError  # noqa: E402
from test_report import SPEC, _write_runs  # noqa: E402  (tests/ is on sys.path, as for toydata)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
RESAMPLES = "99"      # the figures do not use the tests; keep the report build fast


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("results")
    _write_runs(d, SPEC)
    return d


def _check_files(fig_dir, stems):
    for stem in stems:
        png, pdf = fig_dir / f"{stem}.png", fig_dir / f"{stem}.pdf"
        assert png.stat().st_size > 1000 and pdf.stat().st_size > 1000
        assert png.read_bytes()[:8] == PNG_SIGNATURE
        assert pdf.read_bytes()[:5] == b"%PDF-"
    assert not list(fig_dir.glob(".tmp-*"))      # atomic writes leave no temporaries


def test_cli_plots_default_folder(results):
    res = CliRunner().invoke(app, ["report", "--results", str(results), "--markdown", "--resamples", RESAMPLES,
                                   "--plots"])
    assert res.exit_code == 0, res.output
    _check_files(results / "report" / "figures", ("metrics", "weights"))


def test_plots_summary_and_out_dir(results, tmp_path):
    data = report.print_and_write(results, out_dir=tmp_path / "o", fmt="csv", n_resamples=int(RESAMPLES),
                                  plots=True)
    _check_files(tmp_path / "o" / "figures", ("metrics", "weights"))
    assert (tmp_path / "o" / "report.json").is_file()
    figs = data["figures"]
    assert len(figs["files"]) == 4
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


def test_mean_ci_against_hand_computation():
    vals = [0.60, 0.62, 0.64]
    mean, half, n = plots.mean_ci(vals + [None, math.nan])
    sd = np.std(vals, ddof=1)
    assert n == 3 and mean == pytest.approx(0.62)
    assert half == pytest.approx(4.302652729911275 * sd / math.sqrt(3))   # t_{0.975, 2}
    mean, half, n = plots.mean_ci([0.7])
    assert (mean, n) == (0.7, 1) and math.isnan(half)


def test_one_seed_has_no_error_bars(tmp_path):
    _write_runs(tmp_path, SPEC, seeds=(0,))
    data = report.print_and_write(tmp_path, out_dir=tmp_path / "o", fmt="csv", n_resamples=int(RESAMPLES),
                                  plots=True)
    m = data["figures"]["metrics"]
    assert all(math.isnan(h) for h in m["metrics"]["auc"]["ci95_half_width"])
    assert "no error bars" in m["caption"] and "1 seed" in m["caption"]
    _check_files(tmp_path / "o" / "figures", ("metrics", "weights"))


def test_no_weights_figure_without_weighted_fusion(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0, (("id", "llm"), "concat"): 0.02}, seeds=(0, 1))
    data = report.print_and_write(tmp_path, out_dir=tmp_path / "o", fmt="csv", n_resamples=int(RESAMPLES),
                                  plots=True)
    assert data["figures"]["weights"] is None
    _check_files(tmp_path / "o" / "figures", ("metrics",))
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
