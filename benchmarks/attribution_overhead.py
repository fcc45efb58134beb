"""Extra evaluation cost of modality attribution, as a ratio to plain evaluation, per fusion, in one run.

Plain evaluation = score_dev + evaluate (what every run does); attribution = model_attribution (one more scoring
pass per modality with that modality's projected vectors replaced by their mean, then the per-category AUCs).
CPU seconds (time.process_time), best of 3, one torch thread as in a run (cfg.cpu_threads = 1).

Run: python benchmarks/attribution_overhead.py [--text-encoder hash|minilm] [--data PATH]   (default: demo, minilm)
"""
import torch

from newsbench.config import RunConfig
from newsbench.features import load_features
from newsbench.model import has_weights
from newsbench.train import evaluate, model_attribution, score_dev

from cpu_timing import best_of, evaluation_setup, trained_model

args, ds, cpu = evaluation_setup("minilm")
base = RunConfig(text_encoder=args.text_encoder, epochs=1)
feats = load_features(ds, base, progress=False)
print(f"{ds.name}: {len(ds.dev):,} dev impressions, {len(ds.dev.cand):,} candidates, {len(ds.news):,} news, "
      f"{len(ds.news.categories)} categories; id+llm+gnn, text {args.text_encoder}, 1 training epoch")


for fusion in ("concat", "gate", "attention", "mean"):
    cfg = RunConfig(text_encoder=args.text_encoder, epochs=1, fusion=fusion)
    torch.manual_seed(0)
    model = trained_model(ds, feats, cfg, cpu)

    def plain():
        scores, w = score_dev(model, ds, cfg, cpu)
        evaluate(scores, ds, w if has_weights(cfg.fusion, 3) else None)
        return scores

    scores, t_eval = best_of(plain)
    attr, t_attr = best_of(lambda: model_attribution(model, ds, cfg, cpu, scores))
    drops = ", ".join(f"{m} {v:+.4f}" for m, v in attr["all"].items())
    print(f"{fusion:<10} eval {t_eval:6.2f} s  attribution {t_attr:6.2f} s  ratio {t_attr / t_eval:4.2f}  "
          f"(AUC lost, all candidates: {drops})")
