"""Read and validate a MIND folder into a `Dataset`, on whole columns (no Python object per candidate).

Layouts (`find_splits`):
  - a folder holding `MINDsmall_train/` and `MINDsmall_dev/` (or `MINDdemo_*`, `MINDlarge_*`),
  - a folder holding `train/` and `dev/`,
  - one split folder given directly (it holds `news.tsv`): a folder named `dev` or `*_dev` is loaded as the dev split,
    any other name as the train split.
A split folder holds `news.tsv` (8 columns), `behaviors.tsv` (5 columns) and optionally `entity_embedding.vec` and
`relation_embedding.vec` (the latter is checked for format only; nothing downstream uses it).

Format decisions, taken from the real MIND rows in `../shared/data/mind-real/`: the files are UTF-8 without a byte
order mark, with LF line ends, no header, no quoting, no blank lines. None of the real files has a BOM, a CR or a
blank line, so each of these is reported as an error with its line (with the fix in the message) rather than
silently accepted: a CR would otherwise end up inside the last column, and guessing at edited files hides damage.

Every problem a user can cause raises `InputError(reason, file, line)` with a 1-based line number. The checks run on
the raw bytes with numpy (line ends, tabs per line, bytes that are not UTF-8) and on whole columns with pyarrow
compute (impression tokens, labels, ids, timestamps); only the entity JSON is parsed per news row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from newsbench.data.arrays import sha256_file
from newsbench.data.dataset import Behaviors, Dataset, News, csr_positions
from newsbench.errors import InputError, warn  # noqa: F401  (mind.warn is used by load.py)

# Bump when the parsed arrays change meaning: it is part of every fingerprint, so old caches and records don't match.
READER_VERSION = "mind-reader-2"    # unchanged by issue 15: files it accepted read the same (only new warnings)

NEWS_COLUMNS = ("id", "category", "subcategory", "title", "abstract", "url", "title_entities", "abstract_entities")
BEHAVIORS_COLUMNS = ("impression_id", "user", "time", "history", "impressions")
TIME_FORMAT = "%m/%d/%Y %I:%M:%S %p"
MIND_PREFIXES = ("MINDsmall", "MINDdemo", "MINDlarge")
UNKNOWN_NEWS_MODES = ("error", "drop")
SPLITS = ("train", "dev")
OPTIONAL_FILES = ("entity_embedding.vec", "relation_embedding.vec")
# News and user ids: no whitespace and no control character. RE2's \S alone lets NUL through, and numpy's str arrays
# drop trailing NULs, which would silently merge 'U1\x00' into 'U1'.
ID_PATTERN = r"^[^\s\x00-\x1f\x7f]+$"




# ----------------------------------------------------------------------------------------------------------- layout


def find_splits(path: str | os.PathLike) -> dict[str, Path]:
    """Map split name ("train"/"dev") to its folder for any of the layouts in the module docstring."""
    root = Path(path)
    if not root.exists():
        raise InputError("no such file or directory", file=root)
    if not root.is_dir():
        raise InputError("not a folder: expected a MIND folder (train/ + dev/, MINDsmall_train/ + "
                         "MINDsmall_dev/, or one split folder holding news.tsv and behaviors.tsv)", file=root)
    if (root / "news.tsv").exists() or (root / "behaviors.tsv").exists():
        name = root.resolve().name.lower()
        return {"dev" if name == "dev" or name.endswith("_dev") else "train": root}
    found: dict[str, list[Path]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        for prefix in ("",) + tuple(p + "_" for p in MIND_PREFIXES):
            cand = root / f"{prefix}{split}"
            if cand.is_dir():
                found[split].append(cand)
    for split, dirs in found.items():
        if len(dirs) > 1:
            names = ", ".join(d.name + "/" for d in dirs)
            raise InputError(f"ambiguous layout: several {split} folders ({names}); keep one", file=root)
    splits = {s: dirs[0] for s, dirs in found.items() if dirs}
    if not splits:
        raise InputError("not a MIND folder: expected news.tsv + behaviors.tsv, train/ + dev/, or "
                         "MINDsmall_train/ + MINDsmall_dev/ (also MINDdemo_*, MINDlarge_*)", file=root)
    return splits


def unused_split_folders(root: Path, splits: dict) -> list[Path]:
    """Sub-folders holding a behaviors.tsv that the reader does not use (valid/, test/ ...)."""
    if not root.is_dir() or (root / "behaviors.tsv").exists():
        return []
    used = {Path(p).resolve() for p in splits.values()}
    return sorted(p for p in root.iterdir() if p.is_dir() and (p / "behaviors.tsv").exists()
                  and p.resolve() not in used)


def input_files(path: str | os.PathLike) -> dict[str, Path]:
    """The files a dataset is read from, keyed "split/name" (plus "dataset_card.json" when present)."""
    files: dict[str, Path] = {}
    root = Path(path)
    for split, folder in find_splits(root).items():
        for name in ("news.tsv", "behaviors.tsv") + OPTIONAL_FILES:
            p = folder / name
            if name in OPTIONAL_FILES and not p.exists():
                continue
            files[f"{split}/{name}"] = p
    card = root / "dataset_card.json"
    if card.is_file():
        files["dataset_card.json"] = card
    return files


# ------------------------------------------------------------------------------------------------------- raw bytes


def read_bytes(path: Path) -> bytes:
    """The file's bytes, or an InputError for a missing, unreadable, non-regular or zero-byte file."""
    if not path.exists():
        raise InputError("missing file", file=path)
    if path.is_dir():
        raise InputError("is a directory, expected a file", file=path)
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError("unreadable file (permission denied)", file=path) from None
    except OSError as err:
        raise InputError(f"unreadable file ({err.strerror or err})", file=path) from None
    if not data:
        raise InputError("empty file (zero bytes)", file=path)
    return data


