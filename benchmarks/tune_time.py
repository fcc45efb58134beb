"""Where the time of a `newsbench tune` went, read back from its results folder: per configuration the counted
trials and their wall seconds (Optuna's start-to-completion times in RESULTS/tuning.db), and the final runs' training
and evaluation seconds (their records), with the sums a budget needs.

Run:  python benchmarks/tune_time.py RESULTS [--trials 8] [--seeds 3]

`--trials` and `--seeds` extrapolate: the full tune's time predicted from the mean trial and final-run seconds of
each configuration measured here (one process; two processes on two cores take about half when the cores are
free). State the machine's load beside any figure (`uptime`): the numbers are wall seconds.
"""

from __future__ import annotations

import argparse
import statistics

import optuna

from newsbench import store
from newsbench.tuning import driver
from newsbench.tuning import study as studies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--trials", type=int, default=None, help="predict for this many trials per configuration")
    ap.add_argument("--seeds", type=int, default=None, help="predict for this many final seeds")
    args = ap.parse_args()
    storage = studies.storage(args.results)
    records = store.load_records(args.results)
    total_meas = total_pred = 0.0
    print(f"{'configuration':<24} {'trials':>6} {'s/trial':>8} {'final runs':>10} {'s/run':>7} {'predicted s':>12}")
    for summary in optuna.get_all_study_summaries(storage):
        study = optuna.load_study(study_name=summary.study_name, storage=storage)
        done = [t for t in study.get_trials(deepcopy=False) if studies.counted(t) and t.datetime_complete]
        secs = [(t.datetime_complete - t.datetime_start).total_seconds() for t in done]
        group = summary.user_attrs.get("tuned_group")
        runs = [r for r in records if r["group"] == group]
        run_secs = [sum(r["timings"]["epoch_seconds"]) + (r["timings"].get("eval_seconds") or 0)
                    + (r["timings"].get("attribution_seconds") or 0) for r in runs]
        per_trial = statistics.mean(secs) if secs else 0.0
        per_run = statistics.mean(run_secs) if run_secs else 0.0
        n_trials = args.trials or len(secs)
        n_runs = args.seeds or len(runs)
        pred = n_trials * per_trial + n_runs * per_run
        total_meas += driver.trial_seconds(study) + sum(run_secs)
        total_pred += pred
        print(f"{summary.user_attrs.get('label', '?'):<24} {len(secs):>6} {per_trial:>8.1f} {len(runs):>10} "
              f"{per_run:>7.1f} {pred:>12.0f}")
    print(f"measured: {total_meas:.0f} s of trials and final runs (features and data loading not included)")
    if args.trials or args.seeds:
        print(f"predicted for --trials {args.trials or 'as measured'}, {args.seeds or 'measured'} seeds: "
              f"{total_pred:.0f} s = {total_pred / 60:.1f} min in one process, ~{total_pred / 120:.1f} min with two "
              f"processes on two free cores")


if __name__ == "__main__":
    main()
