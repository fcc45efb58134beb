"""Read and validate an EB-NeRD folder (RecSys Challenge 2024, Ekstra Bladet) into the same `Dataset` MIND fills.

Layouts (`find_splits`):
  - a folder holding `articles.parquet` beside `train/` and `validation/` (the shipped `ebnerd_demo/`,
    `ebnerd_small/`, `ebnerd_large/`), each split folder holding `behaviors.parquet` and `history.parquet`;
  - the test set's folder (`ebnerd_testset/`: `articles.parquet` beside `test/`): `test/` is read as the dev split,
    unlabelled (its behaviors have no `article_ids_clicked`), as MIND-large's test split is;
  - one split folder given directly (it holds `behaviors.parquet`); `articles.parquet` is then looked for in it and
    in its parent. `validation/`, `dev/` and `test/` are read as the dev split, any other name as train.

Mapping onto newsbench's arrays (`newsbench.data.dataset`):
  - news: `articles.parquet` rows in file order; id = str(article_id); title; abstract = subtitle; category =
    category_str; subcategory = the first id of the `subcategory` list as text ("" when empty; EB-NeRD ships no
    subcategory names); entities = the `ner_clusters` names, each article's list deduplicated in order.
    `entity_groups` (the NER type of each mention: PER, ORG, LOC ...) and `topics` are not read: a handful of type
    labels as graph nodes would join nearly every article to every other, and nothing in the published schema says
    the two lists are aligned. There are no entity vectors (`--entity-vectors data` falls back to random rows).
  - impressions: one row of `behaviors.parquet` each; impression id, user (str(user_id)), time (impression_time as
    unix seconds, the file's clock read as UTC, as MIND's), candidates = `article_ids_inview` in order, label 1 for
    those in `article_ids_clicked`.
  - history: EB-NeRD keeps one history per user and split (`history.parquet`: the user's clicks in the weeks before
    the split's window), not one per impression. Each impression gets its user's `article_id_fixed` (oldest first),
    as the EB-NeRD baselines join it; the history is not cut at the impression's time (it ends before the window).

Every problem a user can cause raises one InputError naming the file, the row (counted from 0, as pandas and
polars index rows) and the column. Only the columns above are read (`pyarrow.parquet.read_table(columns=...)`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from newsbench.data.dataset import Behaviors, Dataset, News, csr_positions
from newsbench.data.mind import _drop, _select_rows      # the same CSR edits as MIND's --unknown-news drop
from newsbench.data import mind
from newsbench.errors import InputError, warn

# Bump when the parsed arrays change meaning: it is part of every EB-NeRD fingerprint (MIND's has its own).
READER_VERSION = "ebnerd-reader-1"
ARTICLES = "articles.parquet"
BEHAVIORS = "behaviors.parquet"
HISTORY = "history.parquet"
# split folder name -> newsbench split; the first present of each split's names is used
SPLIT_FOLDERS = {"train": ("train",), "dev": ("validation", "dev", "test")}

# Column kinds: what a column must hold. Integer widths are not checked (EB-NeRD's are int32/uint32; a re-saved
# file may widen them), the kind is.
INT, TIME, STR, INT_LIST, STR_LIST = "integer", "timestamp", "string", "list<integer>", "list<string>"
ARTICLE_COLUMNS = {"article_id": INT, "title": STR, "subtitle": STR, "category_str": STR, "subcategory": INT_LIST,
                   "ner_clusters": STR_LIST}
BEHAVIOR_COLUMNS = {"impression_id": INT, "user_id": INT, "impression_time": TIME, "article_ids_inview": INT_LIST,
                    "article_ids_clicked": INT_LIST}
HISTORY_COLUMNS = {"user_id": INT, "article_id_fixed": INT_LIST}
LABELS = "article_ids_clicked"          # absent from the test split: its impressions are unlabelled


# ----------------------------------------------------------------------------------------------------------- layout


def is_ebnerd(path: str | os.PathLike) -> bool:
    """Whether `-d PATH` is an EB-NeRD folder (parquet files) rather than a MIND one (tsv files)."""
    root = Path(path)
    if not root.is_dir():
        return False
    if (root / BEHAVIORS).exists() or (root / ARTICLES).exists():
        return True
    return any((root / name / BEHAVIORS).exists() for names in SPLIT_FOLDERS.values() for name in names)


def find_splits(path: str | os.PathLike) -> dict[str, Path]:
    """Map split name ("train"/"dev") to its folder for any of the layouts in the module docstring."""
    root = Path(path)
    if not root.is_dir():
        raise InputError("no such folder" if not root.exists() else "not a folder", file=root)
    if (root / BEHAVIORS).exists():
        name = root.resolve().name.lower()
        return {"dev" if name in SPLIT_FOLDERS["dev"] else "train": root}
    splits = {}
    for split, names in SPLIT_FOLDERS.items():
        found = [root / n for n in names if (root / n / BEHAVIORS).exists()]
        if len(found) > 1 and split == "dev" and (root / "test") in found:
            found.remove(root / "test")        # validation/ beside test/: the labelled one is the dev split
        if len(found) > 1:
            raise InputError(f"ambiguous layout: several {split} folders ({', '.join(p.name + '/' for p in found)})"
                             f"; keep one", file=root)
        if found:
            splits[split] = found[0]
    if not splits:
        raise InputError("not an EB-NeRD folder: expected articles.parquet beside train/ and validation/, each "
                         "holding behaviors.parquet and history.parquet", file=root)
    return splits


def articles_path(root: Path) -> Path:
    """articles.parquet: in the folder given, else in its parent (a split folder given directly)."""
    root = Path(root)
    if (root / BEHAVIORS).exists() and not (root / ARTICLES).exists() and (root.parent / ARTICLES).exists():
        return root.parent / ARTICLES
    return root / ARTICLES


def input_files(path: str | os.PathLike) -> dict[str, Path]:
    """The files a dataset is read from, keyed "articles.parquet", "split/name" (plus "dataset_card.json")."""
    root = Path(path)
    files = {ARTICLES: articles_path(root)}
    for split, folder in find_splits(root).items():
        for name in (BEHAVIORS, HISTORY):
            files[f"{split}/{name}"] = folder / name
    card = root / "dataset_card.json"
    if card.is_file():
        files["dataset_card.json"] = card
    return files


def dataset_fingerprint(file_hashes: dict[str, str]) -> str:
    """Content-only fingerprint: the reader version and each file's key and content hash (as MIND's, with
    another reader version, so the two formats of one world have different fingerprints: their bytes differ)."""
    return mind.dataset_fingerprint(file_hashes, READER_VERSION)


# ------------------------------------------------------------------------------------------------------ parquet


def _where(row: int, column: str) -> str:
    return f"row {row} (from 0), column {column}"


def _kind_ok(kind: str, t: pa.DataType) -> bool:
    if kind == INT:
        return pa.types.is_integer(t)
    if kind == TIME:
        return pa.types.is_timestamp(t) or pa.types.is_date(t)
    if kind == STR:
        return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t)
    if not (pa.types.is_list(t) or pa.types.is_large_list(t)):
        return pa.types.is_null(t)
    v = t.value_type
    return pa.types.is_integer(v) if kind == INT_LIST else (pa.types.is_string(v) or pa.types.is_large_string(v))


def describe(t: pa.DataType) -> str:
    """A column type as the schema documents it: list<int32>, not Arrow's list<element: int32>."""
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"list<{describe(t.value_type)}>"
    return str(t)


