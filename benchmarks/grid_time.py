"""Training time of the default grid on a dataset: measured per configuration, predicted for the grid, and bounded.

Run:  python benchmarks/grid_time.py --data <small folder> [--steps 30] [--json F] [--compare]

For each configuration of the default grid (`newsbench.grid.default_grid`), one process, one torch thread (a grid
run's setting): times `--steps` training steps of `newsbench.train.train_model` at the default batch (after two
warm-up steps) and counts one step's matmul FLOPs (FlopCounterMode, forward + backward). From those it prints:
- s/epoch of each configuration (steps per epoch x measured s/step, negative sampling included);
- the grid's predicted training time with `--workers 2` on 2 cores: the sum over 3 seeds x epochs of every
  configuration's epoch time, halved (two runs side by side; evaluation, attribution and features not included);
- the lower bound: the grid's FLOPs at the float32 matmul peak of both cores (a 2048^2 torch.matmul on one thread,
  timed in the same run), i.e. what no implementation of this model at this batch size can beat on this machine.
`--compare` also times each configuration with the previous implementation (torch's SparseAdam for the ID table,
the literal concat: cat of projections, then the MLP), alternating with the current one, and prints the ratio.
Graph and text features are seeded random matrices of the real shapes (384 and 128 columns): speed does not
depend on the values.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from newsbench import atomic
from newsbench import train as T
from newsbench.config import RunConfig
from newsbench.data.load import load_dataset
from newsbench.grid import default_grid
from train_speed import matmul_flops_per_second      # benchmarks/ is on sys.path when this script runs


def step_flops(model, dataset, cfg: RunConfig) -> float:
    """Matmul FLOPs of one training step (forward + backward), averaged over the first 3 batches of an epoch."""
    clicks = T.TrainingClicks(dataset.train)
    imp, cands = T.sample_epoch(clicks, cfg.negatives, np.random.default_rng(cfg.seed))
    hist, mask = T.history_matrix(dataset.train, cfg.history_len)
    g = torch.Generator().manual_seed(0)
    out = []
    for s in range(3):
        rows = imp[s * cfg.batch_size:(s + 1) * cfg.batch_size]
        c = torch.from_numpy(cands[s * cfg.batch_size:(s + 1) * cfg.batch_size])
        unknown = torch.rand((len(rows), cfg.history_len + c.shape[1]), generator=g) < cfg.id_dropout
        with FlopCounterMode(display=False) as counter:
            scores = model(torch.from_numpy(hist[rows]), torch.from_numpy(mask[rows]), c, unknown)
            F.cross_entropy(scores, torch.zeros(len(c), dtype=torch.long)).backward()
        model.zero_grad(set_to_none=True)
        out.append(counter.get_total_flops())
    return float(np.mean(out))


def timed(dataset, features, cfg: RunConfig, steps: int, previous: bool) -> float:
    """Seconds per training step over `steps` steps (after 2 warm-up steps), one thread."""
    model, *_ = T._build_model(dataset, features, cfg, torch.device("cpu"))
    if previous:                  # before issue 16: the literal concat and torch's SparseAdam
        model.news_encoder.fold_concat = False
        original = T.make_optimizers

        def sparse_adam(m, lr):
            opts = original(m, lr)
            return [o if not isinstance(o, T.RowAdam) else torch.optim.SparseAdam(o.param_groups[0]["params"], lr=lr)
                    for o in opts]
        T.make_optimizers = sparse_adam
    try:
        T.train_model(model, dataset, cfg, torch.device("cpu"), max_steps=2)
        _, seconds, _, _ = T.train_model(model, dataset, cfg, torch.device("cpu"), max_steps=steps)
    finally:
        if previous:
            T.make_optimizers = original
    return seconds[0] / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="a generated or MIND folder")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--compare", action="store_true", help="also time the previous implementation, alternating")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(1)
    dataset = load_dataset(args.data)
    rng = np.random.default_rng(0)
    features = {"llm": rng.standard_normal((len(dataset.news), 384)).astype(np.float32) * 0.05,
                "gnn": rng.standard_normal((len(dataset.news), 128)).astype(np.float32) * 0.1}
    peak = matmul_flops_per_second(torch.device("cpu"), 2048)
    base = RunConfig()
    configs = default_grid(base, [0])
    steps_per_epoch = -(-len(T.TrainingClicks(dataset.train)) // base.batch_size)
    n_seeds, epochs = 3, base.epochs
    print(f"{dataset.name}: {steps_per_epoch} steps an epoch at batch {base.batch_size}; 1 thread; matmul peak "
          f"{peak / 1e9:.0f} GFLOP/s; load average {os.getloadavg()[0]:.2f}")
    rows, total_s, total_prev, total_flops = [], 0.0, 0.0, 0.0
    for cfg in configs:
        model, *_ = T._build_model(dataset, features, cfg, torch.device("cpu"))
        flops = step_flops(model, dataset, cfg)
        s = timed(dataset, features, cfg, args.steps, previous=False)
        prev = timed(dataset, features, cfg, args.steps, previous=True) if args.compare else None
        row = {"config": cfg.label, "gflop_per_step": flops / 1e9, "seconds_per_step": s,
               "seconds_per_epoch": s * steps_per_epoch, "share_of_peak": flops / s / peak,
               "previous_seconds_per_step": prev}
        rows.append(row)
        total_s += s * steps_per_epoch * epochs * n_seeds
        total_prev += (prev or 0.0) * steps_per_epoch * epochs * n_seeds
        total_flops += flops * steps_per_epoch * epochs * n_seeds
        line = (f"  {cfg.label:<22} {flops / 1e9:6.2f} GFLOP/step {s * 1000:6.0f} ms/step "
                f"{s * steps_per_epoch:6.0f} s/epoch {100 * row['share_of_peak']:4.0f}% of peak")
        if prev:
            line += f"  previous {prev * 1000:4.0f} ms/step ({prev / s:.2f}x)"
        print(line, flush=True)
    out = {"dataset": dataset.name, "steps_per_epoch": steps_per_epoch, "matmul_peak_flops": peak,
           "configs": rows, "grid_training_minutes_workers2": total_s / 2 / 60,
           "grid_lower_bound_minutes_2cores": total_flops / peak / 2 / 60,
           "previous_grid_training_minutes_workers2": total_prev / 2 / 60 if args.compare else None,
           "loadavg": list(os.getloadavg())}
    print(f"default grid ({n_seeds} seeds x {epochs} epochs), --workers 2: training ~{out['grid_training_minutes_workers2']:.0f}"
          f" min predicted; lower bound at the matmul peak of 2 cores {out['grid_lower_bound_minutes_2cores']:.0f} min"
          + (f"; previous implementation ~{out['previous_grid_training_minutes_workers2']:.0f} min" if args.compare
             else ""))
    if args.json:
        atomic.write_text(args.json, json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
