"""`newsbench report`: tables and paired significance tests from a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from newsbench.cli.options import choice_option, other_option
from newsbench.errors import InputError


SELECTION, STATISTICS, OUTPUT = "Selection", "Statistics", "Output"

HELP = """Print the report of a results folder: fusion, ablation, placebo, weights, attribution, breakdown and \
beyond-accuracy tables, with paired tests at impression and seed level (Holm).

Baselines in RESULTS/baselines/ and the dataset card's references (found as ablate finds them, or from -d DATA or \
--card) are reference rows of the ablation table. The terminal shows each table's main columns; --markdown, \
--latex, --csv and --out give every column and note.
"""

EXAMPLES = """Examples:

  newsbench report -r results

  newsbench report -r results --configs id,id+llm/gate --seeds 0,1

  newsbench report -r results --reference id+llm/gate --metrics auc,ndcg10

  newsbench report -r results --table runs --csv > runs.csv

  newsbench report -r results --table beyond --k 5 --markdown

  newsbench report -r results -d data/MINDsmall --out results/report

  newsbench report --results results --plots --out results/report

  newsbench report -r results --tuned
"""


def _refuse_dataset(value):
    from newsbench.cli.options import BadOption

    if value is not None:
        raise BadOption("--dataset is now --fingerprint (a fingerprint prefix or dataset name); -d/--data takes a "
                        "data folder")
    return value


def register(app: typer.Typer) -> None:
    @app.command(help=HELP, epilog=EXAMPLES)
    def report(
        results: Path = typer.Option(Path("results"), "--results", "-r", rich_help_panel=SELECTION,
                                     help="Results folder (the one holding runs/)."),
        data: Optional[Path] = typer.Option(None, "--data", "-d", rich_help_panel=SELECTION,
                                            help="Data folder: only its runs; its dataset_card.json if present."),
        fingerprint: Optional[str] = typer.Option(None, "--fingerprint", rich_help_panel=SELECTION,
                                                  help="Only runs of this dataset (fingerprint prefix or name)."),
        configs: Optional[str] = typer.Option(None, "--configs", rich_help_panel=SELECTION,
                                              help="Configurations by label, e.g. id,id+llm/gate."),
        seeds: Optional[str] = typer.Option(None, "--seeds", rich_help_panel=SELECTION,
                                            help="Only these seeds' runs, e.g. 0,1,2."),
        dataset: Optional[str] = typer.Option(None, "--dataset", hidden=True, callback=_refuse_dataset),
        metric: str = typer.Option("auc", "--metric", rich_help_panel=STATISTICS,
                                   help="Metric of the tests: auc | mrr | ndcg@5 | ndcg@10."),
        tuned: bool = typer.Option(False, "--tuned", rich_help_panel=SELECTION,
                                   help="The runs `newsbench tune` trained, with the tuning table first."),
        reference: Optional[str] = typer.Option(None, "--reference", rich_help_panel=STATISTICS,
                                                help="Row every Δ and p of the ablation is against \\[default: id]."),
        test: str = choice_option("permutation", ("--test",), ("ttest", "wilcoxon", "permutation"),
                                  "Impression-level test: ttest | wilcoxon | permutation.",
                                  rich_help_panel=STATISTICS),
        alpha: float = other_option("alpha", 0.05, rich_help_panel=STATISTICS),
        margin: float = other_option("margin", 0.005, help="Equivalence margin (TOST), metric units.",
                                     rich_help_panel=STATISTICS),
        cluster: str = choice_option("user", ("--cluster",), ("user", "none"),
                                     help="Impression-level unit: user (a user's impressions are one unit) | none.",
                                     rich_help_panel=STATISTICS),
        resamples: int = other_option("resamples", 10_000, rich_help_panel=STATISTICS),
        table: Optional[str] = typer.Option(None, "--table", rich_help_panel=OUTPUT,
                                            help="Only this table: fusion | ablation | placebo | weights | "
                                            "attribution | breakdown | beyond | runs (one row per run)."),
        metrics: Optional[str] = typer.Option(None, "--metrics", rich_help_panel=OUTPUT,
                                              help="Metric columns, e.g. auc,mrr,ndcg@10 \\[default: --metric in "
                                              "the terminal, all in files]."),
        markdown: bool = typer.Option(False, "--markdown", help="Print markdown.", rich_help_panel=OUTPUT),
        latex: bool = typer.Option(False, "--latex", help="Print LaTeX (booktabs).", rich_help_panel=OUTPUT),
        csv: bool = typer.Option(False, "--csv", help="Print one table (--table, default ablation) as CSV.",
                                 rich_help_panel=OUTPUT),
        out: Optional[Path] = typer.Option(None, "--out", "-o", rich_help_panel=OUTPUT,
                                           help="Also write report.md, report.tex, a CSV per table, runs.csv and "
                                           "report.json here."),
        card: Optional[Path] = typer.Option(None, "--card", rich_help_panel=OUTPUT,
                                            help="A dataset_card.json (planted weights, ceilings) \\[default: the "
                                            "data's, when found]."),
        k: str = choice_option("10", ("--k",), ("5", "10"), "Cut-off of the beyond-accuracy table: 5 | 10.",
                               rich_help_panel=OUTPUT),
        plots: bool = typer.Option(False, "--plots", rich_help_panel=OUTPUT,
                                   help="Also write figures (forest plot of the differences, learned vs planted "
                                   "weights, cold/warm) as PNG, PDF and CSV to OUT/figures (needs "
                                   "newsbench\\[plots]); and print the weight bars."),
    ):
        from newsbench.report import print_and_write
        from newsbench.report.request import make_request

        chosen = [name for name, flag in (("markdown", markdown), ("latex", latex), ("csv", csv)) if flag]
        if len(chosen) > 1:
            raise InputError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
        req = make_request(results, data=data, fingerprint=fingerprint, configs=configs, seeds=seeds, card=card,
                           metric=metric, metrics=metrics, out=out)
        print_and_write(results, out_dir=out, alpha=alpha, test=test, metric=req.metric, card=req.card,
                        fmt=chosen[0] if chosen else None, n_resamples=resamples, plots=plots, cluster=cluster,
                        margin=margin, table=table, selection=req.selection, metrics=req.metrics,
                        reference=reference, bars=plots, k=int(k), tuned=tuned)
