"""Shared fixtures: the tiny generated dataset (made once per test session), an ablation on it, an isolated cache
folder, and `cli` (newsbench in this process, through its entry point)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REAL_MIND = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mind-real"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never touch the user's cache folder.
    monkeypatch.setenv("NEWSBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(autouse=True)
def _help_width_from_columns(monkeypatch):
    # typer reads TERMINAL_WIDTH once, when typer.rich_utils is first imported, and keeps it as the width of every
    # later --help: a test that set it (test_docs' 240 columns) fixed the width of the next test's help in the same
    # worker (an 80-column check then failed, by test order). Every test's help follows COLUMNS instead.
    from typer import rich_utils

    monkeypatch.delenv("TERMINAL_WIDTH", raising=False)
    monkeypatch.setattr(rich_utils, "MAX_WIDTH", None)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A `tiny` generated MIND folder (train/ + dev/), seed 0."""
    from newsbench.data.synth import generate

    out = tmp_path_factory.mktemp("tiny")
    generate("tiny", 0, out)
    return out


@pytest.fixture(scope="session")
def ablate_tiny(tiny_dir, tmp_path_factory):
    """`newsbench ablate -d TINY GRID...` into a new results folder: the folder and the command's stdout. For module
    fixtures, which run before `_isolated_cache` is in place: the cache is named here, the same folder."""
    def run(*grid: str) -> tuple[Path, str]:
        from typer.testing import CliRunner

        from newsbench.cli import app

        res = tmp_path_factory.mktemp("ablated") / "r"
        cache = str(tmp_path_factory.getbasetemp() / "cache")
        done = CliRunner().invoke(app, ["ablate", "-d", str(tiny_dir), "-r", str(res), *grid],
                                  env={"COLUMNS": "80", "NEWSBENCH_CACHE": cache})
        assert done.exit_code == 0, done.output
        return res, done.stdout

    return run


@pytest.fixture(scope="session")
def real_mind() -> Path:
    if not REAL_MIND.is_dir():
        pytest.skip("../shared/data/mind-real is absent")
    return REAL_MIND


class Result:
    """What `cli` saw: the exit status, stdout, stderr, and both together."""

    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr
        self.output = stdout + stderr


@pytest.fixture
def cli(capsys, monkeypatch):
    """`newsbench ARGS` in this process, through the CLI's entry point (one-line errors, exit statuses)."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args) -> Result:
        from newsbench.cli import main

        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["newsbench", *map(str, args)])
        with pytest.raises(SystemExit) as stop:
            main()
        out = capsys.readouterr()
        return Result(stop.value.code or 0, out.out, out.err)

    return run
