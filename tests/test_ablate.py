"""`newsbench ablate` end to end with the real train_run: executors agree, the CLI plans, runs, resumes and reports."""

from __future__ import annotations

import json
import re
import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from newsbench import grid, store
from newsbench.cli import app
from newsbench.config import RunConfig

sys.path.insert(0, str(Path(__file__).parent))
import toydata  # noqa: E402

METRICS = ("auc", "mrr", "ndcg5", "ndcg10", "auc_cold", "auc_warm")
TOY_CFG = RunConfig(epochs=1, batch_size=64, dim=32, id_dim=16, user_hidden=16, history_len=10)


# ---- the toy dataset, rebuilt identically in spawned workers (module-level functions pickle by reference) ----

def toy_load(data_path, cache_dir, unknown_news):
    return toydata.make_dataset()


def toy_features(dataset, cfg, cache_dir):
    feats = toydata.make_features(dataset)
    return {m: feats[m] for m in cfg.modalities if m in feats}


def toy_grid():
    return grid.expand_grid([("id",), ("id", "llm", "gnn")], ["attention"], [0, 1], TOY_CFG)


def assert_same_records(a_dir: Path, b_dir: Path, n: int) -> None:
    a, b = store.load_records(a_dir), store.load_records(b_dir)
    assert [r["run_id"] for r in a] == [r["run_id"] for r in b] and len(a) == n
    for ra, rb in zip(a, b):
        assert ra["metrics"] == rb["metrics"], ra["label"]
        xa, xb = store.load_arrays(a_dir, ra["run_id"]), store.load_arrays(b_dir, rb["run_id"])
        assert xa.keys() == xb.keys()
        for k in METRICS:
            np.testing.assert_array_equal(xa[k], xb[k], err_msg=f"{ra['label']} {k}")
        for k in set(xa) - set(METRICS):
            # modality weights are means of softmax outputs; other thread counts may move the last bits
            np.testing.assert_allclose(xa[k], xb[k], rtol=1e-5, atol=1e-6, err_msg=f"{ra['label']} {k}")


@pytest.mark.slow
def test_sequential_pool_and_ray_write_the_same_records(tmp_path):
    ds = toydata.make_dataset()
    feats = toydata.make_features(ds)
    cfgs = toy_grid()
    seq = grid.run_grid(cfgs, ds, tmp_path / "seq", executor=grid.LocalExecutor(ds, feats))
    assert len(seq.ran) == 4

    spec = grid.WorkerSpec(data_path=None, cache_dir=None, threads=1, load_fn=toy_load, features_fn=toy_features)
    pool = grid.run_grid(cfgs, ds, tmp_path / "pool", executor=grid.PoolExecutor(2, spec))
    assert len(pool.ran) == 4
    assert_same_records(tmp_path / "seq", tmp_path / "pool", 4)

    ray = pytest.importorskip("ray")
    # address="local": always a fresh single-node instance, never a cluster some earlier `ray start` on this machine
    # left in /tmp/ray/ray_current_cluster (a stale file there made ray.init refuse num_cpus)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        res = grid.run_grid(cfgs, ds, tmp_path / "ray", executor=grid.RayExecutor(ds, feats, cpus_per_run=1))
    finally:
        ray.shutdown()
    assert len(res.ran) == 4
    assert_same_records(tmp_path / "seq", tmp_path / "ray", 4)


# ---- the command ----

SMALL = ["--device", "cpu", "--text-encoder", "hash", "--epochs", "1", "--dim", "32", "--id-dim", "16",
         "--user-hidden", "16", "--history-len", "10", "--graph-epochs", "2", "--graph-dim", "16"]


def invoke(*args):
    # Wide enough that rich does not truncate run ids in the plan.
    return CliRunner().invoke(app, ["ablate", *map(str, args)], catch_exceptions=False, env={"COLUMNS": "200"})


def test_ablate_runs_reports_resumes_and_dry_run_shows_status(tiny_dir, tmp_path):
    res = tmp_path / "results"
    first = invoke("-d", tiny_dir, "--results", res, "--subsets", "id", "--seeds", "0", *SMALL)
    assert first.exit_code == 0, first.output
    assert "1 run trained" in first.output
    assert (res / "report" / "report.md").is_file()             # the report ran at the end
    # the data-derived baselines of the grid's features (id only: the two popularity ones) are reference rows
    from newsbench.baselines import load_baselines

    assert [b["baseline"] for b in load_baselines(res)] == ["popularity", "recent"]
    assert "baseline: recent popularity" in (res / "report" / "report.md").read_text()
    # the last line: wall time by stage (an `id` grid has no feature stages)
    assert re.search(r"ablate: time \(s\): data [\d.]+, train [\d.]+, eval [\d.]+, report [\d.]+, "
                     r"other [\d.]+; total [\d.]+\n", first.output), first.output
    again = invoke("-d", tiny_dir, "--results", res, "--subsets", "id", "--seeds", "0", "--no-report", *SMALL)
    assert again.exit_code == 0 and "the 1 run already recorded" in again.output

    # seed 1 is claimed by a live process (our parent): the plan says so and runs nothing.
    from newsbench.data.load import load_dataset

    fp = load_dataset(tiny_dir, progress=False).fingerprint
    base = RunConfig(epochs=1, dim=32, id_dim=16, user_hidden=16, history_len=10, graph_epochs=2, graph_dim=16,
                     text_encoder="hash", device="cpu")
    locked = grid.expand_grid([("id",)], ["gate"], [1], base)[0].run_id(fp)
    grid.lock_path(res, locked).write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    plan = invoke("-d", tiny_dir, "--results", res, "--subsets", "id", "--seeds", "0,1,2", "--dry-run", *SMALL)
    assert plan.exit_code == 0, plan.output
    assert "3 runs: 1 done, 1 pending, 1 locked" in plan.output
    assert locked in plan.output and "pending" in plan.output
    assert len(store.load_records(res)) == 1


