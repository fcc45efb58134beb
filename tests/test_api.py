"""The Python API (newsbench.api): the command line's runs, records, errors and report, returned as objects."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import newsbench
from newsbench import api, store
from newsbench.cli import main
from newsbench.errors import InputError

# What differs between two runs of one configuration made at different times or by different processes: the
# record's timings, date and environment, and the seconds a feature matrix took to compute or read (features.*).
VOLATILE = ("timings", "created", "environment", "seconds")
GRID = dict(subsets="id,id+llm", fusions="concat", seeds="0", epochs=1, text_encoder="hash")
GRID_ARGS = ["--subsets", "id,id+llm", "--fusions", "concat", "--seeds", "0", "--epochs", "1", "-e", "hash"]


def run_main(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """`newsbench ARGS` in this process, through main() (the one-line error handling included)."""
    monkeypatch.setattr(sys, "argv", ["newsbench", *map(str, args)])
    code = 0
    try:
        main()
    except SystemExit as stop:
        code = stop.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def stable(record):
    """The record without its VOLATILE keys, at any depth."""
    if isinstance(record, dict):
        return {k: stable(v) for k, v in record.items() if k not in VOLATILE}
    return [stable(v) for v in record] if isinstance(record, list) else record


def same_rows(frame: pd.DataFrame, rows: list[dict]) -> None:
    """`frame` holds report.json's `rows`, column for column."""
    assert len(frame) == len(rows) > 0
    pd.testing.assert_frame_equal(frame, pd.DataFrame(rows), check_like=True)     # report.json sorts its keys


@pytest.fixture(scope="module")
def made(tiny_dir, tmp_path_factory):
    """One small grid made by the API (records and report), shared by the tests that only read it."""
    results = tmp_path_factory.mktemp("api") / "results"
    # the cache conftest's (function-scoped) fixture names: a record holds its feature file's path
    return api.ablate(tiny_dir, results=results, cache_dir=tmp_path_factory.getbasetemp() / "cache", **GRID)


def test_ablate_records_are_byte_identical_to_the_clis(tiny_dir, made, tmp_path, monkeypatch, capsys):
    cli = tmp_path / "cli"
    code, _, err = run_main(["ablate", "-d", tiny_dir, "--results", cli, *GRID_ARGS], monkeypatch, capsys)
    assert code == 0, err
    ids = sorted(r["run_id"] for r in made.records)
    assert ids == sorted(p.stem for p in store.runs_dir(cli).glob("*.json")) and len(ids) == 2
    for rid in ids:
        ours = json.loads(store.record_paths(made.results, rid)[0].read_text())
        theirs = json.loads(store.record_paths(cli, rid)[0].read_text())
        assert json.dumps(stable(ours), sort_keys=True) == json.dumps(stable(theirs), sort_keys=True)
        a, b = store.load_arrays(made.results, rid), store.load_arrays(cli, rid)
        assert sorted(a) == sorted(b)
        for name in a:
            # bytes, not values: NaN (an impression with no cold candidate) equals itself, and nothing is rounded
            assert (a[name].dtype, a[name].shape, a[name].tobytes()) == (b[name].dtype, b[name].shape,
                                                                         b[name].tobytes()), name
    # the baselines are the CLI's too
    assert sorted(p.name for p in (made.results / "baselines").iterdir()) == \
        sorted(p.name for p in (cli / "baselines").iterdir())


def test_ablate_returns_records_frame_and_report(made):
    assert [r["label"] for r in made.records] == ["id", "id+llm/concat"]
    assert made.reused == 0 and made.plan and all(p["status"] == "pending" for p in made.plan)
    frame = made.frame
    assert list(frame["label"]) == ["id", "id+llm/concat"]
    assert list(frame["auc"]) == [r["metrics"]["auc"] for r in made.records]
    # the report is the one ablate writes to RESULTS/report/: its tables are report.json's rows
    written = json.loads((made.results / "report" / "report.json").read_text())
    assert set(made.report.tables) == set(written["tables"]) and "ablation" in made.report.tables
    for key, table in made.report.tables.items():
        same_rows(table, written["tables"][key]["rows"])
    assert made.report.markdown == (made.results / "report" / "report.md").read_text()


