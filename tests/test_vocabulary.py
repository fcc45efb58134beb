"""One vocabulary (issue 28, item 4) and the cases of item 5 it covers: `params` speaks train's option names and
counts a dataset's ID rows with -d; -d/--data is a data folder in every command that reads data; RunConfig refuses
exactly what the command line refuses, with the same message (one table: newsbench.options.RUN_OPTIONS); --help
reads at 80 columns; Ctrl-C during ablate's report phase says "interrupted"; "1 run", not "1 runs"."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from newsbench.cli import app, main
from newsbench.cli.common import plural
from newsbench.config import RunConfig
from newsbench.options import RUN_OPTIONS

runner = CliRunner()
D = 256


def lin(i: int, o: int) -> int:
    return i * o + o


def run_main(args: list[str], monkeypatch, capsys) -> tuple[int, str, str]:
    """`newsbench ARGS` in this process, through main() (the one-line error handling included)."""
    monkeypatch.setattr(sys, "argv", ["newsbench", *args])
    with pytest.raises(SystemExit) as stop:
        main()
    out, err = capsys.readouterr()
    return stop.value.code, out, err


def markdown_rows(output: str) -> dict[str, list[int]]:
    """{label: [id_embedding, projections, fusion, user_encoder, total, flops]} of `params --markdown`."""
    rows = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 7 and cells[1].replace(",", "").isdigit():
            rows[cells[0]] = [int(c.replace(",", "")) for c in cells[1:]]
    return rows


# ------------------------------------------------------------------------------------------------------ params


def test_params_d_counts_the_id_rows_of_the_data_folder(tiny_dir):
    from newsbench.data.load import load_dataset

    res = runner.invoke(app, ["params", "-d", str(tiny_dir), "--id-dim", "16", "--markdown"])
    assert res.exit_code == 0, res.output
    ds = load_dataset(tiny_dir, progress=False)
    n_rows = int(ds.seen_in_train().sum()) + 1            # DESIGN.md: news seen in train + the 'unknown' row 0
    assert n_rows != 51_283
    rows = markdown_rows(res.stdout)
    assert rows["id"][0] == n_rows * 16                   # the ID table: rows x --id-dim
    assert rows["id"][1] == lin(16, D)
    assert rows["llm"][0] == 0
    assert f"ID rows: {n_rows:,} = {ds.name}'s {n_rows - 1:,} news seen in train" in res.stdout


def test_params_without_data_says_it_counts_mind_small():
    res = runner.invoke(app, ["params", "--markdown"])
    assert res.exit_code == 0, res.output
    assert markdown_rows(res.stdout)["id"][0] == 51_283 * 128
    assert "ID rows: 51,283 = MIND-small's 51,282 news seen in train" in res.stdout
    assert "-d DATA counts a dataset's ID rows" in res.stdout


def test_params_takes_trains_width_options():
    res = runner.invoke(app, ["params", "--markdown", "--graph-dim", "64", "--dim", "32", "--user-hidden", "8",
                              "-e", "hash:48", "--n-news", "99"])
    assert res.exit_code == 0, res.output
    rows = markdown_rows(res.stdout)
    assert rows["gnn"][1] == lin(64, 32)                  # the gnn projection: --graph-dim -> --dim
    assert rows["llm"][1] == lin(48, 32)                  # hash:48 is 48 wide
    assert rows["id"][0] == 100 * 128
    user = lin(32, 8) + lin(8, 1) + 32
    assert all(r[3] == user for r in rows.values())
    three = rows["id+llm+gnn/concat"]
    assert three[1] == lin(128, 32) + lin(48, 32) + lin(64, 32)
    assert three[2] == lin(3 * 32, 512) + lin(512, 32)     # concat: Linear(kd, 512) -> Linear(512, d), DESIGN.md
    assert "llm 48-d (hash:48), gnn 64-d (--graph-dim)" in res.stdout


def test_params_reads_the_width_of_a_vector_file(tmp_path):
    vectors = tmp_path / "emb.npy"
    np.save(vectors, np.ones((3, 7), dtype=np.float32))
    (tmp_path / "emb.npy.ids").write_text("N1\nN2\nN3\n")
    res = runner.invoke(app, ["params", "--markdown", "--text-encoder", f"file:{vectors}"])
    assert res.exit_code == 0, res.output
    assert markdown_rows(res.stdout)["llm"][1] == lin(7, D)


def test_params_refuses_data_and_n_news_together_or_data_without_train(tiny_dir, monkeypatch, capsys):
    code, _, err = run_main(["params", "-d", str(tiny_dir), "--n-news", "5"], monkeypatch, capsys)
    assert code == 2 and err == "newsbench: error: -d and --n-news both set the ID rows; give one\n"
    dev_only = tiny_dir / "dev"
    code, _, err = run_main(["params", "-d", str(dev_only)], monkeypatch, capsys)
    assert code == 2 and err == (f"newsbench: error: -d {dev_only}: no train split with impressions, so no news "
                                 f"seen in train to count\n")


@pytest.mark.parametrize("args, right", [
    (["params", "--gnn-dim", "64"], "--graph-dim"),
    (["embed", "graph", "--dim", "8"], "--graph-dim"),
    (["embed", "graph", "--epochs", "2"], "--graph-epochs"),
    (["embed", "graph", "--seed", "1"], "--graph-seed"),
    (["embed", "graph", "--layers", "1"], "--graph-layers"),
])
def test_former_second_names_are_refused_naming_trains(args, right, monkeypatch, capsys):
    code, out, err = run_main(args, monkeypatch, capsys)
    assert code == 2 and out == ""
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"newsbench: error: {args[-2]}: no such option") and right in err


# ------------------------------------------------------------------------------- RunConfig checks = the CLI's


def bad_values(spec) -> list:
    if spec.field == "text_encoder":
        return ["bert", "hash:0"]
    if spec.choices:
        return ["bogus"]
    if spec.kind is int:
        return [int(spec.lo) - 1, int(spec.hi) + 1]
    low = -1.0 if spec.lo == 0 else spec.lo / 2
    return [low, spec.hi * 2, math.nan]


CASES = [pytest.param(s, v, id=f"{s.field}={v}") for s in RUN_OPTIONS for v in bad_values(s)]


@pytest.mark.parametrize("spec, value", CASES)
def test_runconfig_refuses_what_the_cli_refuses_with_its_message(spec, value, monkeypatch, capsys):
    with pytest.raises(ValueError) as err:
        RunConfig(**{spec.field: value})
    code, out, cli_err = run_main(["train", spec.flag, str(value)], monkeypatch, capsys)
    assert code == 2 and out == ""
    assert cli_err == f"newsbench: error: {err.value} (see `newsbench train --help`)\n"


def test_runconfig_accepts_every_bound_and_refuses_nan_bools_and_fractions():
    for spec in RUN_OPTIONS:
        if spec.kind in (int, float) and spec.lo is not None:
            for bound in (spec.lo, spec.hi):
                value = spec.kind(bound)
                assert getattr(RunConfig(**{spec.field: value}), spec.field) == value, spec.field
        for choice in spec.choices:
            assert getattr(RunConfig(**{spec.field: choice.upper()}), spec.field) == choice
    for bad in (dict(lr=float("nan")), dict(epochs=0), dict(graph_model="x"), dict(epochs=True), dict(epochs=2.5),
                dict(warmup=float("inf"))):
        with pytest.raises(ValueError):
            RunConfig(**bad)
    assert str(pytest.raises(ValueError, RunConfig, lr=float("nan")).value) == "--lr nan: must be a number in 1e-07..1"
    assert RunConfig(graph_model="lightgcn").graph_epochs == 20 and RunConfig().graph_epochs == 3


# ------------------------------------------------------------------------------------------------ -d everywhere

DATA_COMMANDS = [("data", "info"), ("data", "validate"), ("embed", "text"), ("embed", "graph"), ("train",),
                 ("ablate",), ("baselines",), ("params",)]


def click_command(path):
    import typer

    cmd = typer.main.get_command(app)
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", DATA_COMMANDS, ids=" ".join)
def test_every_command_that_reads_data_takes_d_data(path):
    opts = {tuple(sorted(p.opts)): p for p in click_command(path).params}
    assert ("--data", "-d") in opts, f"newsbench {' '.join(path)}: no -d/--data"


def test_data_info_and_validate_take_d_or_path(tiny_dir, tmp_path, monkeypatch, capsys):
    res = runner.invoke(app, ["data", "validate", "-d", str(tiny_dir)])
    assert res.exit_code == 0 and res.stdout.startswith(f"ok: {tiny_dir}: "), res.output
    assert runner.invoke(app, ["data", "validate", str(tiny_dir)]).stdout == res.stdout
    info = runner.invoke(app, ["data", "info", "-d", str(tiny_dir), "--json"])
    assert info.exit_code == 0 and '"train"' in info.stdout
    code, _, err = run_main(["data", "validate"], monkeypatch, capsys)
    assert code == 2 and err == "newsbench: error: no data folder; give one as PATH or -d DATA\n"
    code, _, err = run_main(["data", "info", str(tiny_dir), "-d", str(tmp_path)], monkeypatch, capsys)
    assert code == 2 and err == f"newsbench: error: two data folders, {tiny_dir} and -d {tmp_path}; give one\n"


# ------------------------------------------------------------------------------------------------ --help at 80

# Measured at 80 columns before this change: ablate 286 lines, train 224, embed graph 112, baselines 90, with
# description columns down to 22 characters; after: 132, 104, 52, 60 lines and at least 37 characters.
HELP_LINES = {("ablate",): 150, ("train",): 120, ("embed", "graph"): 70, ("embed", "text"): 50, ("baselines",): 70,
              ("params",): 55, ("data", "info"): 35, ("data", "validate"): 30, ("data", "synth"): 35,
              ("data", "download"): 35}
MIN_DESCRIPTION = 35


def description_widths(text: str) -> list[int]:
    """Width of the description column of each option row of a rich --help."""
    widths = []
    for line in text.splitlines():
        m = re.match(r"│ \*?\s*-[^│]*?(<[a-z\[\]]+>|[A-Z]+)\s+", line)     # [*] --long -s --no-long <type>
        if m and line.rstrip().endswith("│"):
            widths.append(len(line.rstrip()) - 2 - m.end())
    return widths


@pytest.mark.parametrize("path", list(HELP_LINES), ids=" ".join)
def test_help_reads_at_80_columns(path):
    res = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert len(lines) < HELP_LINES[path], len(lines)
    widths = description_widths(res.stdout)
    assert len(widths) >= len([p for p in click_command(path).params if p.param_type_name == "option"]) - 1
    assert min(widths) >= MIN_DESCRIPTION, min(widths)
    assert "[default:" not in res.stdout            # defaults inline, not a line of their own per option
    last_panel = max(i for i, line in enumerate(lines) if line.startswith("╰"))
    assert any(line.lstrip().startswith("Example") for line in lines[last_panel:])     # examples at the end


def test_run_option_help_comes_from_the_table_with_range_and_default():
    res = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "80"})
    for panel in ("Model", "Training", "Features", "Execution", "Output"):
        assert f"─ {panel} ─" in res.stdout
    words = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.stdout).split())       # wrapped descriptions read on
    assert "--epochs <int> Training epochs. 1..1,000; default 3." in words
    assert "--lr-decay <str> LR decay after the warm-up, to ~0. none | linear | cosine; default none." in words


# ------------------------------------------------------------------------------------------------ plurals


def test_plural():
    assert [plural(n, "run") for n in (0, 1, 2, 1500)] == ["0 runs", "1 run", "2 runs", "1,500 runs"]
    assert plural(1, "configuration") == "1 configuration" and plural(1, "news", "news") == "1 news"


def test_a_one_run_grid_says_1_run(tiny_dir, tmp_path):
    res = runner.invoke(app, ["ablate", "-d", str(tiny_dir), "--subsets", "id", "--seeds", "0", "--dry-run",
                              "--results", str(tmp_path / "r")], env={"COLUMNS": "120"})
    assert res.exit_code == 0, res.output
    assert "1 run: 0 done, 1 pending, 0 locked" in res.stdout and "1 runs" not in res.output


# ------------------------------------------------------------------------------------- Ctrl-C in the report phase

GRID = ["--text-encoder", "hash:16", "--epochs", "1", "--subsets", "id,id+llm", "--fusions", "concat", "--seeds", "0",
        "--dim", "16", "--id-dim", "8", "--user-hidden", "8", "--history-len", "5"]
# As in test_interrupt: Ctrl-C at its default in the child, whatever the shell that started the tests did to it.
DEFAULT_SIGINT = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                  "os.execv(sys.argv[1], sys.argv[1:])")


def ablate(data, results, *extra) -> list[str]:
    return [sys.executable, "-c", DEFAULT_SIGINT, sys.executable, "-m", "newsbench", "ablate", "-d", str(data),
            "--results", str(results), *GRID, *extra]


@pytest.fixture(scope="module")
def trained(tiny_dir, tmp_path_factory):
    """A results folder with the grid's 2 runs recorded, and its cache: the report phase is then all that is left."""
    root = tmp_path_factory.mktemp("report-phase")
    env = {**os.environ, "NEWSBENCH_CACHE": str(root / "cache"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(ablate(tiny_dir, root / "results", "--no-report"), env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root


@pytest.mark.slow
@pytest.mark.parametrize("event", ["baselines-start", "report-start"])
@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["ctrl-c", "sigterm"])
def test_a_stop_in_the_report_phase_says_interrupted(tiny_dir, trained, sig, code, event):
    from test_interrupt import signal_at

    from newsbench import grid

    release = trained / f"release-{event}-{code}"
    env = {**os.environ, "NEWSBENCH_CACHE": str(trained / "cache"), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           grid.TRACE_ENV: "1", grid.PAUSE_ENV: f"{event}:{release}"}
    status, err = signal_at(ablate(tiny_dir, trained / "results"), env, event, sig, release)
    assert status == code, err[-3000:]
    assert "interrupted: 2 of 2 runs done; rerun the same command to resume" in err
    assert "Traceback" not in err and "newsbench: interrupted" not in err        # ablate's line, once


def test_ctrl_c_in_train_says_interrupted(tiny_dir, tmp_path, monkeypatch, capsys):
    # typer >= 0.20 turns Ctrl-C into a silent exit 130; main says it. In-process: the interrupt lands in training.
    import newsbench.train

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(newsbench.train, "run_and_save", ctrl_c)
    code, _, err = run_main(["train", "-d", str(tiny_dir), "-m", "id", "--results", str(tmp_path), "--no-progress"],
                            monkeypatch, capsys)
    assert code == 130 and err.splitlines()[-1] == "newsbench: interrupted", err


@pytest.mark.minilm
def test_minilm_width_is_the_models_own():
    # params counts `minilm` at MINILM_DIM without loading the model; st:FOLDER loads it and asks: the same width
    from newsbench.features.text import minilm_path
    from newsbench.params import MINILM_DIM, text_width

    assert text_width(f"st:{minilm_path()}") == MINILM_DIM == text_width("minilm")
