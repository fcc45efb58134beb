"""benchmarks/gpu_check.sh without a GPU: its dry mode checks the plan and runs the CPU parts on tiny."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def test_unknown_option_is_one_line_and_status_2(tmp_path):
    res = _run("--frobnicate", "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and res.stderr.strip() == "gpu_check: error: unknown option --frobnicate"


@pytest.mark.slow
def test_dry_run_writes_every_step_and_figure(tmp_path):
    out = tmp_path / "out"
    res = _run("--dry-run", "--python", sys.executable, "--out", str(out), timeout=1500)
    summary = json.loads((out / "gpu_check.json").read_text())
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert summary["mode"].startswith("dry-run") and summary["ok"]
    assert [s["step"] for s in summary["steps"]] == ["plan", "data-tiny", "tests", "train", "train-amp", "lightgcn",
                                                     "ablate"]
    assert all(s["exit"] == 0 for s in summary["steps"])
    assert summary["tests"] and ("skipped" in summary["tests"] or "passed" in summary["tests"])
    fig = summary["figures"]
    assert fig["train_s_per_epoch"] > 0 and fig["train_amp_s_per_epoch"] > 0 and fig["lightgcn_s_per_epoch"] > 0
    assert fig["ablate_runs"] == 7                                  # the default grid (+ id+rand), one seed
    line = summary["ablate"]["time_line"]
    assert line.startswith("time (s): data ") and "; total " in line
    assert not (out / "cache").exists() or (out / "cache").is_dir()
