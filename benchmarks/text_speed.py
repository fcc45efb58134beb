"""MiniLM text encoding: texts/s for titles and title+abstract, as a share of the float32 matmul peak of this run.

Run:  python benchmarks/text_speed.py [--data <generated or MIND folder>] [--n 2000] [--device cpu] [--repeat 3]
                                      [--budgets 2048,4096] [--max-texts 256] [--profile] [--json F]

For each field set, the first --n news texts are encoded by
- `new`: newsbench's path, `newsbench.features.text.st_encode` (token-budget batches, one `encode` call each), once
  per budget in --budgets (default: the device's TOKEN_BUDGET) with --max-texts texts per call at most;
- `old`: the path before it, kept here for comparison: character-length-sorted chunks of 8 batches, and
  sentence-transformers' `encode` with batch_size 64 inside each chunk.
Paths and the matmul yardstick are interleaved in --repeat rounds. The machine may be shared, so each `encode`
call keeps its best round and a path's time is the sum of those bests (plus counting the tokens, for the new path);
the best whole round, disturbances included, is printed as "whole". FLOPs per text come from the model's shape and the token counts
(matmuls only, as the training benchmark counts them): per token and layer 2 * (4 h^2 + 2 h f) for the Q/K/V/output
projections and the feed-forward, plus 4 h L for the attention scores and their weighted sum over a sequence of L
tokens; counted over the padded batches each path actually computes (`computed`) and over the real tokens only
(`useful`). The yardstick is a float32 torch.matmul of 2048^2, best of all rounds; the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from newsbench.data.load import load_dataset
from newsbench.features import text as T


def matmul_flops_per_second(n: int = 2048, device: str = "cpu", reps: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(reps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


def layer_flops(tokens: np.ndarray, seq_len: np.ndarray, h: int, f: int, layers: int) -> float:
    """Matmul FLOPs of `layers` transformer layers over texts of `tokens` tokens each in sequences of `seq_len`."""
    per_token = 2 * (4 * h * h + 2 * h * f) + 4 * h * seq_len
    return float(layers * (tokens * per_token).sum())


def old_calls(model, texts: list[str], batch_size: int = 64) -> list:
    """st_encode before token budgets, as its `encode` calls: chunks of 8 batches sorted by characters, which
    sentence-transformers sorts again and cuts into batches of `batch_size`."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    chunk = batch_size * 8
    return [lambda idx=order[s:s + chunk]: model.encode([texts[i] for i in idx], batch_size=batch_size,
                                                         convert_to_numpy=True, show_progress_bar=False)
            for s in range(0, len(texts), chunk)]


def new_calls(model, texts: list[str], batches: list[np.ndarray]) -> list:
    """st_encode's `encode` calls, one per token-budget batch (its loop, without the copy into the output)."""
    return [lambda idx=idx: model.encode([texts[i] for i in idx], batch_size=len(idx), convert_to_numpy=True,
                                         show_progress_bar=False) for idx in batches]


