"""A report a user steers (issue 28): --configs, --seeds, --reference, --metrics, -d DATA, rows told apart by the
options that differ, --table runs, the card found as ablate finds it, and a terminal view that fits 80 columns."""

from __future__ import annotations

import io
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from newsbench import report, store
from newsbench.cli import app, main
from newsbench.config import RunConfig
from newsbench.errors import InputError
from test_report import FULL, RESAMPLES, SPEC, _record, _write_runs

FP = "f" * 16


def _report(*args, columns="80"):
    return CliRunner().invoke(app, ["report", *map(str, args)], env={"COLUMNS": columns})


def _main(argv, capsys) -> tuple[int, str]:
    """Exit status and stderr of the real entry point (one `newsbench: error:` line for bad input)."""
    old = sys.argv
    sys.argv = ["newsbench", *map(str, argv)]
    try:
        with pytest.raises(SystemExit) as exc:
            main()
    finally:
        sys.argv = old
    return exc.value.code, capsys.readouterr().err


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    d = tmp_path_factory.mktemp("steer")
    _write_runs(d, SPEC)
    return d


def _ablation(rep):
    return next(t for t in rep.tables if t.key == "ablation")


def test_configs_select_rows_and_unknown_lists_present(results, capsys):
    res = _report("-r", results, "--configs", "id,id+llm/concat", "--resamples", RESAMPLES, "--csv")
    assert res.exit_code == 0, res.output
    assert list(pd.read_csv(io.StringIO(res.stdout))["configuration"]) == ["id", "id+llm/concat"]
    code, err = _main(["report", "-r", results, "--configs", "id,id+gnn/gate"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "no configuration 'id+gnn/gate'" in err and "present: id, id+llm/concat" in err


def test_seeds_keep_only_those_runs(results, capsys):
    rep = report.build_report(results, n_resamples=RESAMPLES, selection=report.groups.Selection(seeds=(0, 2)))
    assert rep.data["protocol"]["seeds"] == [0, 2] and rep.data["protocol"]["runs"] == 2 * len(SPEC)
    assert all(g["seeds"] == [0, 2] for g in rep.data["groups"])
    code, err = _main(["report", "-r", results, "--seeds", "0,7"], capsys)
    assert code == 2 and "no run of seed 7" in err and "seeds present: 0, 1, 2" in err


def test_reference_is_the_row_every_delta_is_against(results, capsys):
    rep = report.build_report(results, n_resamples=RESAMPLES, reference="id+llm/concat")
    recs = {r["configuration"]: r for r in _ablation(rep).records}
    assert recs["id+llm/concat"]["baseline"] and not recs["id"]["baseline"]
    # id is planted 0.02 below id+llm/concat: its Δ against the new reference is negative and significant
    assert recs["id"]["ci_high"] < 0 and recs["id"]["p_impression_holm"] < 0.05
    assert all(e["b"] == "id+llm/concat" for e in rep.data["comparisons"] if e["table"] == "ablation")
    # naming the default changes nothing
    assert (report.render_text(results, "markdown", n_resamples=RESAMPLES, reference="id")
            == report.render_text(results, "markdown", n_resamples=RESAMPLES))
    code, err = _main(["report", "-r", results, "--reference", "id+gnn"], capsys)
    assert code == 2 and "--reference id+gnn" in err and "present: id, id+llm/concat" in err


def test_metrics_columns_and_one_spelling_with_aliases(results, capsys):
    res = _report("-r", results, "--metrics", "auc,ndcg10", "--metric", "ndcg5", "--resamples", RESAMPLES,
                  "--markdown", "--table", "ablation")
    assert res.exit_code == 0, res.output
    header = next(line for line in res.stdout.splitlines() if line.startswith("| Configuration"))
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert cols[1:3] == ["AUC", "nDCG@10"] and "MRR" not in cols
    assert "ΔnDCG@5 vs base (%)" in cols                      # the tests follow --metric, spelled ndcg5
    # the terminal shows the chosen metric columns too
    res = _report("-r", results, "--metrics", "mrr,ndcg@10", "--resamples", RESAMPLES, "--table", "ablation")
    assert "MRR" in res.stdout and "nDCG@10" in res.stdout
    code, err = _main(["report", "-r", results, "--metrics", "auc,f1"], capsys)
    assert code == 2 and "--metrics 'f1': unknown metric" in err


def _write_epochs(results, epochs_by_seed):
    """id runs at several epoch counts: one label, two configurations."""
    rng = np.random.default_rng(0)
    ids = np.arange(100)
    for epochs in epochs_by_seed:
        for s in (0, 1):
            cfg = RunConfig(modalities=("id",), fusion="none", seed=s, epochs=epochs)
            auc = rng.uniform(0.4, 0.8, len(ids)) + 0.01 * epochs
            arrays = {"impression_id": ids, "auc": auc, "mrr": auc, "ndcg5": auc, "ndcg10": auc,
                      "auc_cold": auc, "auc_warm": auc, "user": ids // 2}
            store.save_record(results, _record(cfg, FP, arrays, rng), arrays)


def test_rows_of_one_label_named_by_the_options_that_differ(tmp_path):
    _write_epochs(tmp_path, (1, 2))
    rep = report.build_report(tmp_path, n_resamples=RESAMPLES)
    labels = [r["configuration"] for r in _ablation(rep).records]
    assert labels == ["id [epochs=1]", "id [epochs=2]"]
    one = report.build_report(tmp_path, n_resamples=RESAMPLES,
                              selection=report.groups.Selection(configs=("id [epochs=2]",)))
    assert [g["label"] for g in one.data["groups"]] == ["id [epochs=2]"]
    with pytest.raises(InputError, match=r"names 2 configurations; choose one of id \[epochs=1\], id \[epochs=2\]"):
        report.build_report(tmp_path, n_resamples=RESAMPLES, reference="id")
    rep = report.build_report(tmp_path, n_resamples=RESAMPLES, reference="id [epochs=2]")
    assert next(r for r in _ablation(rep).records if r["baseline"])["configuration"] == "id [epochs=2]"


def test_data_folder_picks_its_runs_and_its_card(tiny_dir, tmp_path, capsys):
    from newsbench.report.card import folder_fingerprint

    fp = folder_fingerprint(tiny_dir)
    _write_runs(tmp_path, {(("id",), "none"): 0.0, (FULL, "attention"): 0.03}, seeds=(0, 1), fp=fp)
    _write_runs(tmp_path, {(("id",), "none"): 0.0}, seeds=(0,), fp="b" * 16)        # another dataset's run
    code, err = _main(["report", "-r", tmp_path], capsys)
    assert code == 2 and "-d DATA or --fingerprint" in err
    res = _report("-r", tmp_path, "-d", tiny_dir, "--resamples", RESAMPLES, "--markdown")
    assert res.exit_code == 0, res.output
    assert f"fingerprint {fp}" in res.stdout and "ceiling: oracle (true utility)" in res.stdout   # the card's rows
    res = _report("-r", tmp_path, "--fingerprint", "bbbb", "--resamples", RESAMPLES, "--markdown")
    assert res.exit_code == 0 and "4 runs" not in res.stdout and "1 configuration, 1 run," in res.stdout
    code, err = _main(["report", "-r", tmp_path, "--dataset", "bbbb"], capsys)
    assert code == 2 and "--dataset is now --fingerprint" in err and err.count("\n") == 1


# ---- a real ablation: the 6-run grid on tiny data ---------------------------------------------------------

GRID = ["-e", "hash", "--subsets", "id,id+llm", "--fusions", "concat,gate", "--n-seeds", "2", "--epochs", "1"]


@pytest.fixture(scope="module")
def ablated(ablate_tiny):
    return ablate_tiny(*GRID)


def test_ablate_and_report_print_the_same_markdown_with_and_without_the_card_in_the_cache(ablated, tiny_dir,
                                                                                         tmp_path, monkeypatch):
    res, _ = ablated
    written = (res / "report" / "report.md").read_text()
    assert "ceiling: oracle (true utility)" in written                  # ablate had the tiny data's card
    # The dataset cache holds the card (ablate read the data): report finds it there by the runs' fingerprint.
    out = _report("-r", res, "--markdown")
    assert out.exit_code == 0 and out.stdout == written
    # An empty cache: no card unless the data folder is named; with -d it is the same report again.
    monkeypatch.setenv("NEWSBENCH_CACHE", str(tmp_path / "empty"))
    bare = _report("-r", res, "--markdown")
    assert bare.exit_code == 0 and "ceiling:" not in bare.stdout
    assert _report("-r", res, "-d", tiny_dir, "--markdown").stdout == written
    # A generated dataset kept in the cache's synth/ folder (as the demo data is) is found by its fingerprint too.
    shutil.copytree(tiny_dir, tmp_path / "empty" / "synth" / "tiny-s0-v9")
    assert _report("-r", res, "--markdown").stdout == written


def test_the_six_run_report_fits_80_columns(ablated):
    res, ablate_out = ablated
    out = _report("-r", res, columns="80")
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()
    assert len(lines) <= 150 and max(map(len, lines)) <= 80
    assert "part 1 of" not in out.stdout and "Cut into parts" not in out.stdout
    assert out.stdout in ablate_out                                      # ablate printed the same view
    # Piped: no bold, so the best values and significant p-values carry a * and the notes say so.
    assert "*" in out.stdout and "marked *" in out.stdout and "in bold" not in out.stdout


def test_bold_in_a_terminal_and_stars_elsewhere(results):
    def view(**kw):
        buf = io.StringIO()
        report.print_and_write(results, console=Console(file=buf, width=80, **kw), n_resamples=RESAMPLES)
        return buf.getvalue()

    styled = view(force_terminal=True, color_system="standard")
    assert "\x1b[1m" in styled and "best marked *" not in styled and "in bold" in styled
    assert "best marked *" in view() and "best marked *" in view(force_terminal=True, no_color=True)


def test_table_runs_in_every_format(ablated, tmp_path):
    res, _ = ablated
    records = store.load_records(res)
    out = _report("-r", res, "--table", "runs", "--csv")
    runs = pd.read_csv(io.StringIO(out.stdout))
    assert len(runs) == len(records) == 6
    assert {"run_id", "configuration", "seed", "auc", "ndcg@10", "seconds_per_epoch", "eval_seconds"} <= set(runs)
    frame = store.records_frame(records)
    assert sorted(runs["run_id"]) == sorted(frame["run_id"])
    assert runs.set_index("run_id")["auc"].to_dict() == pytest.approx(frame.set_index("run_id")["auc"].to_dict())
    md = _report("-r", res, "--table", "runs", "--markdown").stdout
    assert md.count("| id+llm/gate ") == 2 and "### Runs" in md
    assert "\\begin{tabular}" in _report("-r", res, "--table", "runs", "--latex").stdout
    term = _report("-r", res, "--table", "runs").stdout
    assert all(r["run_id"] in term for r in records)
    assert _report("-r", res, "--out", tmp_path / "o", "--resamples", RESAMPLES).exit_code == 0
    assert pd.read_csv(tmp_path / "o" / "runs.csv").equals(runs)


def test_varying_options_are_columns_of_the_runs_table(tmp_path):
    _write_epochs(tmp_path, (1, 2))
    frame = store.records_frame(store.load_records(tmp_path))
    assert sorted(frame["epochs"]) == [1, 1, 2, 2]
    t = report.build_report(tmp_path, n_resamples=RESAMPLES).runs
    assert "epochs" in t.header and {r["configuration"] for r in t.records} == {"id [epochs=1]", "id [epochs=2]"}


def test_card_folder_and_runs_folder_are_one_line_errors(ablated, tiny_dir, capsys):
    res, _ = ablated
    code, err = _main(["report", "-r", res, "--card", tiny_dir], capsys)
    assert code == 2 and err.count("\n") == 1 and "is a folder; give its dataset_card.json" in err
    with pytest.raises(InputError, match="give the results folder that holds runs/"):
        store.load_records(res / "runs")
    code, err = _main(["report", "-r", res / "runs"], capsys)
    assert code == 2 and "holds run records itself" in err
    assert store.load_records(res / "nothing-here") == []                # no runs yet: nothing to load


def test_one_configuration_one_run_in_the_singular(tmp_path):
    _write_runs(tmp_path, {(("id",), "none"): 0.0}, seeds=(0,))
    md = report.render_text(tmp_path, "markdown", n_resamples=RESAMPLES)
    assert "1 configuration, 1 run," in md and "1 configurations" not in md and "1 runs" not in md
    term = _report("-r", tmp_path, "--resamples", RESAMPLES).stdout
    assert "1 configuration, 1 run," in " ".join(term.split())


def test_help_fits_80_columns_in_groups_with_examples_last():
    out = CliRunner().invoke(app, ["report", "--help"], env={"COLUMNS": "80"})
    assert out.exit_code == 0
    text = out.stdout
    assert max(map(len, text.splitlines())) <= 80
    for panel in ("Selection", "Statistics", "Output"):
        assert f"─ {panel} " in text
    assert text.index("Examples:") > text.index("─ Output ") and "--dataset" not in text
    assert len(text.splitlines()) < 110


def test_json_unchanged_by_the_terminal_view(results, tmp_path):
    # The brief view is formatting only: report.json holds every metric whatever the terminal showed.
    report.print_and_write(results, out_dir=tmp_path, console=Console(file=io.StringIO(), width=80),
                           n_resamples=RESAMPLES)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert set(saved["groups"][0]["metrics"]) == {"auc", "mrr", "ndcg@5", "ndcg@10"}
    assert (tmp_path / "runs.csv").is_file()