@dataclass
class Lines:
    """Line boundaries of a file's bytes: line i is data[start[i]:end[i]] (the newline excluded)."""

    start: np.ndarray
    end: np.ndarray
    arr: np.ndarray

    def __len__(self) -> int:
        return len(self.start)

    def line_of(self, offset: int | np.ndarray) -> int | np.ndarray:
        """1-based line number of a byte offset."""
        return np.searchsorted(self.end, offset, side="left") + 1


def check_encoding(data: bytes, path: Path) -> None:
    """The checks every file gets, cheap on the raw bytes: no BOM, valid UTF-8, no carriage return."""
    if data.startswith(b"\xef\xbb\xbf"):
        raise InputError("UTF-8 byte order mark at the start of the file (MIND files have none; "
                         "re-save without BOM)", file=path, line=1)
    if not data.isascii():
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputError(f"invalid UTF-8 (byte 0x{data[err.start]:02x} at byte offset {err.start})",
                             file=path, line=data.count(b"\n", 0, err.start) + 1) from None
    cr = data.find(b"\r")
    if cr >= 0:
        raise InputError("carriage return (CRLF line ends?); MIND files use LF only, convert with dos2unix",
                         file=path, line=data.count(b"\n", 0, cr) + 1)


def check_text(data: bytes, path: Path, ncols: int | None) -> Lines:
    """Check encoding and line structure on the raw bytes; with `ncols`, also tabs per line.

    Raises at the first problem, with its 1-based line: a BOM, invalid UTF-8, a carriage return, a blank line,
    a wrong number of columns. The TSV readers call the line scan only when the fast parse fails, to find the line.
    """
    check_encoding(data, path)
    arr = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(arr == 10)
    ends = nl if (len(arr) and arr[-1] == 10) else np.append(nl, len(arr))
    starts = np.concatenate(([0], nl + 1))[: len(ends)]
    lines = Lines(starts.astype(np.int64), ends.astype(np.int64), arr)
    blank = np.flatnonzero(ends == starts)
    if len(blank):
        raise InputError("blank line (MIND files have none)", file=path, line=int(blank[0]) + 1)
    if ncols is not None:
        tabs = np.flatnonzero(arr == 9)
        per_line = np.bincount(np.searchsorted(ends, tabs), minlength=len(ends))
        bad = np.flatnonzero(per_line != ncols - 1)
        if len(bad):
            i = int(bad[0])
            raise InputError(f"{per_line[i] + 1} tab-separated columns, expected {ncols}", file=path, line=i + 1)
    return lines


def parse_tsv(data: bytes, path: Path, names: tuple[str, ...]) -> pa.Table:
    """Check and parse a TSV file's bytes. The fast path trusts pyarrow's own column-count check; only when it
    fails does the numpy line scan run, to name the line and the reason."""
    check_encoding(data, path)
    try:
        table = read_table(data, names)
    except (pa.ArrowInvalid, pa.ArrowException) as err:
        check_text(data, path, len(names))  # raises with the line
        raise InputError(f"unparseable TSV ({err})", file=path) from None
    # pyarrow reads a blank line as a row of empty fields; an empty first field is the cheap sign to look closer.
    if pc.any(pc.equal(pc.binary_length(table.column(0)), 0)).as_py():
        check_text(data, path, len(names))
    _check_header(table, path, names)
    return table


