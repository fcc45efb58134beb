"""The Python API: `ablate`, `train`, `tune`, `baselines`, `report`, `predict` and `export_mlflow` with the command
line's options as keyword arguments.

Each takes the options of its command under RunConfig's field names (`epochs=1`, `text_encoder="hash"`,
`graph="clicks"`), `data` as a MIND folder or None for the embedded demo dataset, and returns an object rather than
printing: the records (plain dicts, as stored in RESULTS/runs/), a pandas DataFrame of them, the report's tables as
DataFrames. The steps are the ones the commands take (newsbench.ablation, newsbench.runner, newsbench.baselines,
newsbench.report.request), so a run made here has the id and the record the command line gives it. Bad input
raises newsbench.errors.InputError with the command line's one-line message; nothing is printed unless
`progress=True` (warnings still go to stderr, one `newsbench: warning:` line each). docs/api.md has an example.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Optional, Union

import pandas as pd

from newsbench import ablation, grid, runner, store
from newsbench.options import OTHER, Spec

PathLike = Union[str, Path]
TESTS = ("ttest", "wilcoxon", "permutation")
CLUSTERS = ("user", "none")


@dataclass
class ReportResult:
    """A report: its tables as DataFrames (by key: fusion, ablation, placebo, weights, attribution, breakdown; the
    rows of report.json), `runs` (one row per run, as runs.csv), the markdown of report.md, every number (`data`,
    as report.json) and the files written (empty without an output folder)."""
    tables: dict[str, pd.DataFrame]
    runs: pd.DataFrame
    markdown: str
    data: dict
    written: list[Path] = field(default_factory=list)


@dataclass
class Runs:
    """Runs of `ablate` or `train`: their records in grid order, the results folder, and for `ablate` the dry run's
    plan (label, seed, run_id, status per run) or the report."""
    records: list[dict]
    results: Path
    plan: list[dict] = field(default_factory=list)
    report: Optional[ReportResult] = None
    reused: int = 0                  # runs found recorded rather than trained

    @property
    def frame(self) -> pd.DataFrame:
        """One row per run (newsbench.store.records_frame): label, seed, varying options, metrics, timings."""
        return store.records_frame(self.records)


@dataclass
class Baselines:
    """The data-derived baselines' records (arrays aside) and the dataset they scored."""
    records: list[dict]
    dataset: str                     # the dataset's name and fingerprint head, e.g. "tiny (3f2a...)"

    @property
    def frame(self) -> pd.DataFrame:
        """One row per baseline and candidate side (all, cold, warm): auc, mrr, ndcg@5, ndcg@10, n."""
        return pd.DataFrame([{"baseline": r["label"], "cands": side, **r["metrics_by"][side]}
                             for r in self.records for side in ("all", "cold", "warm")])


