"""Extra evaluation cost of the beyond-accuracy metrics (newsbench.beyond), as a ratio to the rest of a run's
evaluation, per configuration, in one run.

Evaluation without them = score_dev + the sort of the scores + evaluate (AUC, MRR, nDCG, cold/warm, categories);
with them, plus beyond.run_arrays over the same sort (top 5 and 10, seven per-impression metrics each, two of them
normalised, coverage with its bootstrap replicates). The part that does not depend on the run (histories,
hash-encoded titles, per-candidate values and their bounds, the coverage draws: beyond.DevContext) is built once
per dataset per process, as in a grid; its one-off cost (the first call less a later one, so it includes the
import of scipy.special) is printed apart, with what it makes of a 21-run grid on 2 workers and of a lone run. CPU
seconds (time.process_time), best of 5, one torch thread as in a run (cfg.cpu_threads = 1).

Run: python benchmarks/beyond_speed.py [--text-encoder hash|minilm] [--data PATH]   (default: demo, hash)
"""
import argparse
import time

import numpy as np

import torch

from newsbench import beyond
from newsbench.config import RunConfig
from newsbench.data.load import load_dataset
from newsbench.features import load_features
from newsbench.metrics import ascending_order
from newsbench.model import has_weights
from newsbench.train import _build_model, evaluate, score_dev, train_model

ap = argparse.ArgumentParser()
ap.add_argument("--text-encoder", default="hash")
ap.add_argument("--data", default=None)
args = ap.parse_args()
torch.set_num_threads(1)
ds = load_dataset(args.data)
cpu = torch.device("cpu")
print(f"{ds.name}: {len(ds.dev):,} dev impressions, {len(ds.dev.cand):,} candidates, {len(ds.news):,} news; "
      f"text {args.text_encoder}, 1 training epoch")


def best_of(fn, n=5):
    out, best = None, float("inf")
    for _ in range(n):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return out, best


# The one-off part, measured as a process pays it: the first call on a dataset (building beyond.DevContext:
# hash-encoded titles, history centroids, per-candidate values, the coverage draws; then the first top lists, the
# sorted candidate bounds of the normalised metrics, the import of scipy.special) less a later call on the same
# scores, which pays only the run's part.
fresh = type("Fresh", (), {"dev": ds.dev, "news": ds.news, "train": ds.train, "fingerprint": ds.fingerprint})()
probe = np.random.default_rng(0).random(len(ds.dev.cand)).astype(np.float32)
_, t_first = best_of(lambda: beyond.run_arrays(probe, fresh), n=1)
_, t_later = best_of(lambda: beyond.run_arrays(probe, fresh))
t_ctx = t_first - t_later
print(f"once per dataset and process (first call {t_first:.3f} s less a later one {t_later:.3f} s): {t_ctx:.3f} s")

ratios, extra, evals = [], [], []
for mods, fusion in ((("id",), "none"), (("id", "llm"), "concat"), (("id", "llm"), "gate")):
    cfg = RunConfig(modalities=mods, fusion=fusion, text_encoder=args.text_encoder, epochs=1)
    feats = load_features(ds, cfg, progress=False)
    model, *_ = _build_model(ds, feats, cfg, cpu)
    train_model(model, ds, cfg, cpu)
    model.eval()

    def plain():        # as newsbench.train._train_run: one sort of the scores serves MRR, nDCG and the top lists
        scores, w = score_dev(model, ds, cfg, cpu)
        order = ascending_order(scores, ds.dev.cand_ptr)
        evaluate(scores, ds, w if has_weights(cfg.fusion, len(mods)) else None, order)
        return scores, order

    (scores, order), t_eval = best_of(plain)
    arrays, t_beyond = best_of(lambda: beyond.run_arrays(scores, ds, order=order))
    ratios.append(t_beyond / t_eval)
    extra.append(t_beyond)
    evals.append(t_eval)
    summary = beyond.summary(arrays)["metrics"]
    print(f"{cfg.label:<16} eval {t_eval:6.3f} s  beyond {t_beyond:6.3f} s  adds {t_beyond / t_eval:6.1%}  "
          f"(ILD cat@10 {summary['ild-cat@10']:.3f}, novelty@10 {summary['novelty@10']:.2f}, "
          f"coverage@10 {summary['coverage@10']:.3f})")
print(f"per run, the context built: largest addition {max(ratios):.1%} of the evaluation without the metrics")
# The demo's grid: 21 runs over 2 worker processes, each building the context once (evaluation times: these three)
n_runs, workers = 21, 2
grid = (n_runs * np.mean(extra) + workers * t_ctx) / (n_runs * np.mean(evals))
print(f"a grid of {n_runs} runs on {workers} workers, the context built once per worker: adds {grid:.1%}; "
      f"a lone run (context and all): adds {(extra[0] + t_ctx) / evals[0]:.0%} to the `id` run's evaluation")
