"""`newsbench report`: tables and paired significance tests from a results folder."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from newsbench.cli.options import check_writable_dir, choice_option, other_option
from newsbench.errors import InputError


SELECTION, STATISTICS, OUTPUT = "Selection", "Statistics", "Output"

HELP = """Print the report of a results folder: fusion, ablation, placebo, weights, attribution and breakdown \
tables, with paired tests at impression and seed level (Holm).

Baselines in RESULTS/baselines/ and the dataset card's references (found as ablate finds them, or from -d DATA or \
--card) are reference rows of the ablation table. The terminal shows each table's main columns; --markdown, \
--latex, --csv and --out give every column and note.
"""

EXAMPLES = """Examples:

  newsbench report -r results

  newsbench report -r results --configs id,id+llm/gate --seeds 0,1

  newsbench report -r results --reference id+llm/gate --metrics auc,ndcg10

  newsbench report -r results --table runs --csv > runs.csv

  newsbench report -r results -d data/MINDsmall --out results/report

  newsbench report --results results --plots --out results/report
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
                                            "attribution | breakdown | runs (one row per run)."),
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
        plots: bool = typer.Option(False, "--plots", rich_help_panel=OUTPUT,
                                   help="Also write PNG/PDF figures to OUT/figures (needs newsbench\\[plots]); "
                                   "and print the weight bars."),
    ):
        from newsbench.report import print_and_write
        from newsbench.report.groups import Selection
        from newsbench.report.tables import metric_names

        chosen = [name for name, flag in (("markdown", markdown), ("latex", latex), ("csv", csv)) if flag]
        if len(chosen) > 1:
            raise InputError(f"choose one output format, not {' and '.join('--' + c for c in chosen)}")
        if not results.exists():
            raise InputError(f"--results {results}: not found")
        if not results.is_dir():
            raise InputError(f"--results {results}: is a file; give the results folder (it holds runs/)")
        if data is not None and fingerprint is not None:
            raise InputError("give -d DATA or --fingerprint, not both: -d picks the runs of that folder's data")
        metric = metric_names([metric], "--metric")[0]
        metric_cols = metric_names(metrics, "--metrics") if metrics is not None else None
        check_writable_dir(out, "--out")     # before the report is printed, not after
        selection = Selection(fingerprint, _labels(configs), _seed_list(seeds))
        found = None
        if data is not None:
            fp, found = data_folder(data)
            selection = Selection(fp, selection.configs, selection.seeds, flag=f"-d {data} (fingerprint {fp})")
        if card is not None:
            check_card(card, results, selection.fingerprint)
            found = card
        elif data is None:
            found = card_of_records(results, selection.fingerprint)
        print_and_write(results, out_dir=out, alpha=alpha, test=test, metric=metric, card=found,
                        fmt=chosen[0] if chosen else None, n_resamples=resamples, plots=plots, cluster=cluster,
                        margin=margin, table=table, selection=selection, metrics=metric_cols, reference=reference,
                        bars=plots)


def _labels(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    labels = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not labels:
        raise InputError(f"--configs {text!r}: name at least one configuration, e.g. id,id+llm/gate")
    return labels


def _seed_list(text: str | None) -> tuple[int, ...]:
    if text is None:
        return ()
    try:
        seeds = tuple(dict.fromkeys(int(t) for t in text.split(",") if t.strip()))
    except ValueError:
        raise InputError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2") from None
    if not seeds:
        raise InputError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2")
    return seeds


def data_folder(data: Path) -> tuple[str, dict | None]:
    """-d DATA: the folder's dataset fingerprint and its card (None without dataset_card.json), as `load_dataset`
    reads them; InputError when it is not a data folder."""
    from newsbench.data import mind
    from newsbench.report.card import folder_fingerprint, read_card

    if not data.exists():
        raise InputError(f"-d {data}: not found")
    mind.input_files(data)              # the reader's own message for a folder that is not MIND data
    fp = folder_fingerprint(data)
    if fp is None:
        raise InputError(f"-d {data}: not a readable data folder")
    path = data / "dataset_card.json"
    return fp, (read_card(path) if path.is_file() else None)


def card_of_records(results: Path, fingerprint: str | None) -> dict | None:
    """The card of the records' dataset, found as `ablate` finds it (newsbench.report.card.find_card); None when
    the records are of several datasets (the report refuses those) or none."""
    from newsbench import store
    from newsbench.report.card import find_card

    fps = {r["dataset"]["fingerprint"] for r in store.load_records(results)
           if not fingerprint or r["dataset"]["fingerprint"].startswith(fingerprint)
           or r["dataset"].get("name") == fingerprint}
    return find_card(fps.pop()) if len(fps) == 1 else None


def check_card(card: Path, results: Path, dataset: str | None) -> None:
    """The card must describe the data the runs were trained on: its folder's fingerprint is among the records'
    (when the card sits in its dataset folder), or else its sizes match theirs. A card of other data would print
    another dataset's oracle and planted weights beside these runs."""
    from newsbench import store
    from newsbench.report.card import folder_fingerprint, read_card

    info = read_card(card)
    records = [r for r in store.load_records(results)
               if not dataset or r["dataset"]["fingerprint"].startswith(dataset) or r["dataset"].get("name") == dataset]
    if not records:
        return                  # the report says there is nothing to report
    fingerprints = {r["dataset"]["fingerprint"] for r in records}
    names = ", ".join(sorted({f"{r['dataset'].get('name')} ({r['dataset']['fingerprint'][:12]})" for r in records}))
    own = folder_fingerprint(card.parent)
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
