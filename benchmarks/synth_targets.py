"""Issue 13's targets for the generated data, per generator seed and their mean.

    python benchmarks/synth_targets.py --scale demo --seeds 0 1 2 3

Builds each world in memory (no files), computes its card and the clicked-news top-1% share of a 5,000-impression
train sample (as `synth.marginals` and stats.json count it), and prints one row per seed plus the mean:
oracle AUC, learnable ceiling cold AUC, text centroid cold AUC, value of adaptivity (learnable ceiling, oracle) with
standard errors, topic-only and community-only ceilings minus random on cold candidates, and the Spearman rho across
categories between the learnable ceiling's attribution (AUC drop) and the planted weight of each modality.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.stats import spearmanr

from newsbench.data import synth


def clicked_top1(world: synth.World, sample: int = 5000, seed: int = 0) -> float:
    """The clicked-news top-1% share of a random `sample` of train impressions (as `synth.marginals` computes it
    from behaviors.tsv; the world's own arrays, so no files are written)."""
    tr = world.train
    m = len(tr.user)
    pick = np.sort(np.random.default_rng(seed).choice(m, min(sample, m), replace=False))
    clicked = np.concatenate([tr.cand[tr.cand_ptr[i]:tr.cand_ptr[i + 1]][tr.label[tr.cand_ptr[i]:tr.cand_ptr[i + 1]]
                                                                          == 1] for i in pick.tolist()])
    _, counts = np.unique(clicked, return_counts=True)
    return synth._top_share(counts, 0.01)


def attribution_rho(card: dict, scorer: str = "learnable_ceiling", min_impressions: int = 30) -> dict:
    """Spearman rho across categories (with at least `min_impressions` impressions counted) between the scorer's
    AUC drop and the planted weight, per modality."""
    att = card["reference_attribution"][scorer]
    cats = [c for c, n in att["category_impressions"].items() if n >= min_impressions]
    out = {}
    for m in ("id", "llm", "gnn"):
        drop = [att["category"][c][m] for c in cats]
        w = [card["modality_weights"][c][m] for c in cats]
        out[m] = float(spearmanr(drop, w).statistic)
    return out


def row(scale: str, seed: int, save: str | None = None) -> dict:
    t0 = time.perf_counter()
    world = synth.build_world(scale, seed)
    t1 = time.perf_counter()
    card = synth.make_card(world)
    t2 = time.perf_counter()
    if save:
        import json
        from pathlib import Path

        Path(save).mkdir(parents=True, exist_ok=True)
        (Path(save) / f"card-{scale}-s{seed}.json").write_text(json.dumps(card, indent=1))
    ref, voa = card["reference_dev"], card["value_of_adaptivity"]
    rho = attribution_rho(card)
    return {
        "seed": seed,
        "top1": clicked_top1(world),
        "oracle": ref["oracle"]["overall"]["auc"],
        "lc": ref["learnable_ceiling"]["overall"]["auc"],
        "lc_cold": ref["learnable_ceiling"]["cold"]["auc"],
        "text_cold": ref["text_centroid"]["cold"]["auc"],
        "graph_cold": ref["graph_centroid"]["cold"]["auc"],
        "voa_lc": voa["learnable_ceiling"]["auc"], "voa_lc_se": voa["learnable_ceiling"]["se"],
        "voa_or": voa["oracle"]["auc"], "voa_or_se": voa["oracle"]["se"],
        "topic-rnd": ref["ceiling_topic"]["cold"]["auc"] - ref["random"]["cold"]["auc"],
        "comm-rnd": ref["ceiling_community"]["cold"]["auc"] - ref["random"]["cold"]["auc"],
        "rho_id": rho["id"], "rho_llm": rho["llm"], "rho_gnn": rho["gnn"],
        "build_s": t1 - t0, "card_s": t2 - t1,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--save", default=None, help="folder to write each seed's card into")
    args = ap.parse_args()
    rows = [row(args.scale, s, args.save) for s in args.seeds]
    keys = [k for k in rows[0] if k != "seed"]
    print("seed " + " ".join(f"{k:>10}" for k in keys))
    for r in rows:
        print(f"{r['seed']:>4} " + " ".join(f"{r[k]:>10.4f}" for k in keys))
    print("mean " + " ".join(f"{np.mean([r[k] for r in rows]):>10.4f}" for k in keys))
    print("value of adaptivity / SE (learnable ceiling): "
          + ", ".join(f"seed {r['seed']}: {r['voa_lc'] / r['voa_lc_se']:.1f}" for r in rows))


if __name__ == "__main__":
    main()
