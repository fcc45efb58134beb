"""`newsbench data ...`: download, validate and summarise MIND-format data."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import List, Optional

import numpy as np
import typer

from newsbench.cli.common import OUTPUT, CacheOpt, UnknownNewsOpt, plural
from newsbench.data.dataset import Behaviors, Dataset
from newsbench.data.mind import unused_split_folders
from newsbench.errors import InputError

app = typer.Typer(
    help="Get, check and summarise MIND or EB-NeRD data.", epilog="Example: newsbench data info -d ../MIND",
    no_args_is_help=True,
)
# `-d/--data` names a data folder in every command that reads one; info and validate also take it as PATH.
PathArg = typer.Argument(None, help="MIND or EB-NeRD folder (or -d DATA).", show_default=False)

QUANTILES = (10, 25, 50, 75, 90, 99)


# ---------------------------------------------------------------------------------------------------- statistics


def describe(values: np.ndarray) -> dict[str, float]:
    """mean, p10..p99 (linear interpolation, as numpy's default) and max; the keys of MIND's stats.json."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return {"mean": math.nan, **{f"p{q}": math.nan for q in QUANTILES}, "max": math.nan}
    pct = np.percentile(v, QUANTILES)
    return {"mean": float(v.mean()), **{f"p{q}": float(x) for q, x in zip(QUANTILES, pct)}, "max": float(v.max())}


def concentration(indices: np.ndarray) -> dict[str, float]:
    """Distinct items and the share of occurrences that go to the top 1% and 10% of them."""
    if len(indices) == 0:
        return {"distinct": 0, "top1pct_share": math.nan, "top10pct_share": math.nan}
    counts = np.sort(np.bincount(indices)[np.unique(indices)])[::-1]
    total = counts.sum()

    def top(frac: float) -> float:
        return float(counts[: max(1, int(frac * len(counts)))].sum() / total)

    return {"distinct": int(len(counts)), "top1pct_share": top(0.01), "top10pct_share": top(0.10)}


def split_stats(b: Behaviors, seen_in_train: np.ndarray | None = None) -> dict:
    hist_len = np.diff(b.hist_ptr)
    size = np.diff(b.cand_ptr)
    labelled = b.label >= 0
    clicks_per = np.add.reduceat(np.asarray(b.label == 1, np.int64), b.cand_ptr[:-1]) if len(b) else np.zeros(0)
    clicked = b.cand[b.label == 1]
    out = {
        "impressions": int(len(b)),
        "distinct_users": int(len(np.unique(b.user))),
        "candidates": int(len(b.cand)),
        "clicks": int((b.label == 1).sum()),
        "labelled": bool(labelled.all()) if len(labelled) else True,
        "click_through_rate": float((b.label == 1).sum() / labelled.sum()) if labelled.any() else math.nan,
        "history_length": describe(hist_len),
        "empty_history_fraction": float((hist_len == 0).mean()) if len(b) else math.nan,
        "impression_size": describe(size),
        "clicks_per_impression": describe(clicks_per),
        "clicked_news": concentration(clicked),
        "history_news": concentration(b.hist),
        "time_range": [_iso(b.time.min()), _iso(b.time.max())] if len(b) else [None, None],
    }
    if seen_in_train is not None:
        out["unseen_in_train_candidate_share"] = float((~seen_in_train[b.cand]).mean()) if len(b.cand) else math.nan
    return out


def _iso(seconds) -> str:
    # MIND's clock times carry no zone; they were stored as if UTC, so this prints them as written.
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def dataset_stats(ds: Dataset) -> dict:
    """The numbers `newsbench data info` shows; per-split keys follow MIND's small-sample/stats.json."""
    news = ds.news
    n = len(news)
    share = np.bincount(news.category, minlength=len(news.categories)) / max(n, 1)
    order = np.argsort(-share, kind="stable")
    title_words = np.array([len(t.split()) for t in news.title], dtype=np.int64)
    abstract_words = np.array([len(a.split()) for a in news.abstract], dtype=np.int64)
    out = {
        "name": ds.name,
        "format": (ds.source or {}).get("format", "mind"),
        "fingerprint": ds.fingerprint,
        "news": n,
        "users": _distinct_users(ds),
        "categories": len(news.categories),
        "subcategories": len(news.subcategories),
        "category_share": {news.categories[i]: float(share[i]) for i in order},
        "title_words": describe(title_words),
        "abstract_words": describe(abstract_words),
        "empty_abstract_fraction": float((abstract_words == 0).mean()) if n else math.nan,
        "entities_per_news": describe(np.diff(news.entity_ptr)),
        "entity_vectors": None if ds.entity_vectors is None else list(ds.entity_vectors.shape),
        "splits": {},
    }
    seen = None
    if ds.train is not None:
        # Sized over every index in use: in --raw mode codes point into the behaviors' own id vocabulary.
        top = max([len(news)] + [int(b.cand.max(initial=-1)) + 1 for b in (ds.train, ds.dev) if b is not None]
                  + [int(b.hist.max(initial=-1)) + 1 for b in (ds.train, ds.dev) if b is not None])
        seen = np.zeros(top, dtype=bool)
        seen[ds.train.hist] = True
        seen[ds.train.cand] = True
    for split in ("train", "dev"):
        b = getattr(ds, split)
        if b is not None:
            out["splits"][split] = split_stats(b, seen if split == "dev" else None)
    return out


def raw_stats(path: Path) -> dict:
    """Statistics of the files as written, without joining behaviors to news (nothing is dropped or cached).

    Useful on excerpts whose behaviors name news absent from the news files (the real MIND samples): the history
    lengths and impression sizes are those of the rows, comparable with MIND's small-sample/stats.json.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from newsbench.data import mind

    splits = mind.find_splits(path)
    # --raw joins nothing, so behaviors alone are enough (news counts are then 0).
    news = mind.merge_news([mind.read_news(folder / "news.tsv") for folder in splits.values()
                            if (folder / "news.tsv").exists() or not (folder / "behaviors.tsv").exists()])
    users: list[pa.Array] = []
    tables = {s: mind.read_behaviors(folder / "behaviors.tsv") for s, folder in splits.items()}
    for t in tables.values():
        users.append(t.user)
    all_users = pc.unique(pa.chunked_array(users, type=pa.string()).combine_chunks())
    ds = Dataset(name=Path(path).resolve().name, fingerprint="", news=news,
                 users=np.asarray(all_users.to_numpy(zero_copy_only=False), dtype=str), train=None, dev=None)
    def chunks(x) -> list:
        return list(x.chunks) if isinstance(x, pa.ChunkedArray) else [x]

    vocab = pc.unique(pa.chunked_array([c for t in tables.values() for c in chunks(t.hist_tokens)] +
                                       [c for t in tables.values() for c in chunks(t.cand_tokens)],
                                       type=pa.string()).combine_chunks())
    for split, t in tables.items():
        # Codes into a vocabulary of every id the behaviors name, known to the news files or not.
        def codes(x, values) -> np.ndarray:
            return mind._np(pc.index_in(x, value_set=values)).astype(np.int32)

        b = Behaviors(t.impression_id, codes(t.user, all_users), t.time, t.hist_ptr, codes(t.hist_tokens, vocab),
                      t.cand_ptr, codes(t.cand_tokens, vocab), t.label)
        setattr(ds, split, b)
    out = dataset_stats(ds)
    out["fingerprint"] = None
    out["raw"] = True
    return out


def _clean(obj):
    """NaN -> None so --json output is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


# ------------------------------------------------------------------------------------------------------ commands


def data_folder(path: Optional[Path], data: Optional[Path], required: bool) -> Optional[Path]:
    """The folder given as PATH or as -d DATA (one of them, or both the same)."""
    if path is not None and data is not None and Path(path) != Path(data):
        raise InputError(f"two data folders, {path} and -d {data}; give one")
    folder = path if path is not None else data
    if folder is None and required:
        raise InputError("no data folder; give one as PATH or -d DATA")
    return folder


@app.command(epilog="Example: newsbench data info -d ../MIND --json")
def info(
    path: Optional[Path] = PathArg,
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="MIND or EB-NeRD folder (detected by its files). "
                                        "Default: the generated demo."),
    cache_dir: Optional[Path] = CacheOpt,
    unknown_news: str = UnknownNewsOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of tables.", rich_help_panel=OUTPUT),
    raw: bool = typer.Option(False, "--raw", help="The behaviors rows as written, not joined to the news (not "
                             "cached).", rich_help_panel=OUTPUT),
):
    """Summarise a dataset: news, users, impressions, clicks, CTR, quantiles, categories, cold dev candidates."""
    from newsbench.data.load import load_dataset

    path = data_folder(path, data, required=False)
    if raw:
        if path is None:
            raise InputError("--raw needs a data folder (PATH or -d DATA)")
        from newsbench.data.load import data_format

        if data_format(path) == "ebnerd":
            raise InputError(f"--raw reads MIND's tsv rows; {path} is an EB-NeRD folder (drop --raw)")
        stats = raw_stats(path)
    else:
        ds = load_dataset(path, cache_dir=cache_dir, unknown_news=unknown_news, progress=not as_json)
        stats = dataset_stats(ds)
    if as_json:
        print(json.dumps(_clean(stats), indent=1))
        return
    _render(stats)


