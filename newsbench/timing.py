"""Wall time by stage, for the one-line breakdown `ablate` ends with (data, features, training, evaluation, report)."""

from __future__ import annotations

import contextlib
import time

STAGES = ("data", "text features", "graph features", "training", "evaluation", "report")


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
        """'time: data 3.1 s, text features 0.0 s, ..., other 0.4 s; total 177 s' (stages in pipeline order)."""
        total = time.perf_counter() - self.started
        names = [s for s in STAGES if s in self.seconds] + [s for s in self.seconds if s not in STAGES]
        named = sum(self.seconds.values())
        rest = total - named
        parts = [f"{name} {_fmt(self.seconds[name])}" for name in names if name != "other"]
        other = self.seconds.get("other", 0.0) + max(0.0, rest)
        parts.append(f"other {_fmt(other)}")
        return "time: " + ", ".join(parts) + f"; total {_fmt(total)}"


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 100 else f"{seconds:.0f} s"
