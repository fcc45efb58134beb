"""`newsbench tune` (issue 24): search-space files, the carved validation day, no dev read while tuning, the equal
budget, resume after a kill, two processes on one results folder, and `report --tuned`. On the tiny dataset with
the hash encoder, 1 epoch and 2-3 trials."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

optuna = pytest.importorskip("optuna")

from newsbench import grid, store  # noqa: E402
from newsbench.tuning import space as spaces  # noqa: E402
from newsbench.tuning import split  # noqa: E402
from newsbench.tuning import study as studies  # noqa: E402

FAST = ["-e", "hash", "--epochs", "1"]


def trials_of(results: Path) -> dict[str, list]:
    """{configuration label: [(state, value, params) per trial, by number]} of RESULTS/tuning.db."""
    storage = studies.storage(results)
    out = {}
    for s in optuna.get_all_study_summaries(storage):
        if "label" not in s.user_attrs:
            # created by a running tune that has not yet written its attributes (under its lock, before any trial)
            continue
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        out[s.user_attrs["label"]] = [(t.state.name, t.value, t.params) for t in study.get_trials()]
    return out


# ------------------------------------------------------------------------------------------- search-space files


BAD_SPACES = [
    ("lr = [1, 2", "not valid TOML"),
    ("[weight_decay]\nlow = 0.0\nhigh = 0.1", "unknown parameter 'weight_decay'"),
    ("[lr]\nlow = 0.01\nhigh = 0.001", "low 0.01 is above high 0.001"),
    ("[lr]\nlow = 1e-4\nhigh = 2.0", "high 2.0 is outside --lr's range"),
    ("[news_dropout]\nlow = 0.0\nhigh = 0.5\nlog = true", "a log scale needs low > 0"),
    ("[user_hidden]\nlow = 16.5\nhigh = 64", "must be an integer"),
    ("[lr]\nlow = 1e-4\nhigh = 1e-2\nstep = 2", "unknown key 'step'"),
    ("[dim]\nlow = 64", "give low and high"),
    ("[lr]\nlow = 'small'", "low must be a number"),
]


@pytest.mark.parametrize("text, reason", BAD_SPACES)
def test_bad_space_file_is_one_line_exit_2_before_any_trial(cli, tiny_dir, tmp_path, text, reason):
    f = tmp_path / "space.toml"
    f.write_text(text)
    results = tmp_path / "r"
    res = cli("tune", "-d", tiny_dir, *FAST, "--trials", "2", "--space", f, "-r", results)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"newsbench: error: {f}: "), res.stderr
    assert reason in lines[0]
    assert not (results / "tuning.db").exists()


def test_missing_space_file(cli, tiny_dir, tmp_path):
    res = cli("tune", "-d", tiny_dir, "--space", tmp_path / "nope.toml", "-r", tmp_path / "r")
    assert res.exit_code == 2 and "nope.toml: search-space file not found" in res.stderr


def test_space_file_overrides_adds_and_drops(tmp_path):
    f = tmp_path / "space.toml"
    f.write_text("news_dropout = false\n\n[lr]\nhigh = 0.005\n\n[dim]\nlow = 32\nhigh = 128\nlog = true\n")
    got = {p.name: p for p in spaces.load_space(f)}
    assert set(got) == {"lr", "dim", "id_dropout", "user_hidden"}
    assert (got["lr"].low, got["lr"].high, got["lr"].log) == (1e-4, 0.005, True)    # low and log kept
    assert (got["dim"].low, got["dim"].high, got["dim"].kind) == (32, 128, int)
    # every declared range lies inside its option's range (newsbench.options)
    from newsbench.options import SPECS

    for p in spaces.DEFAULT_SPACE:
        assert SPECS[p.name].lo <= p.low <= p.high <= SPECS[p.name].hi
    # id_dropout only where the run has an ID table
    assert "id_dropout" not in [p.name for p in spaces.for_modalities(spaces.DEFAULT_SPACE, ("llm", "gnn"))]


def test_dry_run_prints_plan_and_space_and_writes_nothing(cli, tiny_dir, tmp_path):
    results = tmp_path / "r"
    res = cli("tune", "-d", tiny_dir, *FAST, "--trials", "4", "--dry-run", "-r", results)
    assert res.exit_code == 0, res.output
    for text in ("id+llm+gnn/attention", "id+gnn/concat", "0 of 4", "search space", "0.0001..0.01", "user_hidden",
                 "2019-11-14", "18 final runs"):
        assert text in res.stdout
    assert "id+rand" not in res.stdout             # the placebo is a control, not tuned by default
    assert not results.exists() or not any(results.iterdir())


# --------------------------------------------------------------------------------------------- validation day


def test_carve_takes_the_last_train_day_and_drops_dev(tiny_dir):
    from newsbench.data.load import load_training_data

    ds = load_training_data(tiny_dir)
    carved, info = split.carve(ds)
    day = ds.train.time.max() // 86400
    late = ds.train.time // 86400 == day
    assert len(carved.dev) == late.sum() and len(carved.train) == (~late).sum() > 0
    assert set(carved.dev.impression_id) == set(ds.train.impression_id[late])
    assert not set(carved.dev.impression_id) & set(ds.dev.impression_id)
    # CSR rows carried whole: each impression's candidates and labels as in train
    i = int(np.flatnonzero(late)[0])
    src = ds.train.label[ds.train.cand_ptr[i]:ds.train.cand_ptr[i + 1]]
    assert np.array_equal(carved.dev.label[carved.dev.cand_ptr[0]:carved.dev.cand_ptr[1]], src)
    assert carved.fingerprint != ds.fingerprint and info["n_validation_impressions"] == late.sum()


def test_carve_refuses_a_single_day(tiny_dir):
    import dataclasses

    from newsbench.data.load import load_training_data
    from newsbench.errors import InputError

    ds = load_training_data(tiny_dir)
    one_day = dataclasses.replace(ds, train=dataclasses.replace(ds.train, time=np.full(len(ds.train), 1_573_344_000)))
    with pytest.raises(InputError, match="one day"):
        split.carve(one_day)


def test_carve_takes_the_last_days_with_impressions(tiny_dir):
    from newsbench.data.load import load_training_data

    ds = load_training_data(tiny_dir)
    days = ds.train.time // 86400
    present = np.unique(days)
    assert len(present) >= 3
    carved, info = split.carve(ds, days=2)
    late = days >= present[-2]
    assert len(carved.dev) == late.sum() and len(carved.train) == (~late).sum() > 0
    assert set(carved.dev.impression_id) == set(ds.train.impression_id[late])
    assert info["validation_days"] == 2 and "(the last 2 train days)" in info["rule"]
    one, _ = split.carve(ds)
    # A wider validation split is other data: its own fingerprint, so its caches and features are its own too.
    assert len(carved.dev) > len(one.dev) and carved.fingerprint != one.fingerprint


def test_carve_refuses_to_take_every_day(tiny_dir):
    from newsbench.data.load import load_training_data
    from newsbench.errors import InputError

    ds = load_training_data(tiny_dir)
    n = len(np.unique(ds.train.time // 86400))
    with pytest.raises(InputError, match=f"--validation-days {n} takes all {n} days of train impressions; at most "
                                         f"{n - 1} leave a day to train on"):
        split.carve(ds, days=n)


@pytest.mark.parametrize("value, reason", [("0", "--validation-days"), ("99", "takes all")])
def test_bad_validation_days_is_one_line_before_any_trial(cli, tiny_dir, tmp_path, value, reason):
    res = cli("tune", "-d", tiny_dir, *FAST, "--trials", "2", "--validation-days", value, "-r", tmp_path / "r")
    assert res.exit_code == 2 and reason in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_validation_days_name_their_own_studies(tiny_dir, tmp_path):
    from newsbench.data.load import load_training_data
    from newsbench.tuning import driver

    ds = load_training_data(tiny_dir)
    names = {}
    for days in (1, 2):
        req = driver.make_request(results=tmp_path, subsets="id", text_encoder="hash", validation_days=days)
        names[days] = [c.name for c in driver.plan(req, ds, tmp_path)]
    default = driver.make_request(results=tmp_path, subsets="id", text_encoder="hash")
    assert names[1] == [c.name for c in driver.plan(default, ds, tmp_path)]
    assert names[1] != names[2]      # other validation data: a new study, never a resumed one


def test_a_tune_on_two_validation_days_says_so(cli, tiny_dir, tmp_path):
    r = tmp_path / "r"
    res = cli("tune", "-d", tiny_dir, *FAST, "--subsets", "id", "--trials", "1", "--seeds", "0",
              "--validation-days", "2", "-r", r)
    assert res.exit_code == 0, res.stderr
    assert "(the last 2 train days)" in res.stderr
    storage = studies.storage(r)
    (summary,) = optuna.get_all_study_summaries(storage)
    assert summary.user_attrs["split"]["validation_days"] == 2
    rep = cli("report", "-r", r, "--tuned", "--markdown", "--resamples", "99")
    assert rep.exit_code == 0, rep.stderr
    assert "the same budget of 1 trial on the last 2 train days carved from train" in " ".join(rep.stdout.split())


# -------------------------------------------------------------------------------- a tune, and the tuned report


GRID = ["--subsets", "id+llm+gnn", "--fusions", "gate,attention", "--trials", "2"]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory, tiny_dir):
    """A tune of two fusions (2 trials, seeds 0,1) and the untuned runs of the same options, in one folder."""
    results = tmp_path_factory.mktemp("tuned") / "r"
    env = {**os.environ, "NEWSBENCH_CACHE": str(tmp_path_factory.getbasetemp() / "cache")}
    args = ["-d", str(tiny_dir), *FAST, "--seeds", "0,1", "-r", str(results)]
    for cmd in (["tune", *GRID, *args], ["ablate", "--subsets", "id+llm+gnn", "--fusions", "gate,attention",
                                         "--no-report", *args]):
        proc = subprocess.run([sys.executable, "-m", "newsbench", *cmd], env=env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    return results


def test_equal_budget_and_tuned_runs_are_ordinary_records(tuned):
    trials = trials_of(tuned)
    assert set(trials) == {"id+llm+gnn/gate", "id+llm+gnn/attention"}
    for label, ts in trials.items():
        assert [s for s, _, _ in ts] == ["COMPLETE", "COMPLETE"], label
    records = store.load_records(tuned)
    assert len(records) == 8          # 2 configurations x 2 seeds, tuned and untuned
    storage = studies.storage(tuned)
    for s in optuna.get_all_study_summaries(storage):
        if "label" not in s.user_attrs:
            # created by a running tune that has not yet written its attributes (under its lock, before any trial)
            continue
        study = optuna.load_study(study_name=s.study_name, storage=storage)
        best = studies.best(study)
        mine = [r for r in records if r["group"] == s.user_attrs["tuned_group"]]
        assert sorted(r["config"]["seed"] for r in mine) == [0, 1]
        for r in mine:       # the run's config holds the chosen settings; its command reproduces them
            assert all(r["config"][k] == v for k, v in best.params.items())
            assert "--lr" in r["command"]
        assert s.user_attrs["untuned_group"] != s.user_attrs["tuned_group"]


def test_report_tuned(cli, tuned, tmp_path):
    res = cli("report", "-r", tuned, "--tuned", "--resamples", "200", "--out", tmp_path / "out")
    assert res.exit_code == 0, res.output
    assert "Tuning: equal budget per configuration" in res.stdout
    assert "the same budget of 2 trials" in res.stdout
    assert ("differs from the untuned one" in res.stdout) or ("is the same as the untuned one" in res.stdout)
    import json

    data = json.loads((tmp_path / "out" / "report.json").read_text())
    o = data["tuning"]["ordering"]
    assert sorted(o["tuned"]) == sorted(o["untuned"]) == ["attention", "gate"]
    assert o["differs"] == (o["tuned"] != o["untuned"])
    # the tables after the tuning table hold the tuned runs only (4 runs: 2 configurations x 2 seeds)
    assert sum(len(g["run_ids"]) for g in data["groups"]) == 4
    tuned_groups = {c["study"] for c in data["tuning"]["configurations"]}
    assert len(tuned_groups) == 2
    # Δ tuned − untuned: the mean per-impression difference of seed-averaged AUC, from the records' own arrays
    storage = studies.storage(tuned)
    attrs = {s.study_name: s.user_attrs for s in optuna.get_all_study_summaries(storage)}

    def seed_mean(group):
        runs = [r for r in store.load_records(tuned) if r["group"] == group]
        arrays = [store.load_arrays(tuned, r["run_id"]) for r in runs]
        order = [np.argsort(a["impression_id"]) for a in arrays]
        return np.mean([a["auc"][o] for a, o in zip(arrays, order)], axis=0)

    for row in data["tables"]["tuning"]["rows"]:
        a = attrs[row["study"]]
        want = np.nanmean(seed_mean(a["tuned_group"]) - seed_mean(a["untuned_group"]))
        assert row["diff_impression"] == pytest.approx(want, abs=1e-9)
        assert 0 <= row["p_impression_holm"] <= 1 and 0 <= row["p_seed_holm"] <= 1


def test_tuned_terminal_table_keeps_labels_whole_at_80_columns(tuned):
    from typer.testing import CliRunner

    from newsbench.cli import app

    res = CliRunner().invoke(app, ["report", "-r", str(tuned), "--tuned", "--resamples", "200"],
                             env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    table = res.stdout[res.stdout.index("Tuning: equal budget"):res.stdout.index("Table 2.")]
    assert max(len(line) for line in table.splitlines()) <= 80
    # one column per tuned parameter; each configuration's label on one line, at its rows' start
    assert re.search(r"Configuration +lr +news drop\. +ID drop\. +user width", table), table
    for label in ("id+llm+gnn/gate", "id+llm+gnn/attention"):
        assert re.search(rf"^{re.escape(label)} ", table, re.M), table


def test_report_tuned_without_tuning(cli, tmp_path):
    (tmp_path / "r").mkdir()
    res = cli("report", "-r", tmp_path / "r", "--tuned")
    assert res.exit_code == 2 and "--tuned: no" in res.stderr


def test_ordering_compares_the_common_fusions():
    from newsbench.report.tables import Report, Table
    from newsbench.report.tuned import ordering

    def rep(rows):
        return Report("", [Table("fusion", "", [], [], [], rows)], {}, None, None)

    t = rep([{"method": "gate", "letter": "a", "auc_mean": 0.7, "auc_beats": "b"},
             {"method": "attention", "letter": "b", "auc_mean": 0.6, "auc_beats": ""}])
    u = rep([{"method": "gate", "letter": "a", "auc_mean": 0.5, "auc_beats": ""},
             {"method": "attention", "letter": "b", "auc_mean": 0.6, "auc_beats": ""}])
    o = ordering(t, u)
    assert o["tuned"] == ["gate", "attention"] and o["untuned"] == ["attention", "gate"] and o["differs"] is True
    assert o["tuned_significant"] == ["gate > attention"] and o["untuned_significant"] == []
    assert ordering(t, t)["differs"] is False and ordering(t, None)["differs"] is None


# ------------------------------------------------------------------------------------ dev is never read


def shuffled_dev_copy(src: Path, dst: Path) -> Path:
    """A copy of `src` whose dev labels are permuted within each impression's candidates (the same file otherwise)."""
    shutil.copytree(src, dst)
    rng = np.random.default_rng(1)
    path = dst / "dev" / "behaviors.tsv"
    lines = []
    for line in path.read_text().splitlines():
        cols = line.split("\t")
        items = [c.rsplit("-", 1) for c in cols[4].split()]
        labels = rng.permutation([lab for _, lab in items])
        cols[4] = " ".join(f"{n}-{lab}" for (n, _), lab in zip(items, labels))
        lines.append("\t".join(cols))
    path.write_text("\n".join(lines) + "\n")
    return dst


