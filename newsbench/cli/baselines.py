"""`newsbench baselines`: the data-derived reference scores of a dataset (no training), as a table or JSON.

Only option parsing and rendering live here; the scorers and their records are newsbench.baselines.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from newsbench.cli.common import OUTPUT, CacheOpt, DataOpt, UnknownNewsOpt, plural
from newsbench.cli.options import FEATURE_OPTIONS, device_option, with_run_options

HELP = """Score the dev split with the data-derived baselines, no training.

Popularity, recent popularity, and the history-centroid text and graph scores (features from the cache, as a run \
with the same options reads them). Prints AUC, MRR, nDCG@5 and nDCG@10 over all, cold and warm candidates. With \
--results they are also recorded in RESULTS/baselines/, where `newsbench report` shows them as reference rows. More \
in docs/baselines.md.
"""
EPILOG = """Examples:
newsbench baselines
newsbench baselines -d ../MIND --text-encoder minilm --results results
newsbench baselines --text-encoder hash --only popularity,recent,text --json"""


def register(app: typer.Typer) -> None:
    app.command(name="baselines", help=HELP, epilog=EPILOG)(baselines)


@with_run_options(*FEATURE_OPTIONS, after="only")
def baselines(
    data: Optional[Path] = DataOpt,
    cache_dir: Optional[Path] = CacheOpt,
    unknown_news: str = UnknownNewsOpt,
    only: Optional[str] = typer.Option(None, "--only", help="Some of popularity,recent,text,graph; default all."),
    device: str = device_option(),
    results: Optional[Path] = typer.Option(None, "--results", "-r", rich_help_panel=OUTPUT,
                                           help="Also record them in RESULTS/baselines/."),
    as_json: bool = typer.Option(False, "--json", help="Print the records (no arrays) as JSON.",
                                 rich_help_panel=OUTPUT),
    **feature_options,
) -> None:
    from newsbench import baselines as bl
    from newsbench.data.load import load_training_data

    names = bl.parse_baselines(only)
    cfg = bl.baselines_config(results=results, device=device, **feature_options)
    dataset = load_training_data(data, cache_dir, unknown_news)     # checked before any feature work
    records = bl.score_baselines(dataset, cfg, names, cache_dir=cache_dir, results=results, progress=not as_json)
    if as_json:
        print(json.dumps(_clean(records), indent=1))
        return
    out = Console()
    out.print(baselines_table(records, title=f"baselines on {dataset.name} ({dataset.fingerprint[:12]}), "
                                             f"dev split"))
    if results is not None:
        Console(stderr=True).print(f"baselines: {plural(len(records), 'baseline')} recorded in "
                                   f"{Path(results) / bl.BASELINES_DIR}")


def _fmt(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4f}"


def baselines_table(records: list[dict], title: str | None = None) -> Table:
    """One block per baseline, rows all / cold / warm candidates, columns AUC MRR nDCG@5 nDCG@10 and n (impressions
    whose AUC is defined over those candidates); about 70 columns wide."""
    t = Table(title=title)
    t.add_column("baseline", no_wrap=True, max_width=24)
    t.add_column("cands", no_wrap=True)
    for head in ("AUC", "MRR", "nDCG@5", "nDCG@10"):
        t.add_column(head, justify="right", no_wrap=True)
    t.add_column("n", justify="right", no_wrap=True)
    for i, r in enumerate(records):
        rows = [(side, r["metrics_by"][side], r["metrics_by"][side]["n"]) for side in ("all", "cold", "warm")]
        for j, (side, m, n) in enumerate(rows):
            t.add_row(r["label"] if j == 0 else "", side,
                      *(_fmt(m.get(k)) for k in ("auc", "mrr", "ndcg@5", "ndcg@10")),
                      f"{n:,}",
                      end_section=j == len(rows) - 1 and i < len(records) - 1)
    return t


def _clean(obj):
    """NaN -> null, so the JSON is valid for any reader."""
    if isinstance(obj, float):
        return None if math.isnan(obj) else obj
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
