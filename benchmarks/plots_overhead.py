"""What `newsbench report --plots` adds to the report, in CPU seconds, in one process.

Two parts: the fusion pairs' impression-level bootstrap intervals that only the forest plot needs
(build_report(fusion_ci=True) against fusion_ci=False), and drawing + writing every figure (PNG, PDF, CSV;
figures.write_figures). Also the report without plots, for the ratio. CPU seconds (time.process_time), best of 3;
the first call (matplotlib's import and font cache) is timed apart: a `newsbench report --plots` process pays it once.

Run: python benchmarks/plots_overhead.py [--results results/example] [--card DATA/dataset_card.json]
"""
import argparse
import tempfile
import time

from newsbench.report import build_report
from newsbench.report import figures
from newsbench.report.card import read_card

from cpu_timing import best_of

ap = argparse.ArgumentParser()
ap.add_argument("--results", default="results/example")
ap.add_argument("--card", default=None, help="a dataset_card.json (the learned-against-planted figures need one)")
ap.add_argument("--resamples", type=int, default=10_000)
args = ap.parse_args()
card = read_card(args.card) if args.card else None


t = time.process_time()
import matplotlib.backends.backend_agg  # noqa: E402,F401  (the import a --plots process pays once)
t_import = time.process_time() - t
_, t_plain = best_of(lambda: build_report(args.results, card=card, n_resamples=args.resamples))
rep, t_ci = best_of(lambda: build_report(args.results, card=card, n_resamples=args.resamples, fusion_ci=True))
with tempfile.TemporaryDirectory() as tmp:
    t = time.process_time()
    out = figures.write_figures(rep, tmp)
    t_first = time.process_time() - t
    _, t_draw = best_of(lambda: figures.write_figures(rep, tmp))
added = t_ci - t_plain + t_draw
print(f"{args.results}: {len(rep.data['groups'])} configurations, {rep.data['protocol']['runs']} runs, "
      f"{args.resamples:,} resamples; figures: {', '.join(out['names'])}")
print(f"report without plots       {t_plain:6.2f} s")
print(f"fusion pairs' bootstrap CI {t_ci - t_plain:6.2f} s")
print(f"figures (PNG+PDF+CSV)      {t_draw:6.2f} s   (first call {t_first:.2f} s, matplotlib import {t_import:.2f} s)")
print(f"--plots adds               {added:6.2f} s   ({added / t_plain:.2f}x the report; first call "
      f"{t_ci - t_plain + t_first + t_import:.2f} s)")