def test_default_grid_dry_run_is_the_seed_table(tiny_dir, tmp_path):
    plan = invoke("-d", tiny_dir, "--results", tmp_path, "--dry-run", "--text-encoder", "hash")
    assert plan.exit_code == 0, plan.output
    assert "21 runs: 0 done, 21 pending, 0 locked" in plan.output
    for label in ("id+llm/concat", "id+gnn/concat", "id+rand/concat", "id+llm+gnn/gate", "id+llm+gnn/attention"):
        assert label in plan.output


def test_a_copied_label_plans_exactly_that_configuration(tiny_dir, tmp_path):
    # The case: `id+llm+gnn` is one subset, and `--fusions mean` applies to it; one run per seed.
    plan = invoke("-d", tiny_dir, "--results", tmp_path, "--dry-run", "--text-encoder", "hash",
                  "--subsets", "id+llm+gnn", "--fusions", "mean", "--seeds", "0,1")
    assert plan.exit_code == 0, plan.output
    assert "2 runs: 0 done, 2 pending" in plan.output and plan.output.count("id+llm+gnn/mean") == 2
    assert "warning" not in plan.output


def test_a_value_whose_meaning_changed_is_read_the_new_way_with_a_warning(tiny_dir, tmp_path):
    plan = invoke("-d", tiny_dir, "--results", tmp_path, "--dry-run", "--text-encoder", "hash",
                  "--subsets", "id,llm", "--seeds", "0")
    assert plan.exit_code == 0, plan.output
    assert "2 runs: 0 done, 2 pending" in plan.output
    assert ("--subsets 'id,llm' means the subsets id and llm (',' separates subsets, '+' joins modalities, as in "
            "the labels); for the former reading write --subsets id+llm") in " ".join(plan.output.split())


@pytest.mark.parametrize("args, message", [
    (["--subsets", "id+text"], "unknown modality 'text'"),
    (["--subsets", "id+id,llm"], "former syntax ('+' between subsets); subsets are separated by ','"),
    (["--subsets", "id+id,llm"], "--subsets id,id+llm"),
    (["--subsets", "id,llm", "--fusions", "gate"], "no subset of --subsets 'id,llm' has two modalities"),
    (["--subsets", "id", "--fusions", "mean"], "so no fusion would run"),
    (["--fusions", "sum"], "unknown fusion 'sum'"),
    (["--seeds", "0,x"], "'x' is not an integer"),
    (["--seeds", "0", "--n-seeds", "2"], "not both"),
    (["--executor", "spark"], "choose one of local, ray"),
    (["--test", "bogus"], "--test 'bogus'"),
    (["--plots", "--no-report"], "--plots draws the report's figures; it cannot go with --no-report"),
])
def test_bad_options_end_with_one_line_and_status_2(monkeypatch, capsys, tmp_path, args, message):
    from newsbench.cli import main

    monkeypatch.setattr(sys, "argv", ["newsbench", "ablate", "--results", str(tmp_path), *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_ablate_plots_draws_the_reports_figures(tiny_dir, tmp_path):
    pytest.importorskip("matplotlib")
    res = tmp_path / "results"
    run = invoke("-d", tiny_dir, "--results", res, "--subsets", "id,id+llm+gnn", "--fusions", "gate",
                 "--seeds", "0,1", "--plots", *SMALL)
    assert run.exit_code == 0, run.output
    figs = res / "report" / "figures"
    # The tiny data is generated, so its card is found: the planted-weight figure is drawn too.
    for stem in ("forest", "weights_vs_planted", "attribution_vs_planted", "cold_warm"):
        assert (figs / f"{stem}.png").stat().st_size > 1000 and (figs / f"{stem}.csv").is_file(), stem
    assert "(figures/forest.png)" in (res / "report" / "report.md").read_text()
    # The same figures as `newsbench report --plots` of the folder afterwards: ablate adds no numbers of its own.
    again = CliRunner().invoke(app, ["report", "--results", str(res), "-d", str(tiny_dir), "--plots", "--csv",
                                     "--out", str(tmp_path / "again")])
    assert again.exit_code == 0, again.output
    for stem in ("forest", "cold_warm", "weights_vs_planted"):
        assert (figs / f"{stem}.csv").read_text() == (tmp_path / "again" / "figures" / f"{stem}.csv").read_text()


def test_ablate_plots_without_matplotlib_stops_before_training(tiny_dir, tmp_path, monkeypatch, capsys):
    from newsbench.cli import main

    # A None entry in sys.modules makes `import matplotlib` raise ImportError, as when the extra is absent.
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(sys, "argv", ["newsbench", "ablate", "-d", str(tiny_dir), "--results", str(tmp_path / "r"),
                                      "--subsets", "id", "--seeds", "0", "--plots", *SMALL])
    with pytest.raises(SystemExit) as exit_:
        main()
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1
    assert "matplotlib is needed for --plots: pip install 'newsbench[plots]'" in err
    assert not (tmp_path / "r").exists()