_HEADER_WORDS = {"id", "news_id", "newsid", "nid", "impression_id", "impressionid", "imp_id", "user", "user_id",
                 "userid", "uid", "time", "timestamp", "history", "impressions", "category", "subcategory", "title",
                 "abstract", "url", "title_entities", "abstract_entities"}


def _check_header(table: pa.Table, path: Path, names: tuple[str, ...]) -> None:
    """A first row of column names (a spreadsheet export) fails later checks with a puzzling reason: name it."""
    if table.num_rows == 0:
        return
    row = [str(table.column(i)[0].as_py()).strip().lower().replace(" ", "_") for i in range(min(3, len(names)))]
    if sum(v in _HEADER_WORDS for v in row) >= 2:
        raise InputError(f"line 1 looks like a header row ({' | '.join(row)} ...); MIND files have no header: delete "
                         f"that line", file=path, line=1)


def read_table(data: bytes, names: Iterable[str]) -> pa.Table:
    """Parse already-checked TSV bytes into a table of string columns (no quoting, nothing is null)."""
    names = list(names)
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, escape_char=False,
                                         ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                             strings_can_be_null=False, quoted_strings_can_be_null=False),
    )


def _col(table: pa.Table, name: str) -> pa.Array:
    return table.column(name).combine_chunks()


def _first(mask: pa.Array | np.ndarray) -> int | None:
    """Index of the first True in a boolean array, or None."""
    idx = np.flatnonzero(_np(mask))
    return int(idx[0]) if len(idx) else None


def _np(x) -> np.ndarray:
    """numpy view/copy of a (chunked) Arrow array or a numpy array."""
    if isinstance(x, pa.ChunkedArray):
        x = x.combine_chunks() if x.num_chunks != 1 else x.chunk(0)
    if isinstance(x, pa.Array):
        return x.to_numpy(zero_copy_only=False)
    return np.asarray(x)


def split_tokens(column: pa.Array | pa.ChunkedArray) -> tuple[pa.Array, np.ndarray]:
    """Split a space-separated column into a flat token array and CSR `ptr` (an empty cell has no token)."""
    lists = pc.split_pattern(column, " ")
    lengths = _np(pc.list_value_length(lists)).astype(np.int64)
    tokens = pc.list_flatten(lists)
    # "" splits into one empty token; it means an empty list (e.g. a user with no history).
    empty_cell = _np(pc.equal(pc.binary_length(column), 0))
    if empty_cell.any():
        keep = np.repeat(~empty_cell, lengths)
        tokens = pc.filter(tokens, pa.array(keep))
        lengths = np.where(empty_cell, 0, lengths)
    ptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    return tokens, ptr


def _row_of(ptr: np.ndarray, token_index: int) -> int:
    return int(np.searchsorted(ptr, token_index, side="right") - 1)


# ------------------------------------------------------------------------------------------------------------ news


@dataclass
class NewsTable:
    """One news.tsv, parsed: string columns plus per-row entity id lists (as CSR over local codes)."""

    path: Path
    ids: np.ndarray
    category: np.ndarray
    subcategory: np.ndarray
    title: np.ndarray
    abstract: np.ndarray
    entity_ptr: np.ndarray
    entity_idx: np.ndarray
    entities: list[str]


def _entity_ids(cell: str, path: Path, line: int, column: str) -> list[str]:
    """WikidataIds of one entity column (a JSON list of objects); "" counts as an empty list."""
    if cell == "" or cell == "[]":
        return []
    try:
        value = json.loads(cell)
    except json.JSONDecodeError as err:
        raise InputError(f"bad JSON in the {column} column: {err.msg} at character {err.pos}",
                         file=path, line=line) from None
    if not isinstance(value, list):
        raise InputError(f"bad {column} column: expected a JSON list, got {type(value).__name__}",
                         file=path, line=line)
    out = []
    for item in value:
        wid = item.get("WikidataId") if isinstance(item, dict) else None
        if not isinstance(wid, str) or not wid:
            raise InputError(f"bad {column} column: an entity without a WikidataId string", file=path, line=line)
        out.append(wid)
    return out


