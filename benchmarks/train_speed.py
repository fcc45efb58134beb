"""Training and evaluation speed of newsbench's id+llm+gnn/attention model against a naive reference, in one run.

Run:  python benchmarks/train_speed.py --scale small            (CPU; small uses random graph features on CPU)
      python benchmarks/train_speed.py --scale demo --graph real
      python benchmarks/train_speed.py --scale small --device cuda

Prints, and writes as JSON (--json):
- samples/s and s/epoch of newsbench's training loop (`newsbench.train.train_model`: distinct-news encoding, history
  pooling by embedding_bag, SparseAdam on the ID table, epoch-wide vectorised negative sampling) and of a NAIVE
  REFERENCE written below (every history/candidate slot encoded on its own via `Recommender.forward_naive`, dense
  Adam over the whole ID table, each batch built by a Python loop over its samples), same data, same batch size;
- FLOPs of one training step (fwd + bwd, FlopCounterMode: matmuls only) over its measured time, against the FLOP/s
  of a large torch.matmul timed in the same run (model FLOPs utilisation);
- evaluation of the whole dev split (scoring + metrics) and candidates/s, against a naive per-impression loop over
  a subset of impressions, extrapolated by candidate count;
- peak RSS (and CUDA max allocated), the load average (the machine may be shared) and torch's thread count.

Text features use the `hash` encoder (no model download). Graph features: `--graph real` trains LightGCN on the
train split (about 50 s on demo, 15 min on small on CPU), `--graph random` uses seeded N(0, 1) 128-d vectors (same
shapes, same cost per step: the speed does not depend on the values); `auto` is real except small on CPU.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from newsbench import atomic
from newsbench import train as T
from newsbench.config import RunConfig
from newsbench.data import synth
from newsbench.data.load import load_dataset
from newsbench.features import load_features
from newsbench.metrics import auc_score, mrr_score, ndcg_score


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# ------------------------------------------------------------------------------------------------ the features
def make_features(dataset, cfg: RunConfig, graph: str, device: str) -> tuple[dict, str]:
    """{'llm', 'gnn'} float32 matrices and a description of where the gnn columns came from."""
    llm = load_features(dataset, RunConfig(modalities=("llm",), fusion="none", text_encoder="hash"),
                        progress=False)["llm"]
    if graph == "random":
        gnn = np.random.default_rng(0).standard_normal((len(dataset.news), cfg.graph_dim)).astype(np.float32)
        return {"llm": llm, "gnn": gnn}, "RANDOM seeded N(0,1) 128-d (not LightGCN; speed only)"
    gcfg = RunConfig(modalities=("gnn",), fusion="none", device=device)
    gnn = load_features(dataset, gcfg, progress=False)["gnn"]
    return {"llm": llm, "gnn": gnn}, f"real LightGCN ({gcfg.graph}, {gcfg.graph_layers} layers, cached)"


# ----------------------------------------------------------------------------------------- naive reference
class NaiveBatches:
    """Per-sample Python batching: each sample's history and negatives built one by one from the CSR arrays."""

    def __init__(self, beh, history_len: int, negatives: int, seed: int):
        self.beh, self.l, self.k = beh, history_len, negatives
        self.rng = np.random.default_rng(seed)
        clicks = T.TrainingClicks(beh)
        self.samples = [(int(i), int(s)) for i, s in zip(clicks.pos_imp, clicks.pos)]
        self.rng.shuffle(self.samples)

    def batch(self, start: int, size: int):
        beh = self.beh
        hists, masks, cands = [], [], []
        for imp, slot in self.samples[start:start + size]:
            h = beh.hist[beh.hist_ptr[imp]:beh.hist_ptr[imp + 1]].tolist()[-self.l:]
            hists.append(h + [0] * (self.l - len(h)))
            masks.append([True] * len(h) + [False] * (self.l - len(h)))
            a, b = beh.cand_ptr[imp], beh.cand_ptr[imp + 1]
            negs = [beh.cand[j] for j in range(a, b) if beh.label[j] == 0]
            picked = self.rng.choice(len(negs), self.k, replace=len(negs) < self.k)
            cands.append([int(beh.cand[slot])] + [int(negs[j]) for j in picked])
        return torch.tensor(hists), torch.tensor(masks), torch.tensor(cands)


