"""The stage clock behind ablate's last line: runs' wall time split into training and evaluation."""

from __future__ import annotations

import pytest

from newsbench.timing import StageClock


def test_runs_one_at_a_time_keep_their_seconds_and_the_rest_is_other():
    clock = StageClock()
    clock.add_runs(wall=10.0, train_sum=6.0, eval_sum=3.0)
    assert clock.seconds == pytest.approx({"training": 6.0, "evaluation": 3.0, "other": 1.0})


def test_parallel_runs_are_scaled_to_the_wall():
    clock = StageClock()
    clock.add_runs(wall=10.0, train_sum=15.0, eval_sum=5.0)     # two workers: 20 busy seconds in 10 of wall
    assert clock.seconds == pytest.approx({"training": 7.5, "evaluation": 2.5, "other": 0.0})


def test_line_lists_stages_in_pipeline_order_and_sums_to_the_total():
    clock = StageClock()
    clock.add("report", 1.0)
    clock.add("data", 2.0)
    with clock("graph features"):
        pass
    line = clock.line()
    assert line.startswith("time (s): data 2.0, graph 0.0, report 1.0, other ")
    assert "; total " in line and len("ablate: " + line) <= 80