def read_news(path: str | os.PathLike) -> NewsTable:
    """Parse and validate one news.tsv (8 columns; ids unique within the file)."""
    path = Path(path)
    table = parse_tsv(read_bytes(path), path, NEWS_COLUMNS)
    ids = _col(table, "id")
    bad = _first(pc.invert(pc.match_substring_regex(ids, ID_PATTERN)))
    if bad is not None:
        raise InputError(f"bad news id {ids[bad].as_py()!r} (empty, or contains whitespace or a control character)",
                         file=path, line=bad + 1)
    ids_np = np.asarray(ids.to_numpy(zero_copy_only=False)).astype(str)
    _, first_pos, counts = np.unique(ids_np, return_index=True, return_counts=True)
    if (counts > 1).any():
        # The second occurrence of the first duplicated id in file order.
        dup_rows = np.flatnonzero(~np.isin(np.arange(len(ids_np)), first_pos))
        row = int(dup_rows[0])
        first_line = int(np.flatnonzero(ids_np == ids_np[row])[0]) + 1
        raise InputError(f"duplicate news id {ids_np[row]} (first on line {first_line})", file=path, line=row + 1)
    codes: dict[str, int] = {}
    ptr = np.zeros(len(ids_np) + 1, dtype=np.int64)
    flat: list[int] = []
    title_ent = _col(table, "title_entities").to_pylist()
    abstract_ent = _col(table, "abstract_entities").to_pylist()
    for i, (t, a) in enumerate(zip(title_ent, abstract_ent)):
        wids = _entity_ids(t, path, i + 1, "title entities") + _entity_ids(a, path, i + 1, "abstract entities")
        # dict.fromkeys keeps first-seen order while removing repeats across title and abstract.
        for wid in dict.fromkeys(wids):
            flat.append(codes.setdefault(wid, len(codes)))
        ptr[i + 1] = len(flat)
    return NewsTable(
        path=path,
        ids=ids_np,
        category=np.asarray(_col(table, "category").to_numpy(zero_copy_only=False), dtype=object),
        subcategory=np.asarray(_col(table, "subcategory").to_numpy(zero_copy_only=False), dtype=object),
        title=np.asarray(_col(table, "title").to_numpy(zero_copy_only=False), dtype=object),
        abstract=np.asarray(_col(table, "abstract").to_numpy(zero_copy_only=False), dtype=object),
        entity_ptr=ptr,
        entity_idx=np.asarray(flat, dtype=np.int32),
        entities=list(codes),
    )


def merge_news(tables: list[NewsTable]) -> News:
    """One news index over all splits: an id in several files is one item, the first file's row wins."""
    keep_rows: list[np.ndarray] = []
    seen: set[str] = set()
    for t in tables:
        if seen:
            mask = ~np.isin(t.ids, np.fromiter(seen, dtype=object, count=len(seen)).astype(str))
        else:
            mask = np.ones(len(t.ids), dtype=bool)
        keep_rows.append(mask)
        seen.update(t.ids[mask].tolist())

    def cat(attr: str) -> np.ndarray:
        parts = [getattr(t, attr)[m] for t, m in zip(tables, keep_rows)]
        return np.concatenate(parts) if parts else np.array([], dtype=object)

    ids = cat("ids").astype(str) if tables else np.array([], dtype=str)
    category = pd.Categorical(cat("category"))
    subcategory = pd.Categorical(cat("subcategory"))
    entities: dict[str, int] = {}
    ptrs, idxs = [np.zeros(1, dtype=np.int64)], []
    total = 0
    for t, m in zip(tables, keep_rows):
        lengths = np.diff(t.entity_ptr)[m]
        rows = np.flatnonzero(m)
        # Gather the kept rows' entity codes without a Python loop over rows.
        local = t.entity_idx[csr_positions(t.entity_ptr, rows)]
        # Only the kept rows' entities enter the vocabulary, in their first-seen order: a dropped duplicate row
        # must neither add entities (orphan graph nodes, NaN vector rows) nor reorder the codes.
        local_to_global = np.full(len(t.entities), -1, dtype=np.int32)
        for j in pd.unique(local):
            local_to_global[j] = entities.setdefault(t.entities[j], len(entities))
        idxs.append(local_to_global[local] if len(local) else np.zeros(0, np.int32))
        ptrs.append(total + np.cumsum(lengths))
        total += int(lengths.sum())
    return News(
        ids=ids,
        category=np.asarray(category.codes, dtype=np.int32),
        subcategory=np.asarray(subcategory.codes, dtype=np.int32),
        categories=[str(c) for c in category.categories],
        subcategories=[str(c) for c in subcategory.categories],
        title=cat("title").astype(object),
        abstract=cat("abstract").astype(object),
        entity_ptr=np.concatenate(ptrs).astype(np.int64),
        entity_idx=np.concatenate(idxs).astype(np.int32) if idxs else np.zeros(0, np.int32),
        entities=list(entities),
    )


# ------------------------------------------------------------------------------------------------------- behaviors


@dataclass
class BehaviorsTable:
    """One behaviors.tsv, parsed: ids still as strings (tokens), mapped to news indices by `map_behaviors`."""

    path: Path
    impression_id: np.ndarray
    user: pa.Array
    time: np.ndarray
    hist_tokens: pa.Array
    hist_ptr: np.ndarray
    cand_tokens: pa.Array
    cand_ptr: np.ndarray
    label: np.ndarray