def test_ablate_again_reuses_every_run_and_dry_run_writes_nothing(tiny_dir, made, tmp_path):
    again = api.ablate(tiny_dir, results=made.results, report=False, **GRID)
    assert again.report is None and again.reused == 2
    assert [r["run_id"] for r in again.records] == [r["run_id"] for r in made.records]
    assert again.records == [store.load_record(made.results, r["run_id"]) for r in made.records]
    plan = api.ablate(tiny_dir, results=made.results, dry_run=True, **GRID).plan
    assert [p["status"] for p in plan] == ["done", "done"]
    fresh = api.ablate(tiny_dir, results=tmp_path / "fresh", dry_run=True, **GRID)
    assert fresh.records == [] and [p["run_id"] for p in fresh.plan] == [r["run_id"] for r in made.records]
    assert not (tmp_path / "fresh").exists()


def test_ablate_plots_reuses_the_runs_and_draws_the_figures(tiny_dir, made, tmp_path):
    pytest.importorskip("matplotlib")
    copy = tmp_path / "results"
    shutil.copytree(made.results / "runs", copy / "runs")       # a copy: made's report must stay as it was written
    with pytest.raises(InputError, match="--plots draws the report's figures; it cannot go with --no-report"):
        api.ablate(tiny_dir, results=copy, report=False, plots=True, **GRID)
    again = api.ablate(tiny_dir, results=copy, plots=True, **GRID)
    assert again.reused == 2
    names = again.report.data["figures"]["names"]
    assert "forest" in names and "(figures/forest.png)" in again.report.markdown
    for stem in names:
        assert (copy / "report" / "figures" / f"{stem}.png").is_file()


def test_list_options_read_as_the_command_lines_text(tiny_dir, made):
    plan = api.ablate(tiny_dir, results=made.results, dry_run=True, subsets=["id", "id+llm"], fusions=["concat"],
                      seeds=[0], epochs=1, text_encoder="hash").plan
    assert [p["run_id"] for p in plan] == [r["run_id"] for r in made.records]


def test_train_gives_the_ablate_run_and_reuses_it(tiny_dir, made, tmp_path, capsys):
    rec = made.records[1]
    done = api.train(tiny_dir, results=made.results, modalities=["id", "llm"], fusion="concat", seed=0, epochs=1,
                     text_encoder="hash")
    assert done.reused == 1 and done.records == [rec]
    fresh = api.train(tiny_dir, results=tmp_path, modalities="id", epochs=1)
    assert fresh.reused == 0 and fresh.records[0]["run_id"] == made.records[0]["run_id"]
    # one run: the same metrics and arrays (its record's config holds the unused options as given: not compared)
    assert fresh.records[0]["metrics_by"] == made.records[0]["metrics_by"]
    assert fresh.frame.loc[0, "auc"] == made.records[0]["metrics"]["auc"]
    out, err = capsys.readouterr()
    assert out == "" and err == ""           # progress is off by default


def test_baselines_returns_records_and_a_frame(tiny_dir, tmp_path):
    res = api.baselines(tiny_dir, only=["popularity", "text"], text_encoder="hash", results=tmp_path)
    assert [r["baseline"] for r in res.records] == ["popularity", "text"]
    frame = res.frame
    assert len(frame) == 6 and list(frame["cands"][:3]) == ["all", "cold", "warm"]
    assert frame.loc[0, "auc"] == res.records[0]["metrics_by"]["all"]["auc"]
    assert len(list((tmp_path / "baselines").glob("*.json"))) == 2


def test_report_tables_match_the_clis_files(made, tmp_path, monkeypatch, capsys):
    rep = api.report(made.results, out=tmp_path / "api", resamples=200)
    code, _, err = run_main(["report", "-r", made.results, "--out", tmp_path / "cli", "--resamples", "200"],
                            monkeypatch, capsys)
    assert code == 0, err
    assert rep.markdown == (tmp_path / "cli" / "report.md").read_text()
    cli = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert set(rep.tables) == set(cli["tables"])
    for key, table in rep.tables.items():
        same_rows(table, cli["tables"][key]["rows"])
    assert list(rep.runs["run_id"]) == [r["run_id"] for r in made.records]
    one = api.report(made.results, table="ablation", configs=["id", "id+llm/concat"], resamples=200)
    assert list(one.tables) == ["ablation"] and one.written == []
    assert one.markdown.count("Table ") == 1