def ablate(data: Optional[PathLike] = None, *, results: PathLike = "results", cache_dir: Optional[PathLike] = None,
           unknown_news: str = "error", seeds: Union[str, Iterable[int], None] = None, n_seeds: Optional[int] = None,
           subsets: Union[str, Iterable[str], None] = None, fusions: Union[str, Iterable[str], None] = None,
           device: str = "auto", amp: bool = False, executor: str = "local", workers: int = 1,
           ray_address: Optional[str] = None, cpus_per_run: float = 1.0, gpus_per_run: float = 0.0,
           ray_timeout: float = grid.RAY_TIMEOUT, dry_run: bool = False, report: bool = True, alpha: float = 0.05,
           test: str = "permutation", plots: bool = False, progress: bool = False, **options) -> Runs:
    """`newsbench ablate`: the grid of modality subsets x fusions x seeds, resumable, recorded in `results`; then
    the baselines and (`report`) the report, written to RESULTS/report/ and returned. `seeds`, `subsets` and
    `fusions` are the command line's text ("0,1,2", "id,id+llm") or lists ([0, 1], ["id", "id+llm"]);
    `options`: the run options by RunConfig field (epochs, text_encoder, graph, ...)."""
    _check(OTHER["alpha"], alpha)
    test = _choice(test, "--test", TESTS)
    from newsbench.report.figures import check_plots_before_a_grid

    check_plots_before_a_grid(plots, report)
    req = ablation.make_request(
        results=results, seeds=_text(seeds), n_seeds=n_seeds, subsets=_text(subsets), fusions=_text(fusions),
        device=device, amp=amp, report=report, executor=executor, workers=workers, ray_address=ray_address,
        cpus_per_run=cpus_per_run, gpus_per_run=gpus_per_run, ray_timeout=ray_timeout, dry_run=dry_run, **options)
    say = _say(progress)
    dataset = None
    try:
        dataset = ablation.load(req, data, cache_dir, unknown_news, results, dry_run, say=say)
        plan = ablation.plan(req.configs, dataset, results)
        if dry_run:
            return Runs([], Path(results), plan=plan)
        grid.clean_stale_files(results)
        shared = ablation.shared_features(req, dataset, results, cache_dir, progress=progress)
        if shared is not None:
            ablation.run_pending(req, dataset, results, shared, data=data, cache_dir=cache_dir,
                                 unknown_news=unknown_news, events=_Lines(say))
        ablation.record_baselines(req, dataset, results, cache_dir)
    except KeyboardInterrupt:
        ablation.tidy_after_stop(req.configs, results, dataset, 0)
        raise
    records = [store.load_record(results, c.run_id(dataset.fingerprint)) for c in req.configs]
    out = Runs(records, Path(results), plan=plan, reused=sum(p["status"] == "done" for p in plan))
    if report:
        # Only this dataset's runs (a results folder may hold others), with its card's planted signals when generated.
        out.report = _build(results, Path(results) / "report", alpha=alpha, test=test, card=dataset.card,
                            dataset=dataset.fingerprint, plots=plots)
    return out


@dataclass
class Tuned:
    """A tune: per configuration its study, chosen settings, best validation value, trials and wall seconds
    (`configurations`), the final runs' records (each configuration's best settings x seeds), the results folder,
    and for a dry run the studies it would use (`plan`: label, study, searched parameters)."""
    configurations: list[dict]
    records: list[dict]
    results: Path
    plan: list[dict] = field(default_factory=list)

    @property
    def frame(self) -> pd.DataFrame:
        return store.records_frame(self.records)


def tune(data: Optional[PathLike] = None, *, results: PathLike = "results", cache_dir: Optional[PathLike] = None,
         unknown_news: str = "error", trials: int = 8, space: Optional[PathLike] = None, metric: str = "auc",
         tune_seed: int = 0, validation_days: int = 1, seeds: Union[str, Iterable[int], None] = None,
         n_seeds: Optional[int] = None, subsets: Union[str, Iterable[str], None] = None,
         fusions: Union[str, Iterable[str], None] = None,
         device: str = "auto", dry_run: bool = False, progress: bool = False, **options) -> Tuned:
    """`newsbench tune`: each configuration's `trials` on the validation day(s) carved from train (studies in
    RESULTS/tuning.db), then its best settings trained with `seeds` as ordinary runs; `report(tuned=True)` compares
    them. `space`: a TOML file (docs/tuning.md); `options`: the base run options by RunConfig field."""
    from newsbench.tuning import driver

    req = driver.make_request(results=results, trials=trials, seeds=_text(seeds), n_seeds=n_seeds,
                              subsets=_text(subsets), fusions=_text(fusions), space=space, metric=metric,
                              tune_seed=tune_seed, validation_days=validation_days, device=device, **options)
    dataset, carved, info = driver.load(req, data, cache_dir, unknown_news, dry_run)
    if dry_run:
        plan = [{"label": c.label, "study": c.name, "searched": [p.name for p in c.params]}
                for c in driver.plan(req, dataset, results)]
        return Tuned([], [], Path(results), plan=plan)
    done = driver.tune(req, dataset, carved, info, results, cache_dir, final_events=_Lines(_say(progress)),
                       progress=progress, say=_say(progress))
    records = [store.load_record(results, c.run_id(dataset.fingerprint)) for c in done.final]
    return Tuned(done.summary(), records, Path(results))


