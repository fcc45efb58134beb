"""A corpus of malformed MIND folders, each made from a valid one by one edit.

Every case must end in one InputError naming the file, the line (where there is one) and the reason, and leave no
cache entry. All cases run in-process through `load_dataset` (fast); a sample also runs through the real CLI in a
subprocess (`python -m newsbench data validate`), which must exit 2 with exactly one stderr line and no traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from test_mind import write_mind

from newsbench.data.load import load_dataset
from newsbench.errors import InputError

REPO = Path(__file__).resolve().parents[1]


def lines_of(p: Path) -> list[bytes]:
    return p.read_bytes().split(b"\n")[:-1]


def set_lines(p: Path, rows: list[bytes]) -> None:
    p.write_bytes(b"".join(r + b"\n" for r in rows))


def edit(rel: str, line: int, fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """Replace 1-based `line` of `rel` by fn(line)."""
    def apply(root: Path) -> None:
        rows = lines_of(root / rel)
        rows[line - 1] = fn(rows[line - 1])
        set_lines(root / rel, rows)
    return apply


def field(i: int, value: bytes) -> Callable[[bytes], bytes]:
    def fn(row: bytes) -> bytes:
        cols = row.split(b"\t")
        cols[i] = value
        return b"\t".join(cols)
    return fn


def whole(rel: str, fn: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        (root / rel).write_bytes(fn((root / rel).read_bytes()))
    return apply


def replace_path(rel: str, how: str) -> Callable[[Path], None]:
    """The file `rel` gone (`missing`), or in its place a folder (`dir`), zero bytes (`empty`) or a CSV (`text`, for
    a reader of binary files)."""
    def apply(root: Path) -> None:
        p = root / rel
        p.unlink()
        if how == "dir":
            p.mkdir()
        elif how == "empty":
            p.write_bytes(b"")
        elif how == "text":
            p.write_text("impression_id,user_id\n1,2\n")
    return apply


def insert_line(rel: str, at: int, text: bytes) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        rows = lines_of(root / rel)
        rows.insert(at - 1, text)
        set_lines(root / rel, rows)
    return apply


@dataclass
class Case:
    name: str
    mutate: Callable[[Path], None]
    file: str          # relative to the folder
    line: int | None   # None: the error has no line (missing file, ...)
    reason: str        # a substring of the reason


TN, TB, DN, DB = "train/news.tsv", "train/behaviors.tsv", "dev/news.tsv", "dev/behaviors.tsv"
TV, DV = "train/entity_embedding.vec", "dev/entity_embedding.vec"

CASES = [
    Case("news-truncated-line", edit(TN, 3, lambda r: r[:12]), TN, 3, "columns, expected 8"),
    Case("news-extra-column", edit(TN, 2, lambda r: r + b"\textra"), TN, 2, "9 tab-separated columns, expected 8"),
    Case("news-missing-column", edit(DN, 2, lambda r: r.rsplit(b"\t", 1)[0]), DN, 2, "7 tab-separated columns"),
    Case("behaviors-missing-column", edit(TB, 2, lambda r: r.rsplit(b"\t", 1)[0]), TB, 2, "4 tab-separated"),
    Case("behaviors-extra-column", edit(DB, 1, lambda r: r + b"\t"), DB, 1, "6 tab-separated columns, expected 5"),
    Case("behaviors-truncated-file", whole(TB, lambda b: b[: b.rindex(b"\t") - 3]), TB, 3, "columns, expected 5"),
    Case("crlf-line-ends", whole(TB, lambda b: b.replace(b"\n", b"\r\n")), TB, 1, "carriage return"),
    Case("utf8-bom", whole(TN, lambda b: b"\xef\xbb\xbf" + b), TN, 1, "byte order mark"),
    Case("invalid-utf8", edit(TN, 3, field(3, b"Caf\xe9 au lait")), TN, 3, "invalid UTF-8"),
    Case("blank-line", insert_line(DN, 2, b""), DN, 2, "blank line"),
    Case("label-2", edit(TB, 1, field(4, b"N3-2 N4-0")), TB, 1, "bad label in impression token 'N3-2'"),
    Case("token-without-label", edit(TB, 2, field(4, b"N1-0 N2")), TB, 2, "bad impression token 'N2': no label"),
    Case("empty-impression-token", edit(TB, 3, field(4, b"N4-1  N1-0")), TB, 3, "empty impression token"),
    Case("empty-impressions", edit(DB, 1, field(4, b"")), DB, 1, "empty impressions column"),
    Case("empty-history-token", edit(TB, 1, field(3, b"N1  N2")), TB, 1, "empty news id in the history"),
    Case("bad-timestamp", edit(TB, 2, field(2, b"13/45/2019 9:05:58 AM")), TB, 2, "bad timestamp"),
    Case("24h-timestamp", edit(DB, 1, field(2, b"11/15/2019 13:02:03")), DB, 1, "bad timestamp"),
    Case("bad-impression-id", edit(TB, 3, field(0, b"3a")), TB, 3, "bad impression id '3a'"),
    Case("empty-user", edit(TB, 1, field(1, b"")), TB, 1, "bad user id ''"),
    Case("history-unknown-news", edit(DB, 1, field(3, b"N1 N404")), DB, 1, "unknown news id N404 in the history"),
    Case("candidate-unknown-news", edit(TB, 2, field(4, b"N1-0 N405-1")), TB, 2,
         "unknown news id N405 in the impressions"),
    Case("duplicate-news-id", edit(TN, 4, field(0, b"N2")), TN, 4, "duplicate news id N2 (first on line 2)"),
    Case("broken-entity-json", edit(TN, 2, field(6, b'[{"WikidataId": "Q1"')), TN, 2,
         "bad JSON in the title entities column"),
    Case("entity-json-not-list", edit(DN, 2, field(7, b'{"WikidataId": "Q2"}')), DN, 2,
         "expected a JSON list"),
    Case("entity-without-id", edit(TN, 1, field(6, b'[{"Label": "x"}]')), TN, 1, "without a WikidataId"),
    Case("embedding-wrong-dimension", edit(TV, 2, lambda r: r + b"0.5\t"), TV, 2, "dimension 5, expected 4"),
    Case("embedding-nan", edit(TV, 1, lambda r: r.replace(b"0.100000", b"nan", 1)), TV, 1, "non-finite"),
    Case("embedding-inf", edit(DV, 2, lambda r: r.replace(b"9.000000", b"-inf", 1)), DV, 2, "non-finite"),
    Case("embedding-not-a-number", edit(DV, 1, lambda r: r.replace(b"0.300000", b"0.3x", 1)), DV, 1,
         "not a number"),
    Case("embedding-split-dimensions", whole(DV, lambda b: b.replace(b"\t\n", b"\t1.0\t\n")), DV, None,
         "differs from the other split"),
    Case("missing-news-file", replace_path(DN, "missing"), DN, None, "missing file"),
    Case("zero-byte-behaviors", replace_path(TB, "empty"), TB, None, "empty file"),
    Case("directory-not-file", replace_path(TN, "dir"), TN, None, "is a directory"),
    Case("directory-as-vec", replace_path(DV, "dir"), DV, None, "is a directory"),
]


def make_case(tmp_path: Path, case: Case) -> Path:
    root = write_mind(tmp_path / case.name)
    case.mutate(root)
    return root


def assert_no_cache(cache: Path) -> None:
    datasets = cache / "datasets"
    assert not datasets.exists() or not any(datasets.iterdir()), list(datasets.rglob("*"))


def validate_error_line(root: Path, cache: Path) -> str:
    """`python -m newsbench data validate ROOT` in a subprocess, as a user runs it: exit 2, one stderr line and no
    other output, no traceback, nothing cached. The line."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "newsbench", "data", "validate", str(root), "--cache-dir",
                           str(cache)], capture_output=True, text=True, env=env, timeout=120)
    err_lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, (root.name, proc.stdout, proc.stderr)
    assert len(err_lines) == 1 and not proc.stdout, (root.name, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert_no_cache(cache)
    return err_lines[0]


def test_corpus_size():
    assert len(CASES) >= 25
    assert len({c.name for c in CASES}) == len(CASES)


def test_base_folder_is_valid(tmp_path):
    ds = load_dataset(write_mind(tmp_path / "ok"), cache_dir=tmp_path / "cache", progress=False)
    assert len(ds.train) == 3


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_in_process(tmp_path, case):
    root = make_case(tmp_path, case)
    cache = tmp_path / "cache"
    with pytest.raises(InputError) as err:
        load_dataset(root, cache_dir=cache, progress=False)
    e = err.value
    assert Path(e.file) == root / case.file
    assert e.line == case.line, str(e)
    assert case.reason in e.reason, str(e)
    assert "\n" not in str(e)
    assert_no_cache(cache)


def test_unreadable_file(tmp_path, monkeypatch):
    root = write_mind(tmp_path / "m")
    target = root / TB
    if os.geteuid() == 0:
        # root reads files whatever their mode: make the access check fail instead.
        import newsbench.data.arrays as arrays_mod

        real = os.access
        monkeypatch.setattr(arrays_mod.os, "access", lambda p, m: False if Path(p) == target else real(p, m))
    else:
        target.chmod(0)
    with pytest.raises(InputError) as err:
        load_dataset(root, cache_dir=tmp_path / "cache", progress=False)
    assert Path(err.value.file) == target and "unreadable file" in err.value.reason
    assert_no_cache(tmp_path / "cache")


# Each subprocess pays the CLI's import time (about 2 s here), so only a sample of kinds: column count, encoding,
# token, join, JSON, embedding, file-level.
SUBPROCESS_CASES = ["news-extra-column", "invalid-utf8", "label-2", "history-unknown-news", "embedding-nan",
                    "directory-not-file"]


def test_malformed_through_cli(tmp_path):
    """A sample of the corpus through `python -m newsbench data validate`: exit 2, one stderr line, no traceback."""
    by_name = {c.name: c for c in CASES}
    for name in SUBPROCESS_CASES:
        case = by_name[name]
        root = make_case(tmp_path, case)
        line = validate_error_line(root, tmp_path / f"cache-{name}")
        where = str(root / case.file) + (f":{case.line}: " if case.line else ": ")
        assert where in line and case.reason in line, (name, line)
        shutil.rmtree(root)
