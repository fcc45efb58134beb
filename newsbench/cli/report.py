"""`newsbench report`: tables and paired significance tests from a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from newsbench.cli.options import check_writable_dir, choice_option, other_option
from newsbench.errors import InputError


def register(app: typer.Typer) -> None:
    @app.command()
    def report(
        results: Path = typer.Option(Path("results"), "--results", "-r", help="Results folder written by `train` or "
                                     "`ablate` (run records in RESULTS/runs/)."),
        markdown: bool = typer.Option(False, "--markdown", help="Print markdown (pipe tables)."),
        latex: bool = typer.Option(False, "--latex", help="Print LaTeX tables (booktabs)."),
        csv: bool = typer.Option(False, "--csv", help="Print one table as CSV (--table, default ablation); every "
                                 "table as its own CSV file with --out."),
        table: Optional[str] = typer.Option(None, "--table", help="Print only this table: fusion | ablation | "
                                            "placebo | weights | attribution | breakdown (those the results allow)."),
        out: Optional[Path] = typer.Option(None, "--out", "-o", help="Also write report.md, report.tex, one CSV per "
                                           "table and report.json (every number) into this folder."),
        alpha: float = other_option("alpha", 0.05),
        test: str = choice_option("permutation", ("--test",), ("ttest", "wilcoxon", "permutation"),
                                  "Impression-level test behind the markers: ttest | wilcoxon | permutation (paired "
                                  "sign-flip, --resamples resamples)."),
        metric: str = choice_option("auc", ("--metric",), ("auc", "mrr", "ndcg@5", "ndcg@10"),
                                    "Metric of the ablation p-values: auc | mrr | ndcg@5 | ndcg@10."),
        card: Optional[Path] = typer.Option(None, "--card", help="dataset_card.json of generated data: prints the "
                                            "planted per-category weights beside the learned ones, their rank "
                                            "correlation, and the oracle ceiling."),
        dataset: Optional[str] = typer.Option(None, "--dataset", help="Only runs of this dataset (fingerprint, or "
                                              "its prefix, or dataset name); needed when the folder mixes datasets."),
        resamples: int = other_option("resamples", 10_000),
        cluster: str = choice_option("user", ("--cluster",), ("user", "none"),
                                     help="Impression-level unit: user (a user's impressions "
                                     "count as one: sign flips and bootstrap per user) | none (every impression "
                                     "independent; p-values too small where users have several impressions)."),
        margin: float = other_option("margin", 0.005),
        plots: bool = typer.Option(False, "--plots", help="Also write PNG + PDF figures (metrics with 95% CI over "
                                   "seeds; modality weights per category) into OUT/figures, default "
                                   "RESULTS/report/figures. Needs pip install 'newsbench\\[plots]'."),
    ):
        """Print the fusion comparison, ablation, placebo, modality-weight, modality-attribution and breakdown tables.

        Paired tests at impression and seed level (Holm-corrected). Baselines recorded in RESULTS/baselines/ (by
        `ablate` or `newsbench baselines --results`) appear as reference rows of the ablation table, as does the
        thesis' comparison (the best id+llm+gnn fusion vs the best two-modality configuration). Configurations with
        rand, the placebo, are marked as controls; the placebo table tests each modality against it.

        Example: newsbench report --results results --markdown --out results/report --card data/dataset_card.json

        Example with figures: newsbench report --results results --plots --out results/report
        """
        from newsbench.report import print_and_write

        chosen = [name for name, flag in (("markdown", markdown), ("latex", latex), ("csv", csv)) if flag]
        if len(chosen) > 1:
            raise InputError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
        if not results.exists():
            raise InputError(f"--results {results}: not found")
        if not results.is_dir():
            raise InputError(f"--results {results}: is a file; give the results folder (it holds runs/)")
        check_writable_dir(out, "--out")     # before the report is printed, not after
        if card is not None:
            check_card(card, results, dataset)
        print_and_write(results, out_dir=out, alpha=alpha, test=test, metric=metric, card=card,
                        fmt=chosen[0] if chosen else None, dataset=dataset, n_resamples=resamples,
                        plots=plots, cluster=cluster, margin=margin, table=table)


def check_card(card: Path, results: Path, dataset: str | None) -> None:
    """The card must describe the data the runs were trained on: its folder's fingerprint is among the records'
    (when the card sits in its dataset folder), or else its sizes match theirs. A card of other data would print
    another dataset's oracle and planted weights beside these runs."""
    from newsbench import store
    from newsbench.report.card import read_card

    info = read_card(card)
    records = [r for r in store.load_records(results)
               if not dataset or r["dataset"]["fingerprint"].startswith(dataset) or r["dataset"].get("name") == dataset]
    if not records:
        return                  # the report says there is nothing to report
    fingerprints = {r["dataset"]["fingerprint"] for r in records}
    names = ", ".join(sorted({f"{r['dataset'].get('name')} ({r['dataset']['fingerprint'][:12]})" for r in records}))
    own = _folder_fingerprint(card.parent)
    if own is not None:
        if own not in fingerprints:
            raise InputError(f"--card {card}: the card's dataset ({card.parent.name}, fingerprint {own[:12]}) is not "
                             f"the one the runs were trained on: {names}; give that dataset's dataset_card.json")
        return
    sizes = info.get("sizes") or {}
    want = {"n_news": sizes.get("news"), "n_train_impressions": sizes.get("train_impressions"),
            "n_dev_impressions": sizes.get("dev_impressions")}
    for r in records:
        bad = [k for k, v in want.items() if v is not None and r["dataset"].get(k) not in (None, v)]
        if bad:
            raise InputError(f"--card {card}: the card describes other data than the runs ({names}): "
                             f"{bad[0].replace('n_', '').replace('_', ' ')} {want[bad[0]]:,} in the card, "
                             f"{r['dataset'][bad[0]]:,} in the runs; give that dataset's dataset_card.json")


def _folder_fingerprint(folder: Path) -> str | None:
    """The dataset fingerprint of the MIND folder holding the card, or None when it is not one (a copied card)."""
    from newsbench import paths
    from newsbench.data import arrays, mind

    try:
        files = mind.input_files(folder)
        hashes, _ = arrays.file_hashes(files, paths.cache_dir())
    except (InputError, OSError):
        return None
    return mind.dataset_fingerprint(hashes)