def train(data: Optional[PathLike] = None, *, results: PathLike = "results", cache_dir: Optional[PathLike] = None,
          unknown_news: str = "error", modalities: Union[str, Iterable[str]] = "id+llm+gnn",
          fusion: str = "attention", device: str = "auto", amp: bool = False, force: bool = False,
          progress: bool = False, **options) -> Runs:
    """`newsbench train`: one seeded run, recorded in `results` (read back when it is recorded already, unless
    `force`). `modalities`: "id+llm" or ["id", "llm"]; `options`: the run options by RunConfig field (seed,
    epochs, ...)."""
    cfg = runner.make_run_config(results=results, modalities=modalities, fusion=fusion, device=device, amp=amp,
                                 **options)
    done = runner.train_one(cfg, results, data=data, cache_dir=cache_dir, unknown_news=unknown_news, force=force,
                            progress=progress, say=_say(progress))
    return Runs([done.record], Path(results), reused=int(done.reused))


def baselines(data: Optional[PathLike] = None, *, only: Union[str, Iterable[str], None] = None,
              results: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None, unknown_news: str = "error",
              device: str = "auto", progress: bool = False, **options) -> Baselines:
    """`newsbench baselines`: the data-derived reference scores of the dev split, no training; recorded in
    RESULTS/baselines/ when `results` is given. `only`: "popularity,text" or a list; `options`: the feature
    options by RunConfig field (text_encoder, graph, ...)."""
    from newsbench import baselines as bl
    from newsbench.data.load import load_training_data

    names = bl.parse_baselines(_text(only))
    cfg = bl.baselines_config(results=results, device=device, **options)
    dataset = load_training_data(data, cache_dir, unknown_news)
    records = bl.score_baselines(dataset, cfg, names, cache_dir=cache_dir, results=results, progress=progress)
    return Baselines(records, f"{dataset.name} ({dataset.fingerprint[:12]})")


def predict(run: str, split: PathLike, *, out: PathLike = "prediction", results: PathLike = "results",
            data: Optional[PathLike] = None, cache_dir: Optional[PathLike] = None, unknown_news: str = "error",
            verify: bool = True, progress: bool = False):
    """`newsbench predict`: recorded run `run` (an id or unique prefix) of `results` trained again on `data`, checked
    against its record (`verify`), and its ranking of the split folder `split` written to `out` as prediction.txt,
    prediction.zip and prediction.json (newsbench.predict). Returns a newsbench.predict.Prediction."""
    from newsbench.predict import predict as run_predict

    return run_predict(run, split, out, results=results, data=data, cache_dir=cache_dir, unknown_news=unknown_news,
                       verify=verify, progress=progress, say=_say(progress))


def export_mlflow(results: PathLike = "results", *, tracking_uri: Optional[str] = None,
                  experiment: str = "newsbench", progress: bool = False):
    """`newsbench export --mlflow`: every record of `results` as one MLflow run (found again by its run id, so a
    second export adds nothing), the report folder once per export (newsbench.export). Returns a
    newsbench.export.Exported."""
    from newsbench.export import export_mlflow as run_export

    return run_export(results, tracking_uri=tracking_uri, experiment=experiment, progress=progress)


