"""Peak memory and time of reading an EB-NeRD folder, on a random folder in EB-NeRD's schema scaled by --scale.

Writes (once, into --out) a train split of round(12e6 * scale) impressions by round(1e6 * scale) users over
125,541 * min(1, 10 * scale) articles (ebnerd_large's articles; its train behaviors ~12M rows, ~1M users), with
--inview candidates and --history clicks per user on average (geometric draws), and a validation split a tenth of
that; then reads it in a fresh process (newsbench.data.ebnerd.read_ebnerd, no cache) and prints the peak resident
memory (ru_maxrss), the seconds, and the bytes of the Dataset's arrays. The arithmetic for the full size is in
docs/data.md ("EB-NeRD at scale").

Run: python benchmarks/ebnerd_memory.py --scale 0.05 --out /tmp/ebnerd-scaled [--history 60 --inview 12]
"""
import argparse
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ap = argparse.ArgumentParser()
ap.add_argument("--scale", type=float, default=0.05)
ap.add_argument("--history", type=float, default=60.0, help="mean history clicks per user")
ap.add_argument("--inview", type=float, default=12.0, help="mean candidates per impression")
ap.add_argument("--out", type=Path, required=True)
ap.add_argument("--step", choices=("write", "read"), help=argparse.SUPPRESS)
args = ap.parse_args()


def lists(lengths: np.ndarray, values: np.ndarray, t: pa.DataType) -> pa.Array:
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values, t))


def write(folder: Path, m: int, users: int, n_art: int, rng) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    user = rng.integers(1, users + 1, m).astype(np.uint32)
    size = rng.geometric(1 / args.inview, m)
    # distinct candidates per impression: a random first article, then every 7th after it
    start = np.repeat(np.cumsum(size) - size, size)
    pos = np.arange(int(size.sum())) - start
    cand = ((np.repeat(rng.integers(0, n_art, m), size) + 7 * pos) % n_art + 1).astype(np.int32)
    first = (np.cumsum(size) - size).astype(np.int64)
    pq.write_table(pa.table({
        "impression_id": pa.array(np.arange(1, m + 1), pa.uint32()),
        "impression_time": pa.array(np.datetime64("2023-05-18", "us") + rng.integers(0, 7 * 86400, m) * 10 ** 6,
                                    pa.timestamp("us")),
        "article_ids_inview": lists(size, cand, pa.int32()),
        "article_ids_clicked": lists(np.ones(m, np.int64), cand[first], pa.int32()),
        "user_id": pa.array(user),
    }), folder / "behaviors.parquet")
    seen = np.unique(user)
    h = rng.geometric(1 / args.history, len(seen))
    pq.write_table(pa.table({
        "user_id": pa.array(seen, pa.uint32()),
        "article_id_fixed": lists(h, rng.integers(1, n_art + 1, int(h.sum())).astype(np.int32), pa.int32()),
    }), folder / "history.parquet")


if args.step is None:
    # Writing and reading each run in their own child of this lean process: Linux carries a process's peak RSS
    # across exec, so a reader started by the writer would report the writer's peak.
    for step in ("write", "read"):
        if step == "write" and (args.out / "articles.parquet").exists():
            continue
        out = subprocess.run([sys.executable, __file__, "--step", step, *sys.argv[1:]], capture_output=True, text=True)
        print(out.stdout + out.stderr, end="")
        if out.returncode:
            sys.exit(out.returncode)
    sys.exit(0)

if args.step == "write":
    rng = np.random.default_rng(0)
    n_art = int(125_541 * min(1.0, 10 * args.scale))
    m, users = round(12e6 * args.scale), round(1e6 * args.scale)
    write(args.out / "train", m, users, n_art, rng)
    write(args.out / "validation", m // 10, users // 2, n_art, rng)
    k = rng.poisson(3, n_art)
    pq.write_table(pa.table({
        "article_id": pa.array(np.arange(1, n_art + 1), pa.int32()),
        "title": pa.array([f"title {i}" for i in range(n_art)]),
        "subtitle": pa.array([f"subtitle {i}" for i in range(n_art)]),
        "category_str": pa.array(np.array(["nyheder", "sport", "underholdning"])[np.arange(n_art) % 3]),
        "subcategory": lists(np.ones(n_art, np.int64), np.arange(n_art) % 50, pa.int16()),
        "ner_clusters": lists(k, np.char.add("E", rng.integers(0, 20_000, int(k.sum())).astype(str)), pa.string()),
    }), args.out / "articles.parquet")
    sys.exit(0)

from newsbench.data.arrays import dataset_arrays  # noqa: E402
from newsbench.data.ebnerd import read_ebnerd  # noqa: E402

base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
ds = read_ebnerd(args.out)
seconds = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
held = sum(a.nbytes for a in dataset_arrays(ds).values())
files = sum(p.stat().st_size for p in args.out.rglob("*.parquet"))
print(f"scale {args.scale}: {len(ds.train):,} train + {len(ds.dev):,} dev impressions, {len(ds.news):,} articles, "
      f"{len(ds.users):,} users; history pairs {len(ds.train.hist) + len(ds.dev.hist):,}, candidates "
      f"{len(ds.train.cand) + len(ds.dev.cand):,}")
print(f"parquet {files / 2**20:,.0f} MiB; read {seconds:.1f} s; peak RSS {peak / 2**10:,.0f} MiB (after imports "
      f"{base / 2**10:,.0f} MiB); Dataset arrays {held / 2**20:,.0f} MiB, of which histories "
      f"{(ds.train.hist.nbytes + ds.dev.hist.nbytes) / 2**20:,.0f} MiB")