def read_parquet(path: Path, columns: dict[str, str], optional: tuple[str, ...] = ()) -> pa.Table:
    """Only `columns` of a parquet file, each checked for its kind; InputError for a missing, empty or unreadable
    file, a missing column (those in `optional` may be absent) or a column of the wrong type."""
    path = Path(path)
    if not path.exists():
        raise InputError("missing file", file=path)
    if path.is_dir():
        raise InputError("is a directory, expected a file", file=path)
    if path.stat().st_size == 0:
        raise InputError("empty file (zero bytes)", file=path)
    try:
        schema = pq.read_schema(path)
    except PermissionError:
        raise InputError("unreadable file (permission denied)", file=path) from None
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"not a readable parquet file ({str(err).splitlines()[0]})", file=path) from None
    wanted = [c for c in columns if c in schema.names]
    missing = [c for c in columns if c not in schema.names and c not in optional]
    if missing:
        has = ", ".join(schema.names[:12]) + (" ..." if len(schema.names) > 12 else "")
        raise InputError(f"no column {missing[0]} (EB-NeRD's schema has it; this file has {has})", file=path)
    for c in wanted:
        t = schema.field(c).type
        if not _kind_ok(columns[c], t):
            raise InputError(f"column {c} is {describe(t)}, expected {columns[c]}", file=path)
    try:
        return pq.read_table(path, columns=wanted)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"not a readable parquet file ({str(err).splitlines()[0]})", file=path) from None