def report(results: PathLike = "results", *, data: Optional[PathLike] = None, fingerprint: Optional[str] = None,
           configs: Union[str, Iterable[str], None] = None, seeds: Union[str, Iterable[int], None] = None,
           metric: str = "auc", reference: Optional[str] = None, test: str = "permutation", alpha: float = 0.05,
           margin: float = 0.005, cluster: str = "user", resamples: int = 10_000, table: Optional[str] = None,
           metrics: Union[str, Iterable[str], None] = None, out: Optional[PathLike] = None,
           card: Optional[PathLike] = None, plots: bool = False, k: int = 10, tuned: bool = False) -> ReportResult:
    """`newsbench report`: the tables and paired tests of a results folder, as DataFrames and markdown; every
    format written to `out` when given. The selection (`data`, `fingerprint`, `configs`, `seeds`) and the card are
    found and checked as the command line does. `k`: the beyond-accuracy table's cut-off, 5 or 10 (--k). `tuned`:
    the runs `tune` trained, with the tuning table first."""
    from newsbench.report.request import make_request

    test = _choice(test, "--test", TESTS)
    cluster = _choice(cluster, "--cluster", CLUSTERS)
    for name, value in (("alpha", alpha), ("margin", margin), ("resamples", resamples)):
        _check(OTHER[name], value)
    req = make_request(results, data=data, fingerprint=fingerprint, configs=_text(configs), seeds=_text(seeds),
                       card=card, metric=metric, metrics=_text(metrics), out=out)
    return _build(results, out, alpha=alpha, test=test, metric=req.metric, card=req.card, selection=req.selection,
                  metrics=req.metrics, reference=reference, margin=margin, cluster=cluster, n_resamples=resamples,
                  table=table, plots=plots, k=k, tuned=tuned)


def _build(results, out, table: Optional[str] = None, **kwargs) -> ReportResult:
    """Build the report as `newsbench report` does (newsbench.report.print_and_write), printing nothing."""
    from newsbench.report import build_report, to_markdown, write_report
    from newsbench.report.card import read_card
    from newsbench.report.output import select_table
    from newsbench.report.tables import METRICS

    plots = kwargs.pop("plots", False)
    card = kwargs.pop("card", None)
    build = build_report
    if kwargs.pop("tuned", False):
        from newsbench.report.tuned import build_tuned_report as build
    if card is not None and not isinstance(card, dict):
        card = read_card(card)
    if plots:
        from newsbench.report import figures

        figures.require_matplotlib()
    kwargs["metrics"] = kwargs.get("metrics") or METRICS
    rep = build(results, card=card, fusion_ci=plots, **kwargs)
    drawn = None
    if plots:
        from newsbench.report.output import figures_prefix

        drawn = figures.write_figures(rep, out if out is not None else Path(results) / "report")
        rep.figures = figures.figure_links(drawn["names"], figures_prefix(results, out))
    written = write_report(rep, out) if out is not None else []
    if drawn is not None:
        rep.data["figures"] = drawn
    shown = rep if table is None else replace(rep, tables=[select_table(rep, table)])
    rows = {key: t["rows"] for key, t in rep.data["tables"].items()}     # report.json's (NaN: None)
    return ReportResult({t.key: pd.DataFrame(rows.get(t.key, t.records)) for t in shown.tables},
                        pd.DataFrame(rep.runs.records if rep.runs is not None else []), to_markdown(shown),
                        rep.data, written)


def _text(value) -> Optional[str]:
    """The command line's comma-separated text of a list option; a string as it is."""
    if value is None or isinstance(value, str):
        return value
    return ",".join(str(v) for v in value)


def _check(spec: Spec, value) -> None:
    spec.check(value)


def _choice(value: str, flag: str, choices: tuple[str, ...]) -> str:
    return Spec(flag.lstrip("-"), (flag,), str, "", choices=choices).check(value)


def _say(progress: bool):
    """Where the API's lines go: stderr with `progress`, nowhere otherwise."""
    if not progress:
        return lambda line: None
    return lambda line: print(line, file=sys.stderr, flush=True)


class _Lines(ablation.Tally):
    """The API's grid progress: one line per recorded run (label, seed, AUC, run id), when `progress` is on."""

    def __init__(self, say):
        super().__init__()
        self.say = say

    def run_finished(self, cfg, run_id, record):
        super().run_finished(cfg, run_id, record)
        auc = (record.get("metrics") or {}).get("auc")
        self.say(f"  {cfg.label:<24} seed {cfg.seed}  AUC {auc if auc is None else round(auc, 4)}  {run_id}")

