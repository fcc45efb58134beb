"""A corpus of malformed EB-NeRD folders, each made from a valid generated one by one edit: the parquet twins of
tests/test_malformed.py's MIND cases (a missing or extra column there is a missing column or a wrong type here; a
bad token, a missing or unknown id, an empty list, a duplicate id, a file that is missing, empty or a folder).

Every case must end in one InputError naming the file and, where there is one, the row and the column, and leave
no cache entry; a sample also runs through `python -m newsbench data validate`: exit 2, one stderr line.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_malformed import assert_no_cache, replace_path, validate_error_line

from newsbench.data.load import load_dataset
from newsbench.errors import InputError

A, TB, TH = "articles.parquet", "train/behaviors.parquet", "train/history.parquet"
DB, DH = "validation/behaviors.parquet", "validation/history.parquet"


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    from newsbench.data.synth import generate

    return generate("tiny", 0, tmp_path_factory.mktemp("ebm") / "eb", fmt="ebnerd")


# ---- edits: each takes the folder and rewrites one file


def _rewrite(root: Path, rel: str, fn: Callable[[pa.Table], pa.Table]) -> None:
    pq.write_table(fn(pq.read_table(root / rel)), root / rel)


def set_cell(rel: str, column: str, row: int, value) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        def fn(t: pa.Table) -> pa.Table:
            values = t.column(column).to_pylist()
            values[row] = value(values[row]) if callable(value) else value
            i = t.schema.get_field_index(column)
            return t.set_column(i, column, pa.array(values, type=t.schema.field(column).type))
        _rewrite(root, rel, fn)
    return apply


def retype(rel: str, column: str, to: pa.DataType, convert=str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        def fn(t: pa.Table) -> pa.Table:
            values = [convert(v) for v in t.column(column).to_pylist()]
            return t.set_column(t.schema.get_field_index(column), column, pa.array(values, type=to))
        _rewrite(root, rel, fn)
    return apply


def drop_column(rel: str, column: str) -> Callable[[Path], None]:
    return lambda root: _rewrite(root, rel, lambda t: t.drop_columns([column]))


def drop_row(rel: str, row: int) -> Callable[[Path], None]:
    return lambda root: _rewrite(root, rel, lambda t: pa.concat_tables([t.slice(0, row), t.slice(row + 1)]))


def copy_row(rel: str, src: int, dst: int, column: str) -> Callable[[Path], None]:
    """Row `dst`'s `column` becomes row `src`'s (a duplicate id)."""
    def apply(root: Path) -> None:
        value = pq.read_table(root / rel).column(column)[src].as_py()
        set_cell(rel, column, dst, value)(root)
    return apply


def user_of_first_impression_loses_history(root: Path) -> None:
    user = pq.read_table(root / TB).column("user_id")[0].as_py()
    _rewrite(root, TH, lambda t: t.filter(pa.compute.not_equal(t.column("user_id"), user)))


@dataclass
class Case:
    name: str
    mutate: Callable[[Path], None]
    file: str
    reason: str           # a substring of the reason, with the row and column where there are ones


def where(row: int, column: str) -> str:
    return f"row {row} (from 0), column {column}: "


CASES = [
    # files
    Case("articles-missing", replace_path(A, "missing"), A, "missing file"),
    Case("behaviors-zero-bytes", replace_path(TB, "empty"), TB, "empty file (zero bytes)"),
    Case("behaviors-not-parquet", replace_path(DB, "text"), DB, "not a readable parquet file"),
    Case("history-is-a-folder", replace_path(TH, "dir"), TH, "is a directory"),
    # columns (MIND: a missing or extra tab-separated column)
    Case("behaviors-missing-column", drop_column(TB, "impression_time"), TB, "no column impression_time"),
    Case("history-missing-column", drop_column(DH, "article_id_fixed"), DH, "no column article_id_fixed"),
    Case("articles-missing-column", drop_column(A, "title"), A, "no column title"),
    # types (MIND: a bad token, label, timestamp or id)
    Case("inview-of-strings", retype(DB, "article_ids_inview", pa.list_(pa.string()),
                                     lambda v: [str(x) for x in v]), DB,
         "column article_ids_inview is list<string>, expected list<integer>"),
    Case("time-as-text", retype(TB, "impression_time", pa.string()), TB,
         "column impression_time is string, expected timestamp"),
    Case("user-id-as-float", retype(TB, "user_id", pa.float64(), float), TB,
         "column user_id is double, expected integer"),
    Case("article-id-as-text", retype(A, "article_id", pa.string()), A, "column article_id is string, expected"),
    Case("ner-clusters-of-ints", retype(A, "ner_clusters", pa.list_(pa.int64()), lambda v: list(range(len(v)))),
         A, "column ner_clusters is list<int64>, expected list<string>"),
    # values (MIND: an empty impressions column, an empty token, a bad id)
    Case("null-impression-id", set_cell(TB, "impression_id", 2, None), TB, where(2, "impression_id") + "no value"),
    Case("null-impression-time", set_cell(DB, "impression_time", 5, None), DB, where(5, "impression_time")),
    Case("empty-inview", set_cell(TB, "article_ids_inview", 3, []), TB, where(3, "article_ids_inview") + "empty"),
    Case("null-inview", set_cell(DB, "article_ids_inview", 1, None), DB, where(1, "article_ids_inview") + "no list"),
    Case("null-inside-clicked", set_cell(TB, "article_ids_clicked", 4, lambda v: v + [None]), TB,
         where(4, "article_ids_clicked") + "a null inside the list"),
    Case("null-article-id", set_cell(A, "article_id", 6, None), A, where(6, "article_id") + "no value"),
    # joins (MIND: unknown news ids, a clicked token)
    Case("clicked-not-in-view", set_cell(DB, "article_ids_clicked", 2, [999999]), DB,
         where(2, "article_ids_clicked") + "clicked article 999999 is not in article_ids_inview"),
    Case("unknown-article-in-view", set_cell(TB, "article_ids_inview", 5, lambda v: v + [999998]), TB,
         where(5, "article_ids_inview") + "unknown article id 999998"),
    Case("unknown-article-in-history", set_cell(DH, "article_id_fixed", 3, lambda v: [999997] + v), DH,
         where(3, "article_id_fixed") + "unknown article id 999997"),
    Case("user-without-history", user_of_first_impression_loses_history, TB, where(0, "user_id")),
    Case("inview-lists-an-article-twice", set_cell(DB, "article_ids_inview", 0, lambda v: v + v[:1]), DB,
         where(0, "article_ids_inview") + "an article listed twice"),
    # duplicates (MIND: a duplicate news id; a repeated impression id is kept with a warning, in both readers)
    Case("duplicate-article-id", copy_row(A, 1, 4, "article_id"), A, where(4, "article_id") + "duplicate article id"),
    Case("duplicate-history-user", copy_row(TH, 2, 3, "user_id"), TH, where(3, "user_id") + "duplicate user id"),
]


def make_case(base: Path, tmp_path: Path, case: Case) -> Path:
    root = tmp_path / case.name
    shutil.copytree(base, root)
    case.mutate(root)
    return root


def test_corpus_size():
    assert len(CASES) >= 15
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_in_process(base, tmp_path, case):
    root = make_case(base, tmp_path, case)
    cache = tmp_path / "cache"
    with pytest.raises(InputError) as err:
        load_dataset(root, cache_dir=cache, progress=False)
    e = err.value
    assert Path(e.file) == root / case.file, str(e)
    assert case.reason in e.reason, str(e)
    assert "\n" not in str(e)
    assert_no_cache(cache)


SUBPROCESS_CASES = ["behaviors-not-parquet", "inview-of-strings", "empty-inview", "clicked-not-in-view",
                    "unknown-article-in-history"]


def test_malformed_through_cli(base, tmp_path):
    """A sample through `python -m newsbench data validate`: exit 2, one stderr line naming file, row and column."""
    by_name = {c.name: c for c in CASES}
    for name in SUBPROCESS_CASES:
        case = by_name[name]
        root = make_case(base, tmp_path, case)
        line = validate_error_line(root, tmp_path / f"cache-{name}")
        assert line.startswith(f"newsbench: error: {root / case.file}: "), (name, line)
        assert case.reason in line, (name, line)
        shutil.rmtree(root)


def test_repeated_impression_ids_are_kept_and_renumbered_with_a_warning(base, tmp_path, capsys):
    root = tmp_path / "rep"
    shutil.copytree(base, root)
    copy_row(TB, 0, 9, "impression_id")(root)
    ds = load_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    n = pq.read_metadata(root / TB).num_rows
    assert list(ds.train.impression_id) == list(range(1, n + 1))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "1 repeated impression id (row 9 repeats" in err and "of row 0)" in err
    assert ds.source["warnings"] and "repeated impression id" in ds.source["warnings"][0]