def _render(stats: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    from newsbench.data.load import FORMATS

    console.print(f"[bold]{stats['name']}[/bold]"
                  + (f"  {FORMATS[stats['format']]}" if stats.get("format") in FORMATS else "")
                  + (f"  fingerprint {stats['fingerprint']}" if stats.get("fingerprint") else "")
                  + ("  (rows as written, not joined to news)" if stats.get("raw") else ""))
    console.print(f"news {stats['news']:,} · users {stats['users']:,} · categories {stats['categories']} · "
                  f"subcategories {stats['subcategories']} · empty abstracts "
                  f"{_pct(stats['empty_abstract_fraction'])}")
    splits = stats["splits"]
    t = Table(title="behaviors")
    t.add_column("", no_wrap=True)
    for s in splits:
        t.add_column(s, justify="right")

    def row(label, fn):
        t.add_row(label, *(fn(v) for v in splits.values()))

    row("impressions", lambda v: f"{v['impressions']:,}")
    row("users", lambda v: f"{v['distinct_users']:,}")
    row("candidates", lambda v: f"{v['candidates']:,}")
    row("clicks", lambda v: f"{v['clicks']:,}")
    row("CTR", lambda v: _pct(v["click_through_rate"]))
    for key, label in (("history_length", "history length"), ("impression_size", "impression size")):
        for q in ("p10", "p50", "p90", "p99", "max"):
            row(f"{label} {q}", lambda v, key=key, q=q: _num(v[key][q]))
        row(f"{label} mean", lambda v, key=key: _num(v[key]["mean"]))
    row("empty history", lambda v: _pct(v["empty_history_fraction"]))
    # the share of candidates that are cold: news never seen in train, which an ID embedding cannot know
    row("candidates unseen in train", lambda v: _pct(v.get("unseen_in_train_candidate_share")))
    console.print(t)
    for split, v in splits.items():
        console.print(f"{split} times: {v['time_range'][0]} – {v['time_range'][1]}")
    c = Table(title="categories (share of news)")
    c.add_column("category")
    c.add_column("share", justify="right")
    for name, share in stats["category_share"].items():
        c.add_row(name, f"{share:.1%}")
    console.print(c)


def _pct(x) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.2%}"