def naive_train(dataset, features, cfg: RunConfig, device: torch.device, steps: int) -> dict:
    """1 warm-up step, then `steps` timed steps of the naive reference; per-step time extrapolated to an epoch."""
    model, *_ = T._build_model(dataset, features, cfg, device, sparse_id=False)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)                 # dense: walks every ID row each step
    batches = NaiveBatches(dataset.train, cfg.history_len, cfg.negatives, cfg.seed)
    p = len(batches.samples)
    steps = min(steps, (p + cfg.batch_size - 1) // cfg.batch_size - 1)
    model.train()
    times, cpu = [], []
    for s in range(steps + 1):
        sync(device)
        t0, c0 = time.perf_counter(), time.process_time()
        hist, mask, cand = batches.batch(s * cfg.batch_size, cfg.batch_size)
        hist, mask, cand = hist.to(device), mask.to(device), cand.to(device)
        loss = F.cross_entropy(model.forward_naive(hist, mask, cand), torch.zeros(len(cand), dtype=torch.long,
                                                                                  device=device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync(device)
        if s > 0:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    step_s = float(np.mean(times))
    return {"steps_timed": steps, "seconds_per_step": step_s, "cpu_seconds_per_step": float(np.mean(cpu)),
            "samples_per_second": cfg.batch_size / step_s,
            "seconds_per_epoch_extrapolated": step_s * p / cfg.batch_size}


# ----------------------------------------------------------------------------------------------- FLOPs, peak
def step_flops(model, dataset, cfg: RunConfig, device: torch.device, naive: bool) -> int:
    """FLOPs of one fwd + bwd training step on the first batch of an epoch (optimiser step excluded)."""
    clicks = T.TrainingClicks(dataset.train)
    imp, cands = T.sample_epoch(clicks, cfg.negatives, np.random.default_rng(cfg.seed))
    hist, mask = T.history_matrix(dataset.train, cfg.history_len)
    rows = imp[:cfg.batch_size]
    h, m = torch.from_numpy(hist[rows]).to(device), torch.from_numpy(mask[rows]).to(device)
    c = torch.from_numpy(cands[:cfg.batch_size]).to(device)
    with FlopCounterMode(display=False) as counter:
        scores = (model.forward_naive if naive else model)(h, m, c)
        F.cross_entropy(scores, torch.zeros(len(c), dtype=torch.long, device=device)).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def matmul_flops_per_second(device: torch.device, n: int, reps: int = 5) -> float:
    """Best FLOP/s of an n x n float32 torch.matmul: the machine's practical dense peak."""
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best


# ------------------------------------------------------------------------------------------------ evaluation
@torch.no_grad()
def naive_impression_scores(model, beh, i: int, cfg: RunConfig, device: torch.device) -> np.ndarray:
    """Scores of impression i's candidates computed on their own: encode its history and candidates, pool, dot."""
    h = beh.hist[beh.hist_ptr[i]:beh.hist_ptr[i + 1]][-cfg.history_len:].astype(np.int64)
    c = torch.from_numpy(beh.cand[beh.cand_ptr[i]:beh.cand_ptr[i + 1]].astype(np.int64)).to(device)
    if len(h):
        hv = model.news_encoder(torch.from_numpy(h).to(device))[0][None]
        mask = torch.ones(1, len(h), dtype=torch.bool, device=device)
    else:
        hv = torch.zeros(1, 1, cfg.dim, device=device)
        mask = torch.zeros(1, 1, dtype=torch.bool, device=device)
    user = model.user_encoder(hv, mask)
    return (model.news_encoder(c)[0] @ user[0]).cpu().numpy()


def naive_eval(model, dataset, cfg: RunConfig, device: torch.device, n_imp: int) -> dict:
    """Per-impression loop over the first n_imp dev impressions: score, then the reference metrics; extrapolated
    to the whole dev split by candidate count."""
    beh = dataset.dev
    n_imp = min(n_imp, len(beh))
    t0 = time.perf_counter()
    for i in range(n_imp):
        s = naive_impression_scores(model, beh, i, cfg, device)
        y = beh.label[beh.cand_ptr[i]:beh.cand_ptr[i + 1]].astype(np.int64)
        if 0 < y.sum() < len(y):
            auc_score(y, s)
        mrr_score(y, s), ndcg_score(y, s, 5), ndcg_score(y, s, 10)
    sync(device)
    secs = time.perf_counter() - t0
    n_cand = int(beh.cand_ptr[n_imp])
    return {"impressions_timed": n_imp, "candidates_timed": n_cand, "seconds": secs,
            "candidates_per_second": n_cand / secs,
            "seconds_extrapolated": secs * len(beh.cand) / max(n_cand, 1)}


# ------------------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", choices=synth.SCALES, default="demo")
    ap.add_argument("--batch-size", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=None,
                    help="newsbench steps to time (default: one whole epoch); s/epoch is then extrapolated")
    ap.add_argument("--naive-steps", type=int, default=None, help="naive reference steps to time (default 5/3)")
    ap.add_argument("--naive-eval-impressions", type=int, default=300)
    ap.add_argument("--device", default="cpu", help="cpu | cuda[:N]")
    ap.add_argument("--amp", action="store_true", help="bf16/fp16 autocast on CUDA (newsbench loop only)")
    ap.add_argument("--graph", choices=("auto", "real", "random"), default="auto")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    ap.add_argument("--data", type=Path, default=None, help="MIND folder (default: generated <scale> seed 0)")
    ap.add_argument("--json", type=Path, default=None, help="where to write the figures (default: "
                    "train_speed_<scale>_<device>.json in the current folder)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(T.resolve_device(args.device))
    graph = args.graph
    if graph == "auto":
        graph = "random" if (args.scale == "small" and device.type == "cpu") else "real"
    cfg = RunConfig(modalities=("id", "llm", "gnn"), fusion="attention", seed=0, epochs=1,
                    batch_size=args.batch_size, text_encoder="hash", device=str(device), amp=args.amp)
    out: dict = {"scale": args.scale, "device": str(device), "batch_size": args.batch_size,
                 "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                 "torch": torch.__version__, "platform": platform.platform(), "amp": args.amp,
                 "loadavg_start": loadavg(), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    if device.type == "cuda":
        out["gpu"] = torch.cuda.get_device_name(device)
        torch.cuda.reset_peak_memory_stats(device)

    t0 = time.perf_counter()
    path = args.data or synth.default_path(scale=args.scale, seed=0)
    dataset = load_dataset(path, progress=False)
    features, gdesc = make_features(dataset, cfg, graph, str(device))
    out["data"] = {"path": str(path), "train_impressions": len(dataset.train), "dev_impressions": len(dataset.dev),
                   "news": len(dataset.news), "dev_candidates": int(len(dataset.dev.cand)),
                   "text_features": "hash", "graph_features": gdesc, "prepare_seconds": time.perf_counter() - t0}
    print(f"data {args.scale}: {len(dataset.train):,} train / {len(dataset.dev):,} dev impressions, "
          f"{len(dataset.news):,} news; llm=hash, gnn={gdesc}")
    print(f"device {device}{' (' + out['gpu'] + ')' if 'gpu' in out else ''}, torch threads "
          f"{torch.get_num_threads()}/{os.cpu_count()} cores, load average {out['loadavg_start']}")

    # newsbench's training loop, as train_run runs it
    model, *_ = T._build_model(dataset, features, cfg, device)
    c0 = time.process_time()
    losses, secs, p, _ = T.train_model(model, dataset, cfg, device, max_steps=args.steps)
    cpu = time.process_time() - c0
    steps_done = min((p + cfg.batch_size - 1) // cfg.batch_size, args.steps or 10 ** 9)
    per_step = secs[0] / steps_done
    full = args.steps is None or steps_done * cfg.batch_size >= p
    fast = {"steps_timed": steps_done, "whole_epoch": full, "seconds": secs[0], "cpu_seconds": cpu,
            "samples_per_second": min(p, steps_done * cfg.batch_size) / secs[0],
            "seconds_per_epoch": secs[0] if full else per_step * p / cfg.batch_size,
            "seconds_per_epoch_kind": "measured (one whole epoch)" if full else
            f"extrapolated from {steps_done} steps", "train_samples_per_epoch": p, "loss": losses[0]}
    out["train"] = fast
    print(f"newsbench train: {fast['samples_per_second']:,.0f} samples/s, {fast['seconds_per_epoch']:.2f} s/epoch "
          f"({fast['seconds_per_epoch_kind']}, {p:,} samples/epoch, {cpu:.1f} CPU s)")

    # FLOPs and the matmul yardstick
    flops = step_flops(model, dataset, cfg, device, naive=False)
    mm_n = 8192 if device.type == "cuda" else 2048
    peak = matmul_flops_per_second(device, mm_n)
    achieved = flops / (secs[0] / steps_done)
    out["flops"] = {"train_step_flops": flops, "train_step_seconds": secs[0] / steps_done,
                    "achieved_flops_per_second": achieved, "matmul_n": mm_n,
                    "matmul_flops_per_second": peak, "mfu": achieved / peak}
    print(f"FLOPs/step {flops / 1e9:.2f} G (fwd+bwd, matmuls) -> {achieved / 1e9:.1f} GFLOP/s; "
          f"torch.matmul {mm_n}^2 float32 {peak / 1e9:.1f} GFLOP/s; MFU {achieved / peak:.1%}")

    # evaluation: score the whole dev split + every metric, as train_run does
    model.eval()
    sync(device)
    t0 = time.perf_counter()
    scores, weights = T.score_dev(model, dataset, cfg, device)
    T.evaluate(scores, dataset, weights)
    sync(device)
    ev = time.perf_counter() - t0
    nv = naive_eval(model, dataset, cfg, device, args.naive_eval_impressions)
    out["eval"] = {"seconds": ev, "candidates": int(len(scores)), "candidates_per_second": len(scores) / ev,
                   "naive": nv, "ratio": nv["seconds_extrapolated"] / ev}
    print(f"newsbench eval (dev, metrics included): {ev:.2f} s, {len(scores) / ev:,.0f} candidates/s; naive "
          f"per-impression loop {nv['candidates_per_second']:,.0f} candidates/s over {nv['impressions_timed']} "
          f"impressions -> {nv['seconds_extrapolated']:.1f} s extrapolated; ratio {out['eval']['ratio']:.1f}x")
    del model

    # the naive reference: same data, same batch size, same model modules
    n_steps = args.naive_steps or (3 if args.scale == "small" else 5)
    naive = naive_train(dataset, features, cfg, device, n_steps)
    out["naive_train"] = naive
    out["train_ratio"] = fast["samples_per_second"] / naive["samples_per_second"]
    print(f"naive reference train: {naive['samples_per_second']:,.0f} samples/s, "
          f"{naive['seconds_per_epoch_extrapolated']:.1f} s/epoch (extrapolated from {naive['steps_timed']} steps "
          f"after 1 warm-up); newsbench / naive = {out['train_ratio']:.1f}x samples/s "
          f"(CPU-time ratio {naive['cpu_seconds_per_step'] / (cpu / steps_done):.1f}x)")

    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2 ** 20 if device.type == "cuda" else None
    out["loadavg_end"] = loadavg()
    print(f"peak RSS {out['peak_rss_mb']:,.0f} MB" + (f", CUDA max allocated {out['cuda_max_allocated_mb']:,.0f} MB"
                                                      if out["cuda_max_allocated_mb"] is not None else "")
          + f"; load average at end {out['loadavg_end']}")
    dest = args.json or Path(f"train_speed_{args.scale}_{device.type}.json")
    atomic.write_json(dest, out)
    print(f"wrote {dest}")
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