def test_shuffled_dev_labels_leave_every_trial_unchanged(cli, tiny_dir, tmp_path):
    other = shuffled_dev_copy(tiny_dir, tmp_path / "shuffled")
    got = []
    for data in (tiny_dir, other):
        results = tmp_path / f"r-{data.name}"
        res = cli("tune", "-d", data, *FAST, "--subsets", "id,id+gnn", "--fusions", "gate", "--trials", "2",
                  "--seeds", "0", "-r", results)
        assert res.exit_code == 0, res.output
        got.append((trials_of(results), store.load_records(results)))
    (a, rec_a), (b, rec_b) = got
    assert a == b                               # every trial's value and settings
    # the final runs are scored on dev: there the shuffled labels show (the test would see a leak the other way)
    dev_a = sorted(r["metrics"]["auc"] for r in rec_a)
    dev_b = sorted(r["metrics"]["auc"] for r in rec_b)
    assert dev_a != dev_b


# ------------------------------------------------------------------------- processes: kill, resume, share


def tune_cmd(data: Path, results: Path) -> list[str]:
    return [sys.executable, "-m", "newsbench", "tune", "-d", str(data), *FAST, "--subsets", "id", "--trials", "3",
            "--seeds", "0", "-r", str(results)]


def env_for(cache: Path, pause: str | None = None) -> dict:
    env = {**os.environ, "NEWSBENCH_CACHE": str(cache), "NEWSBENCH_TRACE": "1", "PYTHONUNBUFFERED": "1"}
    env.pop(grid.PAUSE_ENV, None)
    if pause:
        env[grid.PAUSE_ENV] = pause
    return env


