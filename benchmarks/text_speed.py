"""MiniLM text encoding: texts/s for titles and title+abstract, as a share of the float32 matmul peak of this run.

Run:  python benchmarks/text_speed.py [--data <generated or MIND folder>] [--n 2000] [--device cpu] [--json F]

For each field set: encodes the first --n news texts with newsbench's encoder path (`newsbench.features.text.
st_encode`: length-sorted chunks, sentence-transformers' `encode`), and reports texts/s and tokens/s. FLOPs per text
come from the model's shape and the token counts (matmuls only, as the training benchmark counts them):
per token and layer 2 * (4 h^2 + 2 h f) for the Q/K/V/output projections and the feed-forward, plus 4 h L for the
attention scores and their weighted sum over a sequence of L tokens; counted over the padded batches the model
actually computes (`flops_computed`) and over the real tokens only (`flops_useful`). The yardstick is a float32
torch.matmul of 2048^2 (CPU) timed in the same run; the load average is printed next to it.
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


def padded_lengths(lengths: np.ndarray, order: np.ndarray, chunk: int, batch: int) -> np.ndarray:
    """The padded length each text is computed at: st_encode's length-sorted chunks, then sentence-transformers'
    own sort and batches of `batch` within each chunk (each batch is padded to its longest text)."""
    out = np.empty_like(lengths)
    for start in range(0, len(order), chunk):
        idx = order[start:start + chunk]
        inner = idx[np.argsort(-lengths[idx], kind="stable")]
        for b in range(0, len(inner), batch):
            sl = inner[b:b + batch]
            out[sl] = lengths[sl].max()
    return out


def measure(model, texts: list[str], batch: int) -> dict:
    cfg = model[0].auto_model.config
    h, f, layers = cfg.hidden_size, cfg.intermediate_size, cfg.num_hidden_layers
    max_len = model.max_seq_length
    lengths = np.array([min(len(ids), max_len) for ids in model.tokenizer(texts, add_special_tokens=True)["input_ids"]])
    order = np.argsort([len(t) for t in texts], kind="stable")
    padded = padded_lengths(lengths, order, batch * 8, batch)
    T.st_encode(model, texts[:batch], batch)                      # warm-up
    t0 = time.perf_counter()
    T.st_encode(model, texts, batch)
    secs = time.perf_counter() - t0
    computed = layer_flops(padded, padded, h, f, layers)
    useful = layer_flops(lengths, lengths, h, f, layers)
    return {"texts": len(texts), "seconds": secs, "texts_per_second": len(texts) / secs,
            "tokens_mean": float(lengths.mean()), "padded_tokens_mean": float(padded.mean()),
            "tokens_per_second": float(lengths.sum()) / secs, "flops_computed": computed, "flops_useful": useful,
            "flops_per_second_computed": computed / secs, "flops_per_second_useful": useful / secs}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="dataset folder (default: the generated demo, seed 0)")
    ap.add_argument("--n", type=int, default=2000, help="texts per field set")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data is None:
        from newsbench.data import synth

        args.data = str(synth.default_path(scale="demo", seed=0))
    ds = load_dataset(Path(args.data), progress=False)
    model = T.load_st_model(T.minilm_path(), args.device)
    out: dict = {"device": args.device, "threads": torch.get_num_threads(), "batch_size": args.batch_size,
                 "load_average_start": os.getloadavg()}
    peak = matmul_flops_per_second(device=args.device)
    for fields in ("title", "title+abstract"):
        texts = T.texts_for(ds.news, fields)[:args.n]
        r = measure(model, texts, args.batch_size)
        r["share_of_peak_computed"] = r["flops_per_second_computed"] / peak
        r["share_of_peak_useful"] = r["flops_per_second_useful"] / peak
        out[fields] = r
        print(f"{fields}: {r['texts_per_second']:,.0f} texts/s, {r['tokens_mean']:.1f} tokens "
              f"(padded {r['padded_tokens_mean']:.1f}), {r['flops_per_second_computed'] / 1e9:.1f} GFLOP/s = "
              f"{r['share_of_peak_computed']:.0%} of the matmul peak ({r['share_of_peak_useful']:.0%} useful)",
              flush=True)
    peak_end = matmul_flops_per_second(device=args.device)
    out.update(matmul_flops_per_second=peak, matmul_flops_per_second_end=peak_end,
               load_average_end=os.getloadavg())
    print(f"float32 matmul 2048^2: {peak / 1e9:.1f} GFLOP/s (at the end {peak_end / 1e9:.1f}); "
          f"load average {out['load_average_start']} -> {out['load_average_end']}; {out['threads']} threads")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
