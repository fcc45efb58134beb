"""`newsbench export --mlflow`: a results folder's records as MLflow runs. The steps are newsbench.export."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from newsbench.cli.common import paragraphs, plural

HELP = paragraphs("""Log every run record of a results folder to an experiment tracker (MLflow), one tracked run
per record: the run config as params, the dev metrics and the per-epoch training loss as metrics, the run id,
dataset fingerprint and versions as tags, the record's JSON and arrays as artifacts; the report folder once.

Exporting again adds only records not exported yet (found by their newsbench.run_id tag). Needs MLflow: pip install
'newsbench\\[mlflow]'.""")

EPILOG = """Examples:

  newsbench export --mlflow -r results

  newsbench export --mlflow --tracking-uri sqlite:///mlflow.db --experiment demo

  newsbench export --mlflow --tracking-uri http://localhost:5000"""


def register(app: typer.Typer) -> None:
    @app.command(help=HELP, epilog=EPILOG)
    def export(
        mlflow: bool = typer.Option(False, "--mlflow", help="Export to MLflow (the one tracker so far)."),
        tracking_uri: Optional[str] = typer.Option(None, "--tracking-uri", show_default=False,
                                                   help="MLflow tracking URI; default MLflow's own "
                                                        "(MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)."),
        experiment: str = typer.Option("newsbench", "--experiment", help="MLflow experiment name."),
        results: Path = typer.Option(Path("results"), "--results", "-r", show_default=False,
                                     help="Results folder (the one holding runs/); default results."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.",
                                      show_default=False),
    ):
        from newsbench.errors import InputError
        from newsbench.export import export_mlflow

        if not mlflow:
            raise InputError("export: choose a tracker: --mlflow")
        done = export_mlflow(results, tracking_uri=tracking_uri, experiment=experiment, progress=progress)
        console = Console()
        line = (f"MLflow {done.tracking_uri}, experiment {experiment!r} (id {done.experiment_id}): "
                f"{plural(len(done.created), 'run')} created, {len(done.skipped):,} already exported")
        if done.report is not None:
            line += f"; report {'logged' if done.report == 'logged' else 'unchanged, not logged again'}"
        console.print(line, markup=False, highlight=False, soft_wrap=True)