def _num(x) -> str:
    return "–" if x is None or not math.isfinite(x) else (f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}")


@app.command(epilog="Example: newsbench data validate -d ../MIND/MINDsmall_dev")
def validate(
    path: Optional[Path] = PathArg,
    data: Optional[Path] = typer.Option(None, "--data", "-d", help="MIND or EB-NeRD folder, or one split folder."),
    cache_dir: Optional[Path] = CacheOpt,
    unknown_news: str = UnknownNewsOpt,
):
    """Check every file of a MIND or EB-NeRD folder; exit 0 with one summary line, or 2 with the file, line (MIND)
    or row and column (EB-NeRD) and reason."""
    from newsbench.data.load import FORMATS, data_format, load_dataset, reader

    from newsbench.errors import warn

    path = data_folder(path, data, required=True)

    ds = load_dataset(path, cache_dir=cache_dir, unknown_news=unknown_news, progress=False)
    for split in ("train", "dev"):
        b = getattr(ds, split)
        if b is None:
            continue
        if len(b) == 0:
            raise InputError(f"the {split} split has no impressions left"
                             + (" after --unknown-news drop" if unknown_news == "drop" else ""), file=path)
        if (b.label >= 0).all() and not (b.label == 1).any():
            # An excerpt may lack clicks and still be well-formed: say it, without failing the check of the files.
            warn(f"{path}: the {split} split has no click (no impression token ending in -1); train and ablate "
                 f"cannot {'learn from' if split == 'train' else 'score'} it")
    fmt = data_format(path)
    splits = reader(path).find_splits(path)
    single = len(splits) == 1 and any((Path(path) / f).exists() for f in ("behaviors.tsv", "behaviors.parquet"))
    names = "train/ and validation/" if fmt == "ebnerd" else "train/ and dev/, or MINDsmall_train/ and MINDsmall_dev/"
    if not single:
        for split in ("train", "dev"):
            if split not in splits:
                warn(f"{path}: no {split} split ({names}); train and ablate need both")
    for folder in (unused_split_folders(Path(path), splits) if fmt == "mind" else []):
        warn(f"{folder}: ignored (not a split name); splits are train/ and dev/ (or MINDsmall_train/, "
             f"MINDsmall_dev/): rename it to use it")
    users = _distinct_users(ds)
    parts = [f"{len(ds.news):,} news", plural(users, "user")]
    for split in ("train", "dev"):
        b = getattr(ds, split)
        if b is not None:
            parts.append(f"{split} {plural(len(b), 'impression')} / {plural(len(b.cand), 'candidate')}")
    # MIND's line is as it always was; an EB-NeRD folder is named as such first.
    print(f"ok: {path}: " + ", ".join(([FORMATS[fmt]] if fmt != "mind" else []) + parts))


