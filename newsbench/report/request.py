"""What a report is asked for, checked before anything is built: the results folder, which records (a data folder,
a fingerprint, configurations, seeds), the dataset card and the metrics. `newsbench report` and the Python API
(newsbench.api.report) both start here, with the same messages."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsbench.errors import InputError
from newsbench.paths import check_writable_dir
from newsbench.report.groups import Selection
from newsbench.report.tables import metric_names


@dataclass(frozen=True)
class Request:
    selection: Selection
    card: object                 # a dataset_card.json path or its dict; None: no card
    metric: str                  # the metric of the tests, canonical (ndcg10 -> ndcg@10)
    metrics: list[str] | None    # the metric columns; None: the report's default


def make_request(results, *, data=None, fingerprint: str | None = None, configs: str | None = None,
                 seeds: str | None = None, card=None, metric: str = "auc", metrics: str | None = None,
                 out=None) -> Request:
    """The checked request; InputError (the command line's one line) for a missing results folder, -d with
    --fingerprint, an unknown metric, an unwritable --out, a card of other data."""
    results = Path(results)
    data = Path(data) if data is not None else None
    card = Path(card) if card is not None else None
    if not results.exists():
        raise InputError(f"--results {results}: not found")
    if not results.is_dir():
        raise InputError(f"--results {results}: is a file; give the results folder (it holds runs/)")
    if data is not None and fingerprint is not None:
        raise InputError("give -d DATA or --fingerprint, not both: -d picks the runs of that folder's data")
    metric = metric_names([metric], "--metric")[0]
    metric_cols = metric_names(metrics, "--metrics") if metrics is not None else None
    check_writable_dir(out, "--out")     # before the report is printed, not after
    selection = Selection(fingerprint, labels(configs), seed_list(seeds))
    found = None
    if data is not None:
        fp, found = data_folder(data)
        selection = Selection(fp, selection.configs, selection.seeds, flag=f"-d {data} (fingerprint {fp})")
    if card is not None:
        check_card(card, results, selection.fingerprint)
        found = card
    elif data is None:
        found = card_of_records(results, selection.fingerprint)
    return Request(selection, found, metric, metric_cols)


def labels(text: str | None) -> tuple[str, ...]:
    if text is None:
        return ()
    labels = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    if not labels:
        raise InputError(f"--configs {text!r}: name at least one configuration, e.g. id,id+llm/gate")
    return labels


def seed_list(text: str | None) -> tuple[int, ...]:
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
