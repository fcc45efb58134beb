"""Wall time by stage, for the one-line breakdown `ablate` ends with (data, features, training, evaluation, report)."""

from __future__ import annotations

import contextlib
import time

STAGES = ("data", "text features", "graph features", "training", "evaluation", "report")
SHORT = {"text features": "text", "graph features": "graph", "training": "train", "evaluation": "eval"}


class StageClock:
    """Accumulates wall seconds per stage name; `with clock("data"): ...` adds the block's duration."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def __call__(self, stage: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - t0)

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + max(0.0, seconds)

    def add_runs(self, wall: float, train_sum: float, eval_sum: float) -> None:
        """Split the wall time of the runs phase into training and evaluation by the runs' own timings.

        One run at a time: the runs' train and eval seconds, the rest (process start, feature loading in workers,
        record writing) under 'other'. Runs in parallel: their seconds overlap, so both are scaled to the wall."""
        busy = train_sum + eval_sum
        if busy <= 0:
            self.add("other", wall)
            return
        scale = min(1.0, wall / busy)
        self.add("training", train_sum * scale)
        self.add("evaluation", eval_sum * scale)
        self.add("other", wall - busy * scale)

    def line(self) -> str:
        """'time (s): data 3.1, text 0.0, graph 41, train 120, eval 9.8, report 1.2, other 0.4; total 177': stages
        in pipeline order, short names, so the line fits 80 columns."""
        total = time.perf_counter() - self.started
        names = [s for s in STAGES if s in self.seconds] + [s for s in self.seconds if s not in STAGES + ("other",)]
        rest = total - sum(self.seconds.values())
        parts = [f"{SHORT.get(name, name)} {_fmt(self.seconds[name])}" for name in names]
        parts.append(f"other {_fmt(self.seconds.get('other', 0.0) + max(0.0, rest))}")
        return "time (s): " + ", ".join(parts) + f"; total {_fmt(total)}"


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"
