"""`newsbench export --mlflow`: the records of a results folder as MLflow runs, for a lab's experiment tracker.

Each record becomes one MLflow run in the experiment (default `newsbench`), named `<label> seed <seed>`:
- params: the run config (RunConfig's fields; lists joined by '+'), with the label and group;
- metrics: the record's dev metrics (`ndcg@5` as `ndcg5`: MLflow names take no '@'), the cold/warm AUC, the
  timings and parameter counts, and `train_loss` once per epoch as steps 0, 1, ...; all stamped with the record's
  creation time, so an export says when the run was made, not when it was exported;
- tags: `newsbench.run_id`, `newsbench.dataset_fingerprint`, the dataset's name, the reproduce command, and the
  record's environment (newsbench, torch, numpy, python versions, platform, device) as `newsbench.env.*`;
- artifacts: the record's JSON and .npz under `record/`.
The report folder (RESULTS/report/, when there is one) goes once per export into a run of its own, tagged
`newsbench.kind=report` and keyed by a digest of its files, so an unchanged report is not logged again either.

Idempotent: a record's run is found again by its `newsbench.run_id` tag and skipped, so a second export of the same
folder creates nothing, and an export after new runs adds only those. A run is tagged `newsbench.complete` last; an
export stopped half-way leaves a run without that tag, which the next export deletes and logs again.

MLflow is an optional extra (`pip install 'newsbench[mlflow]'`: mlflow-skinny, SQLAlchemy and Alembic); without it
the command says so in one line. The tracking URI is MLflow's own default unless given (MLFLOW_TRACKING_URI, else
MLflow 3's `sqlite:///mlflow.db` in the current folder); a tracking server (`http://...`) works the same.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from newsbench import store
from newsbench.errors import InputError, warn

TAG = "newsbench.run_id"
KIND = "newsbench.kind"
COMPLETE = "newsbench.complete"
REPORT_DIGEST = "newsbench.report_sha256"
DEFAULT_EXPERIMENT = "newsbench"
_BAD_NAME = re.compile(r"[^/\w.\- :]")        # MLflow's metric and param names: word characters . - / : space


@dataclass
class Exported:
    """What an export did: runs created, records already exported (skipped), the report run (logged or found)."""
    created: list[str]
    skipped: list[str]
    report: str | None              # 'logged', 'unchanged', or None when the results folder has no report
    experiment_id: str
    tracking_uri: str


def require_mlflow():
    """The mlflow module, or one line saying how to install it."""
    try:
        import mlflow
    except ImportError:
        raise InputError("export --mlflow needs MLflow, which is not installed: pip install 'newsbench[mlflow]'") \
            from None
    return mlflow


def metric_name(name: str) -> str:
    """A record's metric name as MLflow takes it: `ndcg@5` -> `ndcg5`."""
    return _BAD_NAME.sub("", name)


def run_params(record: dict) -> dict[str, str]:
    """The run config as MLflow params (strings), with the label and group."""
    out = {k: "+".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
           for k, v in record["config"].items()}
    out.update(label=record["label"], group=str(record.get("group")))
    return out


