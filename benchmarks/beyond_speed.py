"""Extra evaluation cost of the beyond-accuracy metrics (newsbench.beyond), as a ratio to the rest of a run's
evaluation, per configuration, in one run.

Evaluation without them = score_dev + the sort of the scores + evaluate (AUC, MRR, nDCG, cold/warm, categories);
with them, plus beyond.run_arrays over the same sort (top 5 and 10, seven per-impression metrics each, two of them
normalised, coverage with its bootstrap replicates). The part that does not depend on the run (histories,
hash-encoded titles, per-candidate values and their bounds, the coverage draws: beyond.DevContext) is built once
per dataset per process, as in a grid; its one-off cost (the import of scipy.special, and a call that builds the
context less one that does not) is printed apart, with what it makes of a 21-run grid on 2 workers and of a lone
run. CPU seconds (time.process_time), best of 5 (of 3 for the one-off part), one torch thread as in a run
(cfg.cpu_threads = 1).

Run: python benchmarks/beyond_speed.py [--text-encoder hash|minilm] [--data PATH]   (default: demo, hash)
"""
import sys
import time

import numpy as np

from newsbench import beyond
from newsbench.config import RunConfig
from newsbench.features import load_features
from newsbench.metrics import ascending_order
from newsbench.model import has_weights
from newsbench.train import evaluate, score_dev

from cpu_timing import best_of, evaluation_setup, trained_model

args, ds, cpu = evaluation_setup("hash")
print(f"{ds.name}: {len(ds.dev):,} dev impressions, {len(ds.dev.cand):,} candidates, {len(ds.news):,} news; "
      f"text {args.text_encoder}, 1 training epoch")

# scipy.special (calibration's rel_entr) is imported by nothing else a run uses: its import is part of the one-off
t = time.process_time()
already = "scipy.special" in sys.modules
import scipy.special  # noqa: E402,F401
t_import = 0.0 if already else time.process_time() - t

ratios, extra, evals = [], [], []
for mods, fusion in ((("id",), "none"), (("id", "llm"), "concat"), (("id", "llm"), "gate")):
    cfg = RunConfig(modalities=mods, fusion=fusion, text_encoder=args.text_encoder, epochs=1)
    feats = load_features(ds, cfg, progress=False)
    model = trained_model(ds, feats, cfg, cpu)

    def plain():        # as newsbench.train._train_run: one sort of the scores serves MRR, nDCG and the top lists
        scores, w = score_dev(model, ds, cfg, cpu)
        order = ascending_order(scores, ds.dev.cand_ptr)
        evaluate(scores, ds, w if has_weights(cfg.fusion, len(mods)) else None, order)
        return scores, order

    (scores, order), t_eval = best_of(plain, n=5)
    arrays, t_beyond = best_of(lambda: beyond.run_arrays(scores, ds, order=order), n=5)
    ratios.append(t_beyond / t_eval)
    extra.append(t_beyond)
    evals.append(t_eval)
    summary = beyond.summary(arrays)["metrics"]
    print(f"{cfg.label:<16} eval {t_eval:6.3f} s  beyond {t_beyond:6.3f} s  adds {t_beyond / t_eval:6.1%}  "
          f"(ILD cat@10 {summary['ild-cat@10']:.3f}, novelty@10 {summary['novelty@10']:.2f}, "
          f"coverage@10 {summary['coverage@10']:.3f})")
# The one-off part as a grid worker pays it, after its first evaluation: building beyond.DevContext (hash-encoded
# titles, history centroids, per-candidate values and their sorted bounds, the coverage draws) within a call, less a
# call on a built context; `fingerprint None`: each call builds its own. Best of 3, plus the import above.
fresh = type("Fresh", (), {"dev": ds.dev, "news": ds.news, "train": ds.train, "fingerprint": None})()
probe = np.random.default_rng(0).random(len(ds.dev.cand)).astype(np.float32)
_, t_build = best_of(lambda: beyond.run_arrays(probe, fresh), n=3)
_, t_later = best_of(lambda: beyond.run_arrays(probe, ds), n=5)
t_ctx = t_import + t_build - t_later
print(f"once per dataset and process: {t_ctx:.3f} s (import of scipy.special {t_import:.3f} s, a call building the "
      f"context {t_build:.3f} s less one on a built context {t_later:.3f} s)")
print(f"per run, the context built: largest addition {max(ratios):.1%} of the evaluation without the metrics")
# The demo's grid: 21 runs over 2 worker processes, each building the context once (evaluation times: these three)
n_runs, workers = 21, 2
grid = (n_runs * np.mean(extra) + workers * t_ctx) / (n_runs * np.mean(evals))
print(f"a grid of {n_runs} runs on {workers} workers, the context built once per worker: adds {grid:.1%}; "
      f"a lone run (context and all): adds {(extra[0] + t_ctx) / evals[0]:.0%} to the `id` run's evaluation")