def _array(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)


def _no_nulls(arr: pa.Array, path: Path, column: str, what: str = "no value") -> None:
    if arr.null_count:
        row = int(np.flatnonzero(arr.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{_where(row, column)}: {what} (null)", file=path)


def _ints(arr: pa.Array, path: Path, column: str) -> np.ndarray:
    _no_nulls(arr, path, column)
    return arr.to_numpy(zero_copy_only=False).astype(np.int64)


def _strings(arr: pa.Array) -> np.ndarray:
    """Object array of str; null -> ""."""
    if pa.types.is_null(arr.type):
        return np.full(len(arr), "", dtype=object)
    return np.asarray(pc.fill_null(arr, "").to_numpy(zero_copy_only=False), dtype=object)


def _lists(arr: pa.Array, path: Path, column: str, allow_null_list: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(CSR ptr, flat numpy values) of a list column; a null list is an error (or empty with `allow_null_list`), a
    null element always is."""
    if pa.types.is_null(arr.type):
        if len(arr) and not allow_null_list:
            raise InputError(f"{_where(0, column)}: no list (null)", file=path)
        return np.zeros(len(arr) + 1, np.int64), np.zeros(0, dtype=object)
    if not allow_null_list:
        _no_nulls(arr, path, column, "no list")
    lengths = pc.fill_null(pc.list_value_length(arr), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    ptr = np.zeros(len(arr) + 1, np.int64)
    np.cumsum(lengths, out=ptr[1:])
    flat = pc.list_flatten(arr)
    if flat.null_count:
        k = int(np.flatnonzero(flat.is_null().to_numpy(zero_copy_only=False))[0])
        raise InputError(f"{_where(_row_of(ptr, k), column)}: a null inside the list", file=path)
    values = np.asarray(flat.to_numpy(zero_copy_only=False))
    return ptr, values.astype(np.int64) if pa.types.is_integer(flat.type) else values


def _row_of(ptr: np.ndarray, k: int) -> int:
    return int(np.searchsorted(ptr, k, side="right") - 1)


def _check_unique(ids: np.ndarray, path: Path, column: str, what: str) -> None:
    _, first, counts = np.unique(ids, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = np.ones(len(ids), bool)
        dup[first] = False
        row = int(np.flatnonzero(dup)[0])
        earlier = int(np.flatnonzero(ids == ids[row])[0])
        raise InputError(f"{_where(row, column)}: duplicate {what} {ids[row]} (first in row {earlier})", file=path)


# ------------------------------------------------------------------------------------------------------- articles


def read_articles(path: Path) -> News:
    """articles.parquet -> News (rows in file order; see the module docstring for the mapping)."""
    t = read_parquet(path, ARTICLE_COLUMNS)
    ids = _ints(_array(t, "article_id"), path, "article_id")
    _check_unique(ids, path, "article_id", "article id")
    category = pd.Categorical(_strings(_array(t, "category_str")))
    sub_ptr, sub_flat = _lists(_array(t, "subcategory"), path, "subcategory", allow_null_list=True)
    has_sub = np.diff(sub_ptr) > 0
    first_sub = np.full(len(ids), "", dtype=object)
    first_sub[has_sub] = sub_flat[sub_ptr[:-1][has_sub]].astype(str)
    subcategory = pd.Categorical(first_sub)
    ent_ptr, ent_flat = _lists(_array(t, "ner_clusters"), path, "ner_clusters", allow_null_list=True)
    names = ent_flat.astype(object)
    # Codes in first-seen order over (article, position), as MIND's reader numbers WikidataIds; then each article's
    # repeats removed, keeping the first (removing later repeats does not change any first sighting).
    codes, uniques = pd.factorize(names) if len(names) else (np.zeros(0, np.int64), np.array([], dtype=object))
    row = np.repeat(np.arange(len(ids), dtype=np.int64), np.diff(ent_ptr))
    n_ent = max(len(uniques), 1)
    _, keep = np.unique(row * n_ent + codes, return_index=True)
    keep = np.sort(keep)
    entity_ptr = np.zeros(len(ids) + 1, np.int64)
    np.cumsum(np.bincount(row[keep], minlength=len(ids)), out=entity_ptr[1:])
    return News(
        ids=ids.astype(str),
        category=np.asarray(category.codes, dtype=np.int32),
        subcategory=np.asarray(subcategory.codes, dtype=np.int32),
        categories=[str(c) for c in category.categories],
        subcategories=[str(c) for c in subcategory.categories],
        title=_strings(_array(t, "title")),
        abstract=_strings(_array(t, "subtitle")),
        entity_ptr=entity_ptr,
        entity_idx=np.asarray(codes[keep], dtype=np.int32),
        entities=[str(u) for u in uniques],
    )


# ------------------------------------------------------------------------------------------------------ behaviors


@dataclass
class SplitTable:
    """One split's behaviors and histories, parsed: article ids still raw (int64), users as raw ids."""

    path: Path
    impression_id: np.ndarray
    user: np.ndarray           # (M,) int64 raw user_id
    time: np.ndarray
    cand_ptr: np.ndarray
    cand: np.ndarray           # (nnz,) int64 raw article ids
    label: np.ndarray
    hist_path: Path
    hist_user: np.ndarray      # (H,) raw user ids of history.parquet
    hist_ptr: np.ndarray       # (H+1,)
    hist: np.ndarray           # raw article ids


def _pair_keys(ptr: np.ndarray, values: np.ndarray) -> np.ndarray:
    """(row, value) pairs of a CSR list as one int64 key each (article ids are 32-bit)."""
    keys = np.repeat(np.arange(len(ptr) - 1, dtype=np.int64), np.diff(ptr))
    keys <<= 32                                  # in place: two arrays of 8 bytes per pair at most, not four
    keys |= np.asarray(values, dtype=np.int64) & 0xFFFFFFFF
    return keys


def _in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """np.isin by binary search in an already sorted array (numpy's hash-based unique, which isin calls, is slow on
    these row-shifted keys: seconds per million)."""
    if len(sorted_set) == 0:
        return np.zeros(len(values), bool)
    pos = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[pos] == values


def read_split(folder: Path, messages: list[str]) -> SplitTable:
    """behaviors.parquet + history.parquet of one split folder, checked on whole columns. Repeated impression ids
    are kept, each row its own impression numbered by its row + 1, with a warning (as MIND's reader does: reports
    pair runs by impression id, so one id must name one impression)."""
    path = folder / BEHAVIORS
    t = read_parquet(path, BEHAVIOR_COLUMNS, optional=(LABELS,))
    impression_id = _ints(_array(t, "impression_id"), path, "impression_id")
    _, first, inverse = np.unique(impression_id, return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first[inverse] != np.arange(len(impression_id)))
    if len(repeats):
        row = int(repeats[0])
        msg = (f"{path}: {len(repeats):,} repeated impression id{'s' if len(repeats) != 1 else ''} (row {row} repeats "
               f"{impression_id[row]} of row {int(first[inverse[row]])}); every row is kept as its own impression, "
               f"numbered by its row + 1")
        warn(msg)
        messages.append(msg)
        impression_id = np.arange(1, len(impression_id) + 1, dtype=np.int64)
    user = _ints(_array(t, "user_id"), path, "user_id")
    times = _array(t, "impression_time")
    _no_nulls(times, path, "impression_time")
    # to whole seconds (sub-second parts dropped), a zone's times as UTC, a date as its midnight
    time = np.asarray(times.to_numpy(zero_copy_only=False)).astype("datetime64[s]").astype(np.int64)
    cand_ptr, cand = _lists(_array(t, "article_ids_inview"), path, "article_ids_inview")
    empty = np.flatnonzero(np.diff(cand_ptr) == 0)
    if len(empty):
        raise InputError(f"{_where(int(empty[0]), 'article_ids_inview')}: empty list (an impression needs at least "
                         f"one candidate)", file=path)
    cand_keys = _pair_keys(cand_ptr, cand)
    sorted_cands = np.sort(cand_keys)
    if (sorted_cands[1:] == sorted_cands[:-1]).any():
        dup = np.ones(len(cand_keys), bool)
        dup[np.unique(cand_keys, return_index=True)[1]] = False
        k = int(np.flatnonzero(dup)[0])
        raise InputError(f"{_where(_row_of(cand_ptr, k), 'article_ids_inview')}: an article listed twice "
                         f"({cand[k]})", file=path)
    if LABELS in t.column_names:
        click_ptr, clicked = _lists(_array(t, LABELS), path, LABELS)
        click_keys = _pair_keys(click_ptr, clicked)
        outside = np.flatnonzero(~_in_sorted(click_keys, sorted_cands))
        if len(outside):
            k = int(outside[0])
            raise InputError(f"{_where(_row_of(click_ptr, k), LABELS)}: clicked article {clicked[k]} is not in "
                             f"article_ids_inview", file=path)
        label = _in_sorted(cand_keys, np.sort(click_keys)).astype(np.int8)
    else:
        label = np.full(len(cand), -1, dtype=np.int8)   # the test split: no labels
    del t, cand_keys, sorted_cands                      # the split's largest scratch, before the history is read
    hpath = folder / HISTORY
    h = read_parquet(hpath, HISTORY_COLUMNS)
    hist_user = _ints(_array(h, "user_id"), hpath, "user_id")
    _check_unique(hist_user, hpath, "user_id", "user id")
    hist_ptr, hist = _lists(_array(h, "article_id_fixed"), hpath, "article_id_fixed")
    return SplitTable(path, impression_id, user, time, cand_ptr, cand, label, hpath, hist_user, hist_ptr, hist)


def _lookup(values: np.ndarray, index: pd.Index) -> np.ndarray:
    return index.get_indexer(values).astype(np.int64)


def map_split(s: SplitTable, article_index: pd.Index, user_index: pd.Index, unknown_news: str,
              articles: Path, warnings: list[str]) -> Behaviors:
    """Resolve one split against the article and user indices; each impression gets its user's history."""
    # The user's row in history.parquet, for every impression.
    hist_row = _lookup(s.user, pd.Index(s.hist_user))
    if (hist_row < 0).any():
        r = int(np.flatnonzero(hist_row < 0)[0])
        raise InputError(f"{_where(r, 'user_id')}: user {s.user[r]} has no row in {s.hist_path}", file=s.path)
    hist_idx = _lookup(s.hist, article_index)
    cand_idx = _lookup(s.cand, article_index).astype(np.int32)
    hist_missing, cand_missing = hist_idx < 0, cand_idx < 0
    n_hist, n_cand = int(hist_missing.sum()), int(cand_missing.sum())
    if (n_hist or n_cand) and unknown_news == "error":
        if n_cand:
            k = int(np.flatnonzero(cand_missing)[0])
            where, file, aid = _where(_row_of(s.cand_ptr, k), "article_ids_inview"), s.path, s.cand[k]
        else:
            k = int(np.flatnonzero(hist_missing)[0])
            where, file, aid = _where(_row_of(s.hist_ptr, k), "article_id_fixed"), s.hist_path, s.hist[k]
        raise InputError(f"{where}: unknown article id {aid}, absent from {articles} ({n_hist + n_cand} such "
                         f"references in this split; --unknown-news drop removes them)", file=file)
    s.cand = None                   # the raw ids (8 bytes a candidate) are not needed past this point
    hist_ptr_u, hist_u = s.hist_ptr, hist_idx
    if n_hist:
        hist_u, hist_ptr_u = _drop(hist_idx, s.hist_ptr, hist_missing)
    cand, cand_ptr, label = cand_idx, s.cand_ptr, s.label
    if n_cand:
        cand, cand_ptr = _drop(cand_idx, s.cand_ptr, cand_missing)
        label = label[~cand_missing]
    ptr, hist = gather_histories(hist_ptr_u, hist_u.astype(np.int32), hist_row)
    b = Behaviors(s.impression_id, _lookup(s.user, user_index).astype(np.int32), s.time, ptr, hist,
                  cand_ptr, cand.astype(np.int32, copy=False), label)
    if n_hist or n_cand:
        keep = np.flatnonzero(np.diff(cand_ptr) > 0)
        dropped = len(b) - len(keep)
        if dropped:
            b = _select_rows(b, keep)
        msg = (f"{s.path.parent}: dropped {n_hist} history and {n_cand} candidate references to articles absent "
               f"from {articles}" + (f", and {dropped} impressions left without candidates" if dropped else ""))
        warn(msg)
        warnings.append(msg)
    return b


GATHER_ROWS = 1 << 14     # impressions per step of gather_histories: bounds its scratch memory (see docs/data.md)


def gather_histories(user_ptr: np.ndarray, user_hist: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-user history CSR -> per-impression CSR (impression i gets history row rows[i]), int32 values.

    The result is 4 bytes per (impression, history click) pair, the bulk of an EB-NeRD dataset in memory (a user's
    history repeats in each of their impressions); it is filled in steps of GATHER_ROWS impressions so the int64
    positions it needs never add more than a step's worth on top."""
    lengths = user_ptr[rows + 1] - user_ptr[rows]
    ptr = np.zeros(len(rows) + 1, np.int64)
    np.cumsum(lengths, out=ptr[1:])
    out = np.empty(int(ptr[-1]), dtype=np.int32)
    for lo in range(0, len(rows), GATHER_ROWS):
        hi = min(lo + GATHER_ROWS, len(rows))
        out[ptr[lo]:ptr[hi]] = user_hist[csr_positions(user_ptr, rows[lo:hi])]
    return ptr, out


# ---------------------------------------------------------------------------------------------------------- reader


def read_ebnerd(path: str | os.PathLike, unknown_news: str = "error", *, fingerprint: str | None = None,
                step: Callable[[str], None] | None = None) -> Dataset:
    """Read and validate an EB-NeRD folder (any layout in the module docstring) into a Dataset; no caching."""
    step = step or (lambda msg: None)
    root = Path(path)
    splits = find_splits(root)
    files = input_files(root)
    articles = files[ARTICLES]
    step(f"reading {articles}")
    news = read_articles(articles)
    tables = {}
    messages: list[str] = []
    for split, folder in splits.items():
        step(f"reading {folder / BEHAVIORS} and {HISTORY}")
        tables[split] = read_split(folder, messages)
    step("building the news index")
    article_index = pd.Index(news.ids.astype(np.int64))
    # Users in first-seen order over train then dev impressions, as MIND's reader lists them.
    users = pd.unique(np.concatenate([t.user for t in tables.values()] + [np.zeros(0, np.int64)]))
    user_index = pd.Index(users)
    # Each split's raw table is let go as soon as it is mapped: the peak holds one split's scratch, not both.
    behaviors = {s: map_split(tables.pop(s), article_index, user_index, unknown_news, articles, messages)
                 for s in list(tables)}
    card, fingerprint = mind.card_and_fingerprint(files, fingerprint, step, dataset_fingerprint)
    return Dataset(
        name=root.resolve().name, fingerprint=fingerprint, news=news, users=np.asarray(users).astype(str),
        train=behaviors.get("train"), dev=behaviors.get("dev"), entity_vectors=None, card=card,
        source={"path": str(root.resolve()), "format": "ebnerd", "splits": {s: str(p) for s, p in splits.items()},
                "files": {k: str(p) for k, p in files.items()}, "warnings": messages},
    )