def _warn_repeated_impressions(table: pa.Table, imp: pa.Array, path: Path, messages: list[str] | None) -> bool:
    """Repeated impression ids (an edited file, a concatenation): every row is kept as its own impression, numbered
    by its line, since reports pair runs by impression id and one id must name one impression. Say so, naming the
    first repeat and whether it is an exact copy of an earlier line (then that impression counts twice). True when
    ids repeat."""
    if pc.count_distinct(imp).as_py() == len(imp):
        return False
    ids = np.asarray(imp.to_numpy(zero_copy_only=False))
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    repeats = np.flatnonzero(first[inverse] != np.arange(len(ids)))
    row, prev = int(repeats[0]), int(first[inverse[repeats[0]]])
    same = all(table.column(c)[row].as_py() == table.column(c)[prev].as_py() for c in range(table.num_columns))
    what = (f"line {row + 1} repeats line {prev + 1} exactly" if same else
            f"impression id {ids[row]!r} on line {row + 1} is already used on line {prev + 1}")
    msg = (f"{path}: {len(repeats):,} repeated impression id{'s' if len(repeats) != 1 else ''} ({what}); every row "
           f"is kept as its own impression, numbered by its line")
    warn(msg)
    if messages is not None:
        messages.append(msg)
    return True


def parse_times(column: pa.Array, path: Path) -> np.ndarray:
    """'11/11/2019 9:05:58 AM' -> int64 unix seconds (local time read as UTC); parses each distinct string once."""
    enc = pc.dictionary_encode(column)
    uniques = pd.Series(enc.dictionary.to_pylist(), dtype=object)
    parsed = pd.to_datetime(uniques, format=TIME_FORMAT, errors="coerce")
    bad_unique = parsed.isna().to_numpy()
    codes = enc.indices.to_numpy()
    if bad_unique.any():
        row = _first(bad_unique[codes])
        raise InputError(f"bad timestamp {column[row].as_py()!r} (expected like '11/11/2019 9:05:58 AM')",
                         file=path, line=row + 1)
    seconds = parsed.to_numpy().astype("datetime64[s]").astype(np.int64)
    return seconds[codes]


