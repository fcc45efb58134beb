"""`newsbench report`: tables and paired significance tests from a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from newsbench.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        results: Path = typer.Option(Path("results"), "--results", "-r", help="Results folder written by `train` or "
                                     "`ablate` (holds runs/*.json + *.npz)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print markdown (pipe tables)."),
        latex: bool = typer.Option(False, "--latex", help="Print LaTeX tables (booktabs)."),
        csv: bool = typer.Option(False, "--csv", help="Print one table as CSV (--table, default ablation); every "
                                 "table as its own CSV file with --out."),
        table: Optional[str] = typer.Option(None, "--table", help="Print only this table: fusion | ablation | "
                                            "weights | breakdown (those the results allow)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write report.md, report.tex, one CSV per "
                                           "table and report.json (every number) into this folder."),
        alpha: float = typer.Option(0.05, "--alpha", help="Significance level, after Holm correction."),
        test: str = typer.Option("permutation", "--test", help="Impression-level test behind the markers: "
                                 "ttest | wilcoxon | permutation (paired sign-flip, 10,000 resamples)."),
        metric: str = typer.Option("auc", "--metric", help="Metric of the ablation p-values: auc | mrr | ndcg@5 | "
                                   "ndcg@10."),
        card: Optional[Path] = typer.Option(None, "--card", help="dataset_card.json of generated data: prints the "
                                            "planted per-category weights beside the learned ones, their rank "
                                            "correlation, and the oracle ceiling."),
        dataset: Optional[str] = typer.Option(None, "--dataset", help="Only runs of this dataset (fingerprint, or "
                                              "its prefix, or dataset name); needed when the folder mixes datasets."),
        resamples: int = typer.Option(10_000, "--resamples", help="Sign flips and bootstrap resamples."),
        cluster: str = typer.Option("user", "--cluster", help="Impression-level unit: user (a user's impressions "
                                    "count as one: sign flips and bootstrap per user) | none (every impression "
                                    "independent; p-values too small where users have several impressions)."),
        margin: float = typer.Option(0.005, "--margin", help="Equivalence margin in metric units: a pair is "
                                     "equivalent when TOST puts the difference within +-margin."),
        plots: bool = typer.Option(False, "--plots", help="Also write PNG + PDF figures (metrics with 95% CI over "
                                   "seeds; modality weights per category) into OUT/figures, default "
                                   "RESULTS/report/figures. Needs pip install 'newsbench\\[plots]'."),
    ):
        """Print the fusion comparison, ablation, modality-weight, modality-attribution and breakdown tables with
        paired tests at impression and seed level (Holm-corrected). Baselines recorded in RESULTS/baselines/ (by
        `ablate` or `newsbench baselines --results`) appear as reference rows of the ablation table.

        Example: newsbench report --results results --markdown --out results/report --card data/dataset_card.json

        Example with figures: newsbench report --results results --plots --out results/report
        """
        from newsbench.report import print_and_write

        chosen = [name for name, flag in (("markdown", markdown), ("latex", latex), ("csv", csv)) if flag]
        if len(chosen) > 1:
            raise InputError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
        if resamples < 1:
            raise InputError(f"--resamples must be positive: {resamples}")
        print_and_write(results, out_dir=out, alpha=alpha, test=test, metric=metric, card=card,
                        fmt=chosen[0] if chosen else None, dataset=dataset, n_resamples=resamples,
                        plots=plots, cluster=cluster, margin=margin, table=table)
