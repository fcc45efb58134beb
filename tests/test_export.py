"""`newsbench export --mlflow`: records as MLflow runs in a local SQLite store (MLflow 3's default store kind), with
the real mlflow package; idempotent by the run-id tag."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from newsbench import api, store
from newsbench.export import COMPLETE, KIND, TAG, metric_name

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra is not installed")
from mlflow.tracking import MlflowClient  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[1] / "results" / "example"


@pytest.fixture
def where(tmp_path, monkeypatch):
    """A copy of results/example and a fresh SQLite store; artifacts land under the temporary folder (MLflow puts
    them in ./mlruns of the current folder for a SQLite store)."""
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    shutil.copytree(EXAMPLE, results)
    return results, f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture
def small(tmp_path, monkeypatch):
    """A results folder of three example records (no report) and a fresh SQLite store."""
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    (results / "runs").mkdir(parents=True)
    for r in store.load_records(EXAMPLE)[:3]:
        for p in store.record_paths(EXAMPLE, r["run_id"]):
            shutil.copy(p, results / "runs" / p.name)
    return results, f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """results/example exported once (read-only for the tests that use it)."""
    tmp = tmp_path_factory.mktemp("exported")
    results = tmp / "results"
    shutil.copytree(EXAMPLE, results)
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    with contextlib.chdir(tmp):
        api.export_mlflow(results, tracking_uri=uri)
    return results, uri


def _runs(uri: str, kind: str = "run"):
    mlflow.set_tracking_uri(uri)
    return mlflow.search_runs(experiment_names=["newsbench"], filter_string=f"tags.`{KIND}` = '{kind}'")


def test_export_twice_makes_one_mlflow_run_per_record_with_its_auc(where):
    results, uri = where
    records = store.load_records(results)
    held = results.parent / "held"
    held.mkdir()
    for r in records[:5]:                           # first export without five records, then with all of them
        for p in store.record_paths(results, r["run_id"]):
            shutil.move(p, held / p.name)
    first = api.export_mlflow(results, tracking_uri=uri)
    assert len(first.created) == len(records) - 5 and first.skipped == [] and first.report == "logged"
    for p in held.iterdir():
        shutil.move(p, results / "runs" / p.name)
    second = api.export_mlflow(results, tracking_uri=uri)
    assert sorted(second.created) == sorted(r["run_id"] for r in records[:5]) and second.report == "unchanged"
    third = api.export_mlflow(results, tracking_uri=uri)
    assert third.created == [] and len(third.skipped) == len(records) == 21
    df = _runs(uri)
    assert len(df) == len(records)                                   # 21, not 42 or 63
    for r in records:
        row = df[df[f"tags.{TAG}"] == r["run_id"]]
        assert len(row) == 1
        assert row["metrics.auc"].item() == r["metrics"]["auc"]
        assert row[f"tags.{COMPLETE}"].item() == "1" and row["status"].item() == "FINISHED"
    assert len(_runs(uri, "report")) == 1


def test_a_run_carries_config_metrics_losses_tags_and_artifacts(exported, tmp_path):
    results, uri = exported
    record = store.load_records(results)[0]
    df = _runs(uri)
    run_id = df[df[f"tags.{TAG}"] == record["run_id"]]["run_id"].item()
    client = MlflowClient(uri)
    run = client.get_run(run_id)
    cfg = record["config"]
    assert run.data.params["modalities"] == "+".join(cfg["modalities"])
    assert {k: run.data.params[k] for k in ("seed", "lr", "text_encoder")} == \
        {"seed": str(cfg["seed"]), "lr": str(cfg["lr"]), "text_encoder": cfg["text_encoder"]}
    assert run.data.params["label"] == record["label"]
    assert run.data.metrics["ndcg5"] == record["metrics"]["ndcg@5"]
    assert run.data.metrics["auc_cold"] == record["metrics_by"]["cold"]["auc"]
    losses = sorted(client.get_metric_history(run_id, "train_loss"), key=lambda m: m.step)
    assert [(m.step, m.value) for m in losses] == list(enumerate(record["train_loss"]))
    tags = run.data.tags
    assert tags["newsbench.dataset_fingerprint"] == record["dataset"]["fingerprint"]
    assert tags["newsbench.env.torch"] == record["environment"]["torch"]
    assert tags["newsbench.command"] == record["command"]
    assert run.info.run_name == f"{record['label']} seed {cfg['seed']}"
    names = sorted(a.path for a in client.list_artifacts(run_id, "record"))
    assert names == [f"record/{record['run_id']}.json", f"record/{record['run_id']}.npz"]
    got = Path(client.download_artifacts(run_id, f"record/{record['run_id']}.json", str(tmp_path)))
    assert json.loads(got.read_text()) == record
    report = _runs(uri, "report")["run_id"].item()
    assert "report/report.md" in [a.path for a in client.list_artifacts(report, "report")]


def test_a_run_left_half_exported_is_logged_again(small):
    results, uri = small
    records = store.load_records(results)
    client = MlflowClient(uri)
    eid = client.create_experiment("newsbench")
    half = client.create_run(eid, tags={TAG: records[0]["run_id"], KIND: "run"})      # no complete tag: stopped
    done = api.export_mlflow(results, tracking_uri=uri)
    assert records[0]["run_id"] in done.created
    df = _runs(uri)
    assert len(df) == len(records) and half.info.run_id not in set(df["run_id"])


def test_cli_export_line_and_errors(small, cli, monkeypatch):
    results, uri = small
    r = cli("export", "--mlflow", "-r", results, "--tracking-uri", uri, "--experiment", "lab", "--no-progress")
    assert r.exit_code == 0, r.output
    assert r.stdout.endswith("3 runs created, 0 already exported\n") and "'lab'" in r.stdout
    r = cli("export", "--mlflow", "-r", results, "--tracking-uri", uri, "--experiment", "lab", "--no-progress")
    assert "0 runs created, 3 already exported" in r.stdout
    r = cli("export", "-r", results)
    assert r.exit_code == 2 and r.stderr == "newsbench: error: export: choose a tracker: --mlflow\n"
    r = cli("export", "--mlflow", "-r", results.parent / "empty", "--tracking-uri", uri)
    assert r.exit_code == 2 and "no run records" in r.stderr
    # MLflow's own refusals are one line too: MLflow 3 refuses its file store unless MLFLOW_ALLOW_FILE_STORE is set
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    r = cli("export", "--mlflow", "-r", results, "--tracking-uri", f"file://{results.parent / 'fs'}")
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert r.stderr.startswith(f"newsbench: error: MLflow tracking store file://{results.parent / 'fs'}: ")
    monkeypatch.setitem(sys.modules, "mlflow", None)          # as if the extra were not installed
    r = cli("export", "--mlflow", "-r", results, "--tracking-uri", uri)
    assert r.exit_code == 2
    assert r.stderr == ("newsbench: error: export --mlflow needs MLflow, which is not installed: pip install "
                        "'newsbench[mlflow]'\n")


def test_a_damaged_record_is_skipped_with_a_warning(small, capsys):
    results, uri = small
    victim = store.load_records(results)[1]["run_id"]
    store.record_paths(results, victim)[1].unlink()          # its .npz gone
    done = api.export_mlflow(results, tracking_uri=uri)
    assert len(done.created) == 2 and victim not in done.created
    err = capsys.readouterr().err
    assert f"run {victim}" in err and "is damaged (no .npz); not exported" in err


def test_metric_names_mlflow_takes():
    assert [metric_name(k) for k in ("auc", "ndcg@5", "ndcg@10", "ild@10/cat")] == ["auc", "ndcg5", "ndcg10",
                                                                                     "ild10/cat"]


def test_help_has_examples(cli):
    r = cli("export", "--help")
    assert r.exit_code == 0 and "newsbench export --mlflow" in r.stdout and "--tracking-uri" in r.stdout
    assert "pip install 'newsbench[mlflow]'" in r.stdout