def read_behaviors(path: str | os.PathLike, messages: list[str] | None = None) -> BehaviorsTable:
    """Parse and validate one behaviors.tsv (5 columns); news ids are checked later against the news index.

    Repeated impression ids are kept (rows as written) with a warning. When no id is an integer (files written by
    other tools: 'demo-1', ...), impressions are numbered by their line instead, with a warning; a few non-integers
    among integers are refused as typos. Warnings
    are printed and appended to `messages` (the dataset cache repeats them on later loads)."""
    path = Path(path)
    table = parse_tsv(read_bytes(path), path, BEHAVIORS_COLUMNS)

    imp = _col(table, "impression_id")
    bad = _first(pc.invert(pc.match_substring_regex(imp, ID_PATTERN)))
    if bad is not None:
        raise InputError(f"bad impression id {imp[bad].as_py()!r} (empty, or contains whitespace or a control "
                         f"character)", file=path, line=bad + 1)
    repeated = _warn_repeated_impressions(table, imp, path, messages)
    not_int = pc.invert(pc.match_substring_regex(imp, r"^[0-9]{1,18}$"))
    bad = _first(not_int)
    n_bad = 0 if bad is None else int(pc.sum(pc.cast(not_int, pa.int64())).as_py())
    if bad is None:
        impression_id = pc.cast(imp, pa.int64()).to_numpy()
    elif n_bad < len(imp):
        # Mostly integers: a typo, not another numbering scheme.
        raise InputError(f"bad impression id {imp[bad].as_py()!r} (expected a non-negative integer; {n_bad:,} of "
                         f"{len(imp):,} ids are not integers; a file whose ids are all strings, like 'demo-1', is "
                         f"read with its impressions numbered by line)", file=path, line=bad + 1)
    else:
        impression_id = np.arange(1, len(imp) + 1, dtype=np.int64)
        msg = (f"{path}: {n_bad:,} of {len(imp):,} impression ids are not integers (line {bad + 1}: "
               f"{imp[bad].as_py()!r}); impressions are numbered by their line instead")
        warn(msg)
        if messages is not None:
            messages.append(msg)
    if repeated:
        impression_id = np.arange(1, len(imp) + 1, dtype=np.int64)

    user = _col(table, "user")
    bad = _first(pc.invert(pc.match_substring_regex(user, ID_PATTERN)))
    if bad is not None:
        raise InputError(f"bad user id {user[bad].as_py()!r} (empty, or contains whitespace or a control character)",
                         file=path, line=bad + 1)

    time = parse_times(_col(table, "time"), path)

    # The two big columns stay chunked (combining copies hundreds of MB); pyarrow compute takes either.
    hist_tokens, hist_ptr = split_tokens(table.column("history"))
    bad = _first(pc.equal(pc.binary_length(hist_tokens), 0))
    if bad is not None:
        raise InputError("empty news id in the history column (two spaces, or a space at either end)",
                         file=path, line=_row_of(hist_ptr, bad) + 1)

    imp_col = table.column("impressions")
    bad = _first(pc.equal(pc.binary_length(imp_col), 0))
    if bad is not None:
        raise InputError("empty impressions column (an impression needs at least one candidate)",
                         file=path, line=bad + 1)
    tokens, cand_ptr = split_tokens(imp_col)
    # Plain suffix/substring kernels: a regex over tens of millions of tokens costs several seconds.
    length = pc.binary_length(tokens)
    labelled = pc.and_(pc.greater_equal(length, 3), pc.or_(pc.ends_with(tokens, "-1"), pc.ends_with(tokens, "-0")))
    unlabelled = pc.and_(pc.greater(length, 0), pc.invert(pc.match_substring(tokens, "-")))
    # MIND-large's test split has no labels; a file is either fully labelled or fully unlabelled.
    is_labelled = bool(labelled[0].as_py()) or not bool(unlabelled[0].as_py())
    bad = _first(pc.invert(labelled if is_labelled else unlabelled))
    if bad is not None:
        tok = tokens[bad].as_py()
        line = _row_of(cand_ptr, bad) + 1
        if tok == "":
            reason = "empty impression token (two spaces, or a space at either end)"
        elif not is_labelled:
            reason = f"bad impression token {tok!r}: this file's first token has no label, so none may have one"
        elif re.fullmatch(r"\S+-\S*", tok):
            reason = f"bad label in impression token {tok!r} (expected <news id>-0 or <news id>-1)"
        else:
            reason = f"bad impression token {tok!r}: no label (expected <news id>-0 or <news id>-1)"
        raise InputError(reason, file=path, line=line)
    if is_labelled:
        label = _np(pc.ends_with(tokens, "-1")).astype(np.int8)
        tokens = pc.utf8_slice_codeunits(tokens, 0, -2)
    else:
        label = np.full(len(tokens), -1, dtype=np.int8)
    return BehaviorsTable(path, impression_id, user, time, hist_tokens, hist_ptr, tokens, cand_ptr, label)


