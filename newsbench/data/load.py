"""`load_dataset`: the one entry point every stage uses to get a Dataset, cached by input fingerprint."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Callable, Iterator

from newsbench import paths
from newsbench.data import arrays, mind
from newsbench.data.dataset import Dataset
from newsbench.errors import InputError


def check_unknown_news(value: str) -> str:
    """--unknown-news: error | drop, lower case; InputError otherwise."""
    v = (value or "").strip().lower()
    if v not in mind.UNKNOWN_NEWS_MODES:
        raise InputError(f"--unknown-news {value!r}: choose error or drop")
    return v


def load_dataset(path: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None,
                 unknown_news: str = "error", progress: bool = True) -> Dataset:
    """Read a MIND folder (see `newsbench.data.mind`) or, with `path=None`, the embedded generated demo dataset.

    The parsed arrays are cached under `<cache>/datasets/<fingerprint>/`; a rerun on unchanged files loads them
    without parsing. A damaged cache entry is reported as a warning and rebuilt. Nothing is cached when validation
    fails. Raises `InputError` (file, line, reason) for bad input.
    """
    if unknown_news not in mind.UNKNOWN_NEWS_MODES:
        raise InputError(f"--unknown-news must be one of {', '.join(mind.UNKNOWN_NEWS_MODES)}, got {unknown_news!r}")
    if path is None:
        # Imported here: the generator is only needed for the default dataset.
        from newsbench.data.synth import default_path

        path = default_path(cache_dir)
    root = Path(path)
    cache_root = paths.cache_dir(cache_dir)
    files = mind.input_files(root)
    with _progress(progress) as step:
        step("fingerprinting input files")
        hashes, fresh = arrays.file_hashes(files, cache_root)
        fingerprint = mind.dataset_fingerprint(hashes)
        source = {"path": str(root.resolve()), "files": {k: str(p) for k, p in files.items()}, "sha256": hashes}
        try:
            ds = arrays.load(cache_root, fingerprint, unknown_news)
        except arrays.CorruptCache as err:
            mind.warn(f"dataset cache entry is damaged: {err}; rebuilding it")
            arrays.remove(cache_root, fingerprint, unknown_news)
            ds = None
        if ds is not None:
            arrays.remember_hashes(cache_root, fresh)
            ds.name = root.resolve().name
            ds.source = {**ds.source, **source}
            for msg in ds.source.get("warnings", []):
                mind.warn(msg)  # the same warnings as the parse that built the entry
            return ds
        ds = mind.read_mind(root, unknown_news=unknown_news, fingerprint=fingerprint, step=step)
        ds.source = {**ds.source, **source}
        step("writing the array cache")
        arrays.save(ds, cache_root, unknown_news, file_info=hashes)
        arrays.remember_hashes(cache_root, fresh)
    return ds


@contextlib.contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A transient rich spinner whose text follows the reader's stages; a no-op when disabled."""
    if not enabled:
        yield lambda msg: None
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        # A transient spinner still leaves an empty line in a pipe or a log: draw nothing there.
        yield lambda msg: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True) as bar:
        task = bar.add_task("loading data", total=None)
        yield lambda msg: bar.update(task, description=msg)


def require_splits(dataset: Dataset, data: str | os.PathLike | None) -> None:
    """Training needs a labelled train and dev split: say so before any feature or training work."""
    missing = [name for name in ("train", "dev") if getattr(dataset, name) is None or len(getattr(dataset, name)) == 0]
    if missing:
        where = str(data) if data is not None else dataset.name
        hint = ""
        if data is not None:
            unused = mind.unused_split_folders(Path(data), mind.find_splits(data))
            if unused:
                hint = f" ({', '.join(p.name + '/' for p in unused)} is not a split name: rename it)"
        raise InputError(f"-d {where}: no {' and no '.join(missing)} split with impressions; training needs a folder "
                         f"with train/ and dev/ (or MINDsmall_train/ and MINDsmall_dev/){hint}")
    for name in ("train", "dev"):
        if (getattr(dataset, name).label < 0).any():
            raise InputError(f"-d {data or dataset.name}: the {name} split has unlabelled impressions (a MIND test "
                             f"split?); it cannot be {'trained on' if name == 'train' else 'scored'}: only "
                             f"`newsbench predict --split` takes a split without labels")


def load_training_data(data: str | os.PathLike | None, cache_dir: str | os.PathLike | None = None,
                       unknown_news: str = "error") -> Dataset:
    """`load_dataset`, then `require_splits`: the dataset of a command that trains or scores (train, ablate,
    baselines), refused before any feature work when it has no labelled train and dev split."""
    dataset = load_dataset(data, cache_dir=cache_dir, unknown_news=check_unknown_news(unknown_news))
    require_splits(dataset, data)
    return dataset