def old_padded(texts: list[str], lengths: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The padded length each text is computed at by `old_encode`: sentence-transformers sorts each chunk by
    characters (longest first) and pads each batch to its longest text in tokens."""
    order = np.argsort([len(t) for t in texts], kind="stable")
    chars = np.array([len(t) for t in texts])
    out = np.empty_like(lengths)
    for start in range(0, len(order), batch_size * 8):
        idx = order[start:start + batch_size * 8]
        inner = idx[np.argsort(-chars[idx], kind="stable")]
        for b in range(0, len(inner), batch_size):
            sl = inner[b:b + batch_size]
            out[sl] = lengths[sl].max()
    return out


def new_padded(lengths: np.ndarray, batches: list[np.ndarray]) -> np.ndarray:
    out = np.empty_like(lengths)
    for idx in batches:
        out[idx] = lengths[idx].max()
    return out


def profile_batch(model, texts: list[str], lengths: np.ndarray, budget: int, cap: int, top: int = 6) -> list:
    """Where one middle-sized batch of the new path spends its time: the top torch ops by self CPU time."""
    from torch.profiler import ProfilerActivity, profile

    batches = T.token_batches(lengths, budget, cap)
    idx = batches[len(batches) // 2]
    call = new_calls(model, texts, [idx])[0]
    call()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        call()
    ops = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ops)
    return [{"texts": len(idx), "tokens": int(lengths[idx].max())}] + \
        [{"op": e.key, "share": e.self_cpu_time_total / total}
         for e in sorted(ops, key=lambda e: -e.self_cpu_time_total)[:top]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset folder (default: the generated demo, seed 0)")
    ap.add_argument("--n", type=int, default=2000, help="texts per field set")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--budgets", default=None, help="comma-separated token budgets for the new path "
                    "(default: the device's TOKEN_BUDGET)")
    ap.add_argument("--max-texts", type=int, default=None, help="texts per call of the new path "
                    "(default: the device's MAX_TEXTS)")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds; each path keeps its best")
    ap.add_argument("--no-old", action="store_true", help="skip the old path")
    ap.add_argument("--profile", action="store_true", help="also profile one batch per field set (torch ops' "
                    "shares of the time: how much is matmul)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    kind = "cuda" if args.device.startswith("cuda") else "cpu"
    budgets = [int(b) for b in args.budgets.split(",")] if args.budgets else [T.TOKEN_BUDGET[kind]]
    cap = args.max_texts or T.MAX_TEXTS[kind]
    if args.data is None:
        from newsbench.data import synth

        args.data = str(synth.default_path(scale="demo", seed=0))
    ds = load_dataset(Path(args.data), progress=False)
    model = T.load_st_model(T.minilm_path(), args.device)
    cfg = model[0].auto_model.config
    h, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    out: dict = {"device": args.device, "threads": torch.get_num_threads(), "max_texts": cap, "budgets": budgets,
                 "repeat": args.repeat, "load_average_start": os.getloadavg()}
    print(f"{args.n} texts per field set, {out['threads']} threads, load average {out['load_average_start']}",
          flush=True)
    peaks: list[float] = []
    for fields in ("title", "title+abstract"):
        texts = T.texts_for(ds.news, fields)[:args.n]
        t0 = time.perf_counter()
        lengths = T.token_counts(model, texts)
        tokenize = time.perf_counter() - t0
        useful = layer_flops(lengths, lengths, h, f, layers)
        paths: dict[str, dict] = {}
        if not args.no_old:
            paths["old (batch 64)"] = {"calls": old_calls(model, texts), "padded": old_padded(texts, lengths),
                                       "batches": -(-len(texts) // 64), "extra": 0.0}
        for b in budgets:
            batches = T.token_batches(lengths, b, cap)
            paths[f"new (budget {b})"] = {"calls": new_calls(model, texts, batches), "batches": len(batches),
                                          "padded": new_padded(lengths, batches), "extra": tokenize}
        T.st_encode(model, texts[:256], cap, budgets[0])                                       # warm-up
        for p in paths.values():
            p["best"] = [float("inf")] * len(p["calls"])
            p["wall"] = float("inf")
        for _ in range(args.repeat):
            peaks.append(matmul_flops_per_second(device=args.device))
            for p in paths.values():
                w0 = time.perf_counter()
                for i, call in enumerate(p["calls"]):
                    t0 = time.perf_counter()
                    call()
                    p["best"][i] = min(p["best"][i], time.perf_counter() - t0)
                p["wall"] = min(p["wall"], time.perf_counter() - w0 + p["extra"])
        res: dict = {"texts": len(texts), "tokens_mean": float(lengths.mean()), "tokenize_seconds": tokenize}
        for name, p in paths.items():
            # seconds: the sum of each call's best round (plus counting tokens, for the new path): what the path
            # costs undisturbed; wall_seconds: the best whole round, disturbances included.
            secs, padded = sum(p["best"]) + p["extra"], p["padded"]
            computed = layer_flops(padded, padded, h, f, layers)
            res[name] = {"seconds": secs, "wall_seconds": p["wall"], "batches": p["batches"],
                         "calls": len(p["calls"]), "texts_per_second": len(texts) / secs,
                         "texts_per_second_wall": len(texts) / p["wall"],
                         "padded_tokens_mean": float(padded.mean()),
                         "tokens_per_second": float(lengths.sum()) / secs,
                         "flops_computed": computed, "flops_useful": useful,
                         "flops_per_second_computed": computed / secs, "flops_per_second_useful": useful / secs}
        if args.profile:
            res["profile"] = profile_batch(model, texts, lengths, budgets[0], cap)
        out[fields] = res
    peak = max(peaks)
    out.update(matmul_flops_per_second=peak, matmul_flops_per_second_all=peaks, load_average_end=os.getloadavg())
    print(f"float32 matmul 2048^2: best {peak / 1e9:.1f} GFLOP/s (rounds {min(peaks) / 1e9:.0f}-"
          f"{max(peaks) / 1e9:.0f}); load average {out['load_average_start']} -> {out['load_average_end']}")
    for fields in ("title", "title+abstract"):
        res = out[fields]
        print(f"{fields}: {res['tokens_mean']:.1f} tokens/text (counting them: {res['tokenize_seconds']:.2f} s)")
        for name, r in res.items():
            if not isinstance(r, dict) or name == "profile":
                continue
            r["share_of_peak_computed"] = r["flops_per_second_computed"] / peak
            r["share_of_peak_useful"] = r["flops_per_second_useful"] / peak
            print(f"  {name:<19} {r['texts_per_second']:5,.0f} texts/s (whole {r['texts_per_second_wall']:4,.0f})"
                  f" {r['batches']:3} batches, padded "
                  f"{r['padded_tokens_mean']:5.1f}  {r['flops_per_second_computed'] / 1e9:6.1f} GFLOP/s = "
                  f"{r['share_of_peak_computed']:4.0%} of peak ({r['share_of_peak_useful']:.0%} useful)")
        if "profile" in res:
            head, ops = res["profile"][0], res["profile"][1:]
            print(f"  profile of one batch ({head['texts']} texts x {head['tokens']} tokens): "
                  + ", ".join(f"{o['op'].removeprefix('aten::')} {o['share']:.0%}" for o in ops))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