def _distinct_users(ds: Dataset) -> int:
    """Users in the behaviors as loaded (after --unknown-news drop), as the per-split table counts them."""
    codes = [b.user for b in (ds.train, ds.dev) if b is not None]
    return int(len(np.unique(np.concatenate(codes)))) if codes else int(len(ds.users))


@app.command(epilog="Example: newsbench data download mind-small --out ../MIND && newsbench data info -d ../MIND")
def download(
    dataset: str = typer.Argument(..., help="mind-demo, mind-small or mind-large."),
    out: Path = typer.Option(..., "--out", "-o", help="Folder for the zips (OUT/zips/) and the splits.",
                             rich_help_panel=OUTPUT),
    base_url: Optional[str] = typer.Option(
        None, "--base-url", envvar="NEWSBENCH_MIND_URL",
        help="Mirror of MIND's download site (docs/data.md)."),
    part: List[str] = typer.Option(["train", "dev"], "--part", show_default=False, metavar="ZIP",
                                   help="Zips: train, dev, utils (repeat --part); default train and dev."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar.", show_default=False),
):
    """Download and unzip MIND (resumes partial downloads; checks sizes; atomic)."""
    from newsbench.data.download import download_mind

    report = download_mind(dataset, out, base_url=base_url, parts=part, progress=progress)
    for name, r in report.items():
        known = "matches the known size" if r["known_size"] else "size reported by the server (no known size)"
        print(f"{name}: {r['bytes']:,} bytes ({known}) -> {r['folder']}")


try:  # the `synth` command lives in its own module, written separately
    from newsbench.cli import synth as _synth
except ImportError:
    _synth = None
if _synth is not None and hasattr(_synth, "register"):
    _synth.register(app)
