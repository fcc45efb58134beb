"""`newsbench predict`: a recorded run's ranking of a MIND split as the leaderboard's prediction.txt. The steps are
newsbench.predict."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, ResultsOpt, UnknownNewsOpt, paragraphs

HELP = paragraphs("""Rank the candidates of a MIND split with a recorded run and write prediction.txt and
prediction.zip in the MIND leaderboard's format.

No model weights are stored with a run: the run is trained again from its record's config on its data (-d), and its
dev metrics and training losses must equal the record's exactly (--no-verify skips the check). The split may have
labels (a dev split: they are not read) or not (MIND's test split); its news.tsv may add news absent from the data:
the text encoder encodes them; a run with the gnn modality cannot place them and stops.

Each line is `<impression id> \\[r1,r2,...]`: the 1-based rank of every candidate in candidate order, 1 = most
likely clicked; equal scores share a rank. prediction.json names the run and the dev metrics reproduced.""")

EPILOG = """Examples:

  newsbench train -d ../MIND -m id+llm -f gate -e hash

  newsbench predict -d ../MIND --run 3f2a9c --split ../MIND/MINDlarge_test --out submission

  newsbench predict --run 3f2a9c --split data/tiny/dev --out pred"""


def register(app: typer.Typer) -> None:
    @app.command(help=HELP, epilog=EPILOG)
    def predict(
        run: str = typer.Option(..., "--run", show_default=False,
                                help="Run id (or a unique prefix) of a record in the results folder."),
        split: Path = typer.Option(..., "--split", show_default=False,
                                   help="MIND split folder to rank: news.tsv + behaviors.tsv, labels optional."),
        out: Path = typer.Option(Path("prediction"), "--out", "-o", rich_help_panel=OUTPUT, show_default=False,
                                 help="Folder for prediction.txt, .zip and .json; default prediction."),
        data: Optional[Path] = DataOpt,
        cache_dir: Optional[Path] = CacheOpt,
        unknown_news: str = UnknownNewsOpt,
        results: Path = ResultsOpt,
        verify: bool = typer.Option(True, "--verify/--no-verify", show_default=False,
                                    help="Require the retrained run to match its record exactly (default)."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show progress bars.",
                                      rich_help_panel=OUTPUT, show_default=False),
    ):
        from newsbench.cli.train import _progress_bar
        from newsbench.predict import find_run, predict as run_predict
        from newsbench.config import RunConfig

        console = Console()
        say = (lambda line: console.print(line, markup=False, highlight=False, soft_wrap=True))
        cfg = RunConfig.from_dict(find_run(results, run)["config"])
        with _progress_bar(cfg, progress, console) as on_event:
            done = run_predict(run, split, out, results=results, data=data, cache_dir=cache_dir,
                               unknown_news=unknown_news, verify=verify, progress=progress, on_event=on_event,
                               say=say)
        rec = done.record
        check = "reproduced exactly" if verify else "not checked (--no-verify)"
        say(f"run {rec['run_id']} ({rec['label']} seed {rec['config']['seed']}): dev AUC "
            f"{done.metrics.get('auc') or 0:.4f}, {check}")
        say(f"ranked {done.n_impressions:,} impressions ({done.n_candidates:,} candidates, {done.n_new_news:,} news "
            f"new to the run)")
        for path in done.files:
            say(f"wrote {path}")