@pytest.mark.parametrize("call, args", [
    (lambda d, r: api.ablate(d, results=r, epochs=0), ["ablate", "--epochs", "0"]),
    (lambda d, r: api.ablate(d, results=r, fusions="sum"), ["ablate", "--fusions", "sum"]),
    (lambda d, r: api.ablate(d, results=r, seeds="0,x"), ["ablate", "--seeds", "0,x"]),
    (lambda d, r: api.ablate(d, results=r, executor="spark"), ["ablate", "--executor", "spark"]),
    (lambda d, r: api.ablate(d, results=r, test="bogus"), ["ablate", "--test", "bogus"]),
    (lambda d, r: api.ablate(d, results=r, subsets="id", fusions="mean"),
     ["ablate", "--subsets", "id", "--fusions", "mean"]),
    (lambda d, r: api.ablate(d, results=r, unknown_news="maybe"), ["ablate", "--unknown-news", "maybe"]),
    (lambda d, r: api.ablate(d, results=r, graph="trees"), ["ablate", "--graph-mode", "trees"]),
    (lambda d, r: api.train(d, results=r, modalities="id,llm"), ["train", "-m", "id,llm"]),
    (lambda d, r: api.train(d, results=r, device="tpu"), ["train", "--device", "tpu"]),
    (lambda d, r: api.baselines(d, results=r, only="bogus"), ["baselines", "--only", "bogus"]),
    (lambda d, r: api.report(r / "absent"), ["report", "-r", "{r}/absent"]),
])
def test_errors_are_exceptions_with_the_clis_line(tiny_dir, tmp_path, monkeypatch, capsys, call, args):
    with pytest.raises(InputError) as err:
        call(tiny_dir, tmp_path)
    args = [a.replace("{r}", str(tmp_path)) for a in args]
    if args[0] != "report":
        args += ["-d", str(tiny_dir), "--results", str(tmp_path)]
    code, _, cli_err = run_main(args, monkeypatch, capsys)
    assert code == 2 and len(cli_err.strip().splitlines()) == 1
    line = cli_err.strip().removeprefix("newsbench: error: ")
    assert line.split(" (see `newsbench")[0] == str(err.value)
    assert list(tmp_path.iterdir()) == []         # nothing written, by either


def test_a_report_error_names_the_option(made):
    with pytest.raises(InputError, match="--metric 'auk'"):
        api.report(made.results, metric="auk")
    with pytest.raises(InputError, match="--alpha 0.9"):
        api.report(made.results, alpha=0.9)


def test_top_level_names_and_a_light_import():
    assert newsbench.ablate is api.ablate and newsbench.api is api
    # `import newsbench` (every command line's first step) loads none of the API's modules
    code = "import newsbench, sys; print(sorted(m for m in ('pandas', 'torch', 'newsbench.api') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    # the submodules keep their names: newsbench.train is the training module
    assert hasattr(importlib.import_module("newsbench.train"), "run_and_save")


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_docs_example_runs_as_written(tiny_dir, tmp_path, monkeypatch, capsys):
    # docs/api.md's worked example on tiny data (its `tiny` folder), in an empty folder; then its error example
    monkeypatch.chdir(tmp_path)
    (tmp_path / "tiny").symlink_to(tiny_dir)
    example, error = python_blocks(Path(__file__).resolve().parents[1] / "docs" / "api.md")
    scope: dict = {}
    exec(compile(example, "docs/api.md", "exec"), scope)
    assert len(scope["runs"].records) == 6 and scope["runs"].reused == 0        # id x 2 seeds, 2 fusions x 2 seeds
    assert set(scope["ablation"]["configuration"]) >= {"id", "id+llm/concat", "id+llm/gate"}
    assert "Table" in scope["report"].markdown and len(scope["floors"].records) == 2
    capsys.readouterr()
    exec(compile(error, "docs/api.md", "exec"), scope)
    assert capsys.readouterr().out.strip() == "--epochs 0: must be an integer in 1..1,000"   # as the comment says
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results-api", "tiny"]


def test_progress_says_each_run_on_stderr_only(tiny_dir, tmp_path, capsys):
    capsys.readouterr()
    done = api.ablate(tiny_dir, results=tmp_path, subsets="id", seeds=[0, 1], epochs=1, report=False, progress=True)
    out, err = capsys.readouterr()
    assert out == ""
    for r in done.records:
        assert f"seed {r['config']['seed']}  AUC {round(r['metrics']['auc'], 4)}  {r['run_id']}" in err


def test_ctrl_c_propagates_and_records_nothing(tiny_dir, tmp_path, monkeypatch):
    from newsbench import grid

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(grid, "run_grid", stop)
    with pytest.raises(KeyboardInterrupt):
        api.ablate(tiny_dir, results=tmp_path, subsets="id", seeds=[0], epochs=1)
    assert not any(p.name.endswith(grid.LOCK_SUFFIX) for p in tmp_path.rglob("*"))
    assert store.load_records(tmp_path) == []