def starts(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("newsbench-trace: trial-start")]


def test_resume_after_kill_reruns_the_lost_trial_only(tiny_dir, tmp_path):
    results, cache = tmp_path / "r", tmp_path / "cache"
    release = tmp_path / "release"
    proc = subprocess.Popen(tune_cmd(tiny_dir, results), env=env_for(cache, f"trial-start id 1:{release}"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            if line.startswith("newsbench-trace: trial-start id 1"):
                proc.send_signal(signal.SIGKILL)          # trial 1 is RUNNING in the study
                break
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = trials_of(results)["id"]
    assert [s for s, _, _ in killed] == ["COMPLETE", "RUNNING"]
    again = subprocess.run(tune_cmd(tiny_dir, results), env=env_for(cache), capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(starts(again.stderr)) == 2                   # the lost trial and the third; not the finished one
    after = trials_of(results)["id"]
    assert [s for s, _, _ in after] == ["COMPLETE", "FAIL", "COMPLETE", "COMPLETE"]
    assert after[0] == killed[0]
    assert after[2][2] == killed[1][2]      # the lost trial's slot draws the same settings again


def test_two_processes_run_each_trial_once(tiny_dir, tmp_path):
    results, cache = tmp_path / "r", tmp_path / "cache"
    release = tmp_path / "release"
    # warm the cache (data parse) so both start alike
    subprocess.run([sys.executable, "-m", "newsbench", "data", "info", "-d", str(tiny_dir)], env=env_for(cache),
                   capture_output=True, timeout=300)
    env = env_for(cache, f"trial-start:{release}")      # each stops in its first trial until both are in one
    procs = [subprocess.Popen(tune_cmd(tiny_dir, results), env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            running = [s for s, _, _ in trials_of(results).get("id", [])] if (results / "tuning.db").exists() else []
            if running.count("RUNNING") == 2:
                break
            time.sleep(0.2)
        assert running.count("RUNNING") == 2, running
        release.touch()
        errs = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(p.returncode == 0 for p in procs), errs
    assert len(starts(errs[0])) + len(starts(errs[1])) == 3
    assert [s for s, _, _ in trials_of(results)["id"]] == ["COMPLETE"] * 3
    assert len(store.load_records(results)) == 1             # the final run, once


def test_api_tune_and_tuned_report(tiny_dir, tmp_path):
    from newsbench import api

    results = tmp_path / "r"
    plan = api.tune(tiny_dir, results=results, subsets="id", trials=2, seeds=[0], dry_run=True, text_encoder="hash",
                    epochs=1)
    assert [p["label"] for p in plan.plan] == ["id"] and plan.records == []
    done = api.tune(tiny_dir, results=results, subsets="id", trials=2, seeds=[0], text_encoder="hash", epochs=1)
    (conf,) = done.configurations
    assert conf["trials"] == 2 and set(conf["params"]) == {"lr", "news_dropout", "id_dropout", "user_hidden"}
    assert [r["config"]["lr"] for r in done.records] == [conf["params"]["lr"]]
    rep = api.report(results, tuned=True, resamples=100)
    assert list(rep.tables)[0] == "tuning"
    assert rep.tables["tuning"]["trials"].tolist() == [2]


def test_a_space_with_nothing_for_a_configuration_is_refused(cli, tiny_dir, tmp_path):
    f = tmp_path / "space.toml"
    f.write_text("lr = false\nnews_dropout = false\nuser_hidden = false\n")     # id_dropout alone
    res = cli("tune", "-d", tiny_dir, *FAST, "--subsets", "llm", "--space", f, "-r", tmp_path / "r")
    assert res.exit_code == 2 and "llm: no parameter of the search space applies to it (id_dropout)" in res.stderr


def test_ctrl_c_fails_the_running_trial_and_says_how_to_resume(tiny_dir, tmp_path):
    from test_interrupt import DEFAULT_SIGINT, signal_at

    results, cache = tmp_path / "r", tmp_path / "cache"
    release = tmp_path / "release"
    cmd = [sys.executable, "-c", DEFAULT_SIGINT, sys.executable, *tune_cmd(tiny_dir, results)[1:]]
    status, err = signal_at(cmd, env_for(cache, f"trial-start id 1:{release}"), "trial-start id 1", signal.SIGINT,
                            release)
    assert status == 130, err[-2000:]
    assert "rerun the same command to resume" in err and "Traceback" not in err
    assert [s for s, _, _ in trials_of(results)["id"]] == ["COMPLETE", "FAIL"]     # not left RUNNING, not counted