def _lookup(tokens: pa.Array, news_ids: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Tokens -> (int32 news indices with -1 for unknown ids, bool mask of the unknown ones)."""
    idx = pc.index_in(tokens, value_set=news_ids)
    return _np(pc.fill_null(idx, -1)).astype(np.int32), _np(pc.is_null(idx))


def _drop(values: np.ndarray, ptr: np.ndarray, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Remove the `missing` values from a CSR structure; returns (values, ptr)."""
    keep = ~missing
    row = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    new_ptr = np.zeros_like(ptr)
    np.cumsum(np.bincount(row[keep], minlength=len(ptr) - 1), out=new_ptr[1:])
    return values[keep], new_ptr


def map_behaviors(t: BehaviorsTable, news_ids: pa.Array, users: pa.Array, unknown_news: str,
                  warnings: list[str] | None = None) -> Behaviors:
    """Resolve a behaviors table against the merged news index.

    Unknown ids: mode 'error' raises at the first line that names one (history or impressions); mode 'drop'
    removes them, then removes impressions left without candidates, and warns with the counts.
    """
    hist, hist_missing = _lookup(t.hist_tokens, news_ids)
    cand, cand_missing = _lookup(t.cand_tokens, news_ids)
    n_hist, n_cand = int(hist_missing.sum()), int(cand_missing.sum())
    if (n_hist or n_cand) and unknown_news == "error":
        firsts = []
        for tokens, ptr, missing, column in ((t.hist_tokens, t.hist_ptr, hist_missing, "history"),
                                             (t.cand_tokens, t.cand_ptr, cand_missing, "impressions")):
            if missing.any():
                k = int(np.flatnonzero(missing)[0])
                firsts.append((_row_of(ptr, k), column, tokens[k].as_py()))
        row, column, nid = min(firsts)
        raise InputError(f"unknown news id {nid} in the {column} column, absent from every news.tsv "
                         f"({n_hist + n_cand} such references in this file; --unknown-news drop removes them)",
                         file=t.path, line=row + 1)
    hist_ptr, cand_ptr, label = t.hist_ptr, t.cand_ptr, t.label
    if n_hist:
        hist, hist_ptr = _drop(hist, hist_ptr, hist_missing)
    if n_cand:
        cand, cand_ptr = _drop(cand, cand_ptr, cand_missing)
        label = label[~cand_missing]
    user = _np(pc.index_in(t.user, value_set=users)).astype(np.int32)
    b = Behaviors(t.impression_id, user, t.time, hist_ptr, hist, cand_ptr, cand, label)
    n_imp_dropped = 0
    if n_cand:
        # An impression left with no candidate can't be scored or trained on: drop the row.
        keep_rows = np.diff(cand_ptr) > 0
        n_imp_dropped = int((~keep_rows).sum())
        if n_imp_dropped:
            b = _select_rows(b, np.flatnonzero(keep_rows))
    if n_hist or n_cand:
        msg = (f"{t.path}: dropped {n_hist} history and {n_cand} candidate references to news absent from every "
               f"news.tsv")
        if n_imp_dropped:
            msg += f", and {n_imp_dropped} impressions left without candidates"
        warn(msg)
        if warnings is not None:
            warnings.append(msg)
    return b


def _select_rows(b: Behaviors, rows: np.ndarray) -> Behaviors:
    def sub(ptr, values):
        sel = csr_positions(ptr, rows)
        new_ptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(ptr[rows + 1] - ptr[rows], out=new_ptr[1:])
        return new_ptr, values[sel], sel

    hist_ptr, hist, _ = sub(b.hist_ptr, b.hist)
    cand_ptr, cand, sel = sub(b.cand_ptr, b.cand)
    return Behaviors(b.impression_id[rows], b.user[rows], b.time[rows], hist_ptr, hist, cand_ptr, cand, b.label[sel])


# ------------------------------------------------------------------------------------------------------ embeddings


def read_vectors(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Parse an entity/relation embedding file: `<id>\\t<f1>\\t...\\t<fd>` per line (MIND adds a trailing tab).

    Every row must have the same dimension and only finite numbers.
    """
    path = Path(path)
    data = read_bytes(path)
    check_text(data, path, None)
    text = data.decode("utf-8")
    keys: list[str] = []
    rows: list[list[str]] = []
    dim = None
    for i, line in enumerate(text.split("\n")):
        if not line:
            continue  # only the end of the file: blank lines were rejected by check_text
        parts = line.rstrip("\t").split("\t")
        vals = parts[1:]
        if dim is None:
            dim = len(vals)
            if dim == 0:
                raise InputError("no vector values after the id", file=path, line=i + 1)
        elif len(vals) != dim:
            raise InputError(f"vector of dimension {len(vals)}, expected {dim} as on line 1", file=path, line=i + 1)
        keys.append(parts[0])
        rows.append(vals)
    try:
        matrix = np.array(rows, dtype=np.float64)
    except ValueError:
        # Find the offending row only on failure, so the common path stays one numpy call.
        for i, vals in enumerate(rows):
            for v in vals:
                try:
                    float(v)
                except ValueError:
                    raise InputError(f"not a number: {v!r}", file=path, line=i + 1) from None
        raise
    finite = np.isfinite(matrix)
    if not finite.all():
        r, c = np.argwhere(~finite)[0]
        raise InputError(f"non-finite value {rows[r][c]!r} (NaN or inf) in column {c + 2}", file=path,
                         line=int(r) + 1)
    # Finite as float64 is not enough: 1e39 overflows float32 to inf.
    with np.errstate(over="ignore"):
        matrix32 = matrix.astype(np.float32)
    big = ~np.isfinite(matrix32)
    if big.any():
        r, c = np.argwhere(big)[0]
        raise InputError(f"value {rows[r][c]!r} in column {c + 2} is outside the float32 range (|x| > 3.4e38)",
                         file=path, line=int(r) + 1)
    return keys, matrix32


# ---------------------------------------------------------------------------------------------------------- reader


def dataset_fingerprint(file_hashes: dict[str, str], reader_version: str = READER_VERSION) -> str:
    """Content-only fingerprint of a dataset: the reader version and each file's name and content hash."""
    h = hashlib.sha256(reader_version.encode())
    for key in sorted(file_hashes):
        h.update(f"\n{key}={file_hashes[key]}".encode())
    return h.hexdigest()[:16]


def read_mind(path: str | os.PathLike, unknown_news: str = "error", *, fingerprint: str | None = None,
              step: Callable[[str], None] | None = None) -> Dataset:
    """Read and validate a MIND folder (any layout in the module docstring) into a Dataset; no caching.

    `unknown_news`: behaviors naming a news id absent from every news.tsv raise InputError naming file, line and
    id ('error', the default: MIND's official splits join fully) or are removed with a warning giving the counts
    ('drop'; impressions left without candidates are removed too). `fingerprint` skips rehashing when the caller
    (`load_dataset`) already has it. `step(msg)` is called before each stage, for progress display.
    """
    if unknown_news not in UNKNOWN_NEWS_MODES:
        raise InputError(f"unknown_news must be one of {', '.join(UNKNOWN_NEWS_MODES)}, got {unknown_news!r}")
    step = step or (lambda msg: None)
    root = Path(path)
    splits = find_splits(root)
    files = input_files(root)
    news_tables, beh_tables, vec_tables = [], {}, []
    messages: list[str] = []
    for split, folder in splits.items():
        step(f"reading {folder / 'news.tsv'}")
        news_tables.append(read_news(folder / "news.tsv"))
    for split, folder in splits.items():
        step(f"reading {folder / 'behaviors.tsv'}")
        beh_tables[split] = read_behaviors(folder / "behaviors.tsv", messages)
        for name in OPTIONAL_FILES:
            if (folder / name).exists():
                step(f"reading {folder / name}")
                keys, matrix = read_vectors(folder / name)
                if name == "entity_embedding.vec":
                    vec_tables.append((folder / name, keys, matrix))
    step("building the news index")
    news = merge_news(news_tables)
    news_ids = pa.array(news.ids, type=pa.string())
    all_users = pa.chunked_array([t.user for t in beh_tables.values()], type=pa.string())
    users = pc.unique(all_users.combine_chunks()) if all_users.num_chunks else pa.array([], pa.string())
    behaviors = {s: map_behaviors(t, news_ids, users, unknown_news, messages) for s, t in beh_tables.items()}
    entity_vectors = _entity_matrix(news.entities, vec_tables)
    card, fingerprint = card_and_fingerprint(files, fingerprint, step)
    return Dataset(
        name=root.resolve().name,
        fingerprint=fingerprint,
        news=news,
        users=np.asarray(users.to_numpy(zero_copy_only=False), dtype=str),
        train=behaviors.get("train"),
        dev=behaviors.get("dev"),
        entity_vectors=entity_vectors,
        card=card,
        source={"path": str(root.resolve()), "splits": {s: str(p) for s, p in splits.items()},
                "files": {k: str(p) for k, p in files.items()}, "warnings": messages},
    )


def _entity_matrix(entities: list[str], tables: list[tuple[Path, list[str], np.ndarray]]) -> np.ndarray | None:
    """(len(entities), dim) float32 rows from the entity_embedding.vec files (first file wins), NaN where absent."""
    if not tables:
        return None
    dims = {m.shape[1] for _, _, m in tables}
    if len(dims) > 1:
        path, _, m = tables[-1]
        raise InputError(f"vector dimension {m.shape[1]} differs from the other split's {tables[0][2].shape[1]}",
                         file=path)
    out = np.full((len(entities), dims.pop()), np.nan, dtype=np.float32)
    index = pd.Index(entities)
    filled = np.zeros(len(entities), dtype=bool)
    for _, keys, matrix in tables:
        pos = index.get_indexer(pd.Index(keys))
        ok = pos >= 0
        rows, src = pos[ok], np.flatnonzero(ok)
        new = ~filled[rows]
        out[rows[new]] = matrix[src[new]]
        filled[rows[new]] = True
    return out


def validate_mind(path: str | os.PathLike, unknown_news: str = "error") -> Dataset:
    """Run every check of `read_mind` (raising InputError on the first problem); returns the dataset."""
    return read_mind(path, unknown_news=unknown_news)


def card_and_fingerprint(files: dict[str, Path], fingerprint: str | None, step,
                         fingerprint_of=dataset_fingerprint) -> tuple[dict | None, str]:
    """The folder's dataset card (None without one) and its fingerprint (the sha256 of every input file, unless the
    caller already knows it): the last step of reading a folder, the same for MIND and EB-NeRD (data.ebnerd)."""
    card = None
    if "dataset_card.json" in files:
        try:
            card = json.loads(files["dataset_card.json"].read_text("utf-8"))
        except (ValueError, OSError) as err:
            raise InputError(f"unreadable dataset card: {err}", file=files["dataset_card.json"]) from None
    if fingerprint is None:
        step("hashing input files")
        fingerprint = fingerprint_of({k: sha256_file(p) for k, p in files.items()})
    return card, fingerprint