def run_metrics(record: dict) -> list[tuple[str, float, int]]:
    """(name, value, step) of every number logged for a record: final metrics at step 0, train_loss per epoch."""
    out = [(metric_name(k), float(v), 0) for k, v in record["metrics"].items() if v is not None]
    for side in ("cold", "warm"):
        auc = ((record.get("metrics_by") or {}).get(side) or {}).get("auc")
        if auc is not None:
            out.append((f"auc_{side}", float(auc), 0))
    timings = record.get("timings") or {}
    for k in ("seconds_per_epoch", "samples_per_second", "eval_seconds", "peak_rss_mb"):
        if timings.get(k) is not None:
            out.append((k, float(timings[k]), 0))
    for k, v in (record.get("params") or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out.append((f"params_{metric_name(k)}", float(v), 0))
    out += [("train_loss", float(v), epoch) for epoch, v in enumerate(record.get("train_loss") or [])]
    return out


def run_tags(record: dict) -> dict[str, str]:
    ds = record.get("dataset") or {}
    tags = {TAG: record["run_id"], KIND: "run", "newsbench.dataset_fingerprint": str(ds.get("fingerprint")),
            "newsbench.dataset": str(ds.get("name")), "newsbench.label": record["label"],
            "newsbench.seed": str(record["config"]["seed"])}
    if record.get("command"):
        tags["newsbench.command"] = record["command"]
    tags.update({f"newsbench.env.{k}": str(v) for k, v in (record.get("environment") or {}).items()})
    return tags


def _millis(record: dict) -> int:
    try:
        return int(_dt.datetime.fromisoformat(record["created"]).timestamp() * 1000)
    except (KeyError, TypeError, ValueError):
        return int(_dt.datetime.now(_dt.timezone.utc).timestamp() * 1000)


def folder_digest(folder: Path) -> str:
    """sha256 over a folder's files (relative path and bytes), in path order."""
    h = hashlib.sha256()
    for p in sorted(q for q in folder.rglob("*") if q.is_file()):
        h.update(str(p.relative_to(folder)).encode() + b"\0")
        h.update(p.read_bytes())
    return h.hexdigest()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow and Alembic log INFO lines (a new database's migrations) to stderr: keep them to warnings."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _experiment(client, name: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is None:
        return client.create_experiment(name)
    if exp.lifecycle_stage != "active":
        raise InputError(f"--experiment {name!r}: that MLflow experiment is deleted; restore it in MLflow or choose "
                         f"another name")
    return exp.experiment_id


def _runs_by_tag(client, experiment_id: str, kind: str) -> list:
    """Every MLflow run of `kind` in the experiment, page by page."""
    runs, token = [], None
    while True:
        page = client.search_runs([experiment_id], filter_string=f"tags.`{KIND}` = '{kind}'", max_results=1000,
                                  page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def export_mlflow(results: str | os.PathLike = "results", *, tracking_uri: str | None = None,
                  experiment: str = DEFAULT_EXPERIMENT, progress: bool = False) -> Exported:
    """Log every record of `results` not yet in the experiment as an MLflow run, and the report folder once (module
    docstring). InputError for a missing mlflow, an empty results folder or a tracking store MLflow refuses."""
    mlflow = require_mlflow()
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    from newsbench.features.text import progress_bar

    records = store.load_records(results)
    for r in [r for r in records if store.record_state(results, r["run_id"]) != "done"]:
        warn(f"run {r['run_id']} in {store.runs_dir(results)} is damaged ({store.damage(results, r['run_id'])}); "
             f"not exported")
        records.remove(r)
    if not records:
        raise InputError(f"no run records in {store.runs_dir(results)}: nothing to export")
    if not experiment:
        raise InputError("--experiment: give a name")
    with _quiet():
        try:
            client = MlflowClient(tracking_uri=tracking_uri)
            uri = str(client.tracking_uri)
            eid = _experiment(client, experiment)
            found = {}
            for r in _runs_by_tag(client, eid, "run"):
                if r.data.tags.get(COMPLETE) == "1":
                    found[r.data.tags.get(TAG)] = r.info.run_id
                else:                                  # stopped half-way by an earlier export: log it again
                    client.delete_run(r.info.run_id)
            created, skipped = [], []
            with progress_bar("exporting to MLflow", len(records), progress) as advance:
                for record in records:
                    if record["run_id"] in found:
                        skipped.append(record["run_id"])
                    else:
                        _log_record(client, eid, results, record, Metric, Param, RunTag)
                        created.append(record["run_id"])
                    advance(1)
            report = _log_report(client, eid, Path(results) / "report")
        except MlflowException as err:
            # a store MLflow refuses (its file store without an opt-in), a server that answers with an error
            raise InputError(f"MLflow tracking store {tracking_uri or mlflow.get_tracking_uri()}: "
                             f"{str(err).splitlines()[0]}") from None
    return Exported(created, skipped, report, eid, uri)


def _log_record(client, eid: str, results, record: dict, Metric, Param, RunTag) -> None:
    ts = _millis(record)
    run = client.create_run(eid, start_time=ts, run_name=f"{record['label']} seed {record['config']['seed']}",
                            tags={TAG: record["run_id"], KIND: "run"})
    rid = run.info.run_id
    client.log_batch(rid, metrics=[Metric(k, v, ts, step) for k, v, step in run_metrics(record)],
                     params=[Param(k, v) for k, v in run_params(record).items()],
                     tags=[RunTag(k, v) for k, v in run_tags(record).items()])
    for path in store.record_paths(results, record["run_id"]):
        client.log_artifact(rid, str(path), artifact_path="record")
    client.set_tag(rid, COMPLETE, "1")
    client.set_terminated(rid, "FINISHED", end_time=ts)


def _log_report(client, eid: str, folder: Path) -> str | None:
    if not folder.is_dir():
        return None
    digest = folder_digest(folder)
    for r in _runs_by_tag(client, eid, "report"):
        if r.data.tags.get(REPORT_DIGEST) == digest and r.data.tags.get(COMPLETE) == "1":
            return "unchanged"
    run = client.create_run(eid, run_name=f"report {digest[:12]}", tags={KIND: "report", REPORT_DIGEST: digest})
    client.log_artifacts(run.info.run_id, str(folder), artifact_path="report")
    client.set_tag(run.info.run_id, COMPLETE, "1")
    client.set_terminated(run.info.run_id, "FINISHED")
    return "logged"
