"""Property tests: the MIND reader round-trips generated MIND folders (issue 9, "the reader round-trips").

A Hypothesis strategy builds small random but valid MIND folders (train/ + dev/, each with news.tsv, behaviors.tsv and
sometimes entity_embedding.vec), keeps the values it wrote as a plain Python model, writes the files, reads them with
`newsbench.data.mind.read_mind` and checks that the Dataset holds exactly what was written. A second property writes a
Dataset back out as MIND files (the small writer below) and checks that reading them gives identical arrays.

What a MIND field may hold (the assumptions the strategy encodes, from the real rows in ../shared/data/mind-real and
the reader's documented format):
  - Text fields (category, subcategory, title, abstract, url) are any Unicode text except TAB, LF and CR (the column
    and row separators; MIND has no quoting or escaping) and lone surrogates (not encodable in UTF-8). That still
    allows NUL, VT, FF, NEL, U+2028, quotes, backslashes, a mid-field U+FEFF, leading/trailing spaces, the empty
    string, and strings CSV readers like to turn into nulls ("NA", "null", "nan", "#N/A").
  - News, user and entity ids are non-empty runs of letters, digits, punctuation and symbols (no whitespace, no
    control characters): MIND's are "N55528", "U13740", "Q80976". Ids may contain "-" ("N-1" is written "N-1-0" in
    an impression); a file without labels (MIND-large test) is only generated when no candidate id holds a "-",
    since "N1-1" would then be ambiguous. Control characters in ids are left to
    `test_nul_in_ids_is_kept_or_rejected` below.
  - Entity columns are JSON lists of MIND entity objects (Label, Type, WikidataId, Confidence, OccurrenceOffsets,
    SurfaceForms), ASCII-escaped or not; labels may hold tabs and newlines since JSON escapes them. An empty list is
    written "[]" (as in MIND) or as an empty cell.
  - Times are '%m/%d/%Y %I:%M:%S %p' as MIND writes them: month, day and hour without a leading zero, minutes and
    seconds with one ('11/9/2019 1:07:20 PM'); sometimes fully zero-padded (what strftime writes) too. Any second in
    1970..2100; the reader gives unix seconds of that wall-clock time read as UTC.
  - Impression ids are non-negative integers below 10**18, not necessarily unique (the real MINDlarge excerpt repeats
    one). Histories may be empty; every impression has at least one candidate; labels are 0/1.
  - Every behaviors reference names a news id of some news.tsv (read_mind's default unknown_news="error"); dev
    behaviors may name train-only news (one merged news index). Every file has at least one row (a zero-byte file is
    an error by design); the final newline may be missing.
  - dev/news.tsv repeats some train news, as MIND's does; the train row wins. The copy is usually identical (as in
    MIND) and sometimes edited, for the first property only (see `test_dropped_rows_add_no_entities`).
  - Entity vectors: finite float32 values, a dimension shared by both files, unique keys per file; keys may name
    entities no news mentions. An entity's vector comes from the first file (train, then dev) that has it, else NaN.

The three tests at the end each pin a reader defect these properties found (fixed; the minimal example is in each
docstring), so it cannot come back.
"""

from __future__ import annotations

import calendar
import json
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from newsbench.data.dataset import Behaviors, Dataset
from newsbench.data.mind import read_mind
from newsbench.errors import InputError

SETTINGS = settings(max_examples=40, deadline=None)

# ------------------------------------------------------------------------------------------------ the written model


@dataclass
class NewsRow:
    id: str
    category: str
    subcategory: str
    title: str
    abstract: str
    url: str
    title_entities: list[dict]
    abstract_entities: list[dict]
    title_cell: str          # the entity columns exactly as written (JSON, "[]" or "")
    abstract_cell: str

    def line(self) -> str:
        return "\t".join([self.id, self.category, self.subcategory, self.title, self.abstract, self.url,
                          self.title_cell, self.abstract_cell])

    def wikidata_ids(self) -> list[str]:
        return [e["WikidataId"] for e in self.title_entities + self.abstract_entities]


@dataclass
class ImpressionRow:
    impression_id: int
    user: str
    when: datetime           # naive wall-clock time as written
    time_text: str
    history: list[str]
    candidates: list[str]
    labels: list[int] | None  # None: an unlabelled file (MIND-large test)

    def line(self) -> str:
        if self.labels is None:
            tokens = self.candidates
        else:
            tokens = [f"{c}-{lab}" for c, lab in zip(self.candidates, self.labels)]
        return "\t".join([str(self.impression_id), self.user, self.time_text, " ".join(self.history),
                          " ".join(tokens)])


@dataclass
class Split:
    news: list[NewsRow]
    behaviors: list[ImpressionRow]
    vectors: dict[str, list[float]] | None = None
    final_newline: dict[str, bool] = field(default_factory=dict)


@dataclass
class Folder:
    splits: dict[str, Split]  # "train" then "dev"
    dev_copies_edited: bool   # a dev news row repeats a train id with different content

    def winning_news(self) -> dict[str, NewsRow]:
        """id -> the row the reader must keep: the first file's (train before dev)."""
        out: dict[str, NewsRow] = {}
        for split in self.splits.values():
            for row in split.news:
                out.setdefault(row.id, row)
        return out


def _write_lines(path: Path, lines: list[str], final_newline: bool = True) -> None:
    text = "\n".join(lines) + ("\n" if final_newline else "")
    path.write_bytes(text.encode("utf-8"))


def write_folder(folder: Folder, root: Path) -> None:
    for name, split in folder.splits.items():
        d = root / name
        d.mkdir(parents=True)
        _write_lines(d / "news.tsv", [r.line() for r in split.news], split.final_newline.get("news", True))
        _write_lines(d / "behaviors.tsv", [r.line() for r in split.behaviors],
                     split.final_newline.get("behaviors", True))
        if split.vectors is not None:
            # MIND's .vec rows end with a trailing tab; repr() of a float32-exact float round-trips exactly.
            _write_lines(d / "entity_embedding.vec",
                         [k + "\t" + "\t".join(repr(x) for x in vec) + "\t" for k, vec in split.vectors.items()])


# ------------------------------------------------------------------------------------------------------ strategies

# Strings that CSV readers turn into nulls or otherwise treat specially; a field must keep them verbatim.
SPECIAL_TEXT = ["", " ", "  padded  ", "NA", "N/A", "#N/A", "null", "NULL", "nan", "NaN", "None", "-", "0", "1e5",
                '"', '"quoted"', "'", "\\", "\\t", "a\x00b", "\x0b\x0c", "\x85\u2028\u2029", "mid\ufeffBOM",
                "Zürich 北京 🙂", "עברית", "[]"]
SPECIAL_IDS = ["NA", "null", "nan", "N/A", "#N/A", "0", "-1", "N-1", "é", "北", "🙂", "x\"y", "a'b"]

FIELD_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="\t\n\r")
FIELD = st.one_of(st.sampled_from(SPECIAL_TEXT), st.text(FIELD_CHARS, max_size=16))
# Letters, numbers, punctuation, symbols: no separator (space) and no control or format character.
ID_CHARS = st.characters(whitelist_categories=("L", "N", "P", "S"))
ID = st.one_of(st.integers(0, 10**6).map(lambda i: f"N{i}"), st.sampled_from(SPECIAL_IDS),
               st.text(ID_CHARS, min_size=1, max_size=6))
USER = st.one_of(st.integers(0, 10**6).map(lambda i: f"U{i}"), st.sampled_from(SPECIAL_IDS),
                 st.text(ID_CHARS, min_size=1, max_size=6))
WIKIDATA = st.one_of(st.integers(1, 10**8).map(lambda i: f"Q{i}"), st.text(ID_CHARS, min_size=1, max_size=5))
# MIND's marginals: mostly short category words; unicode and odd labels too.
CATEGORY = st.one_of(st.sampled_from(["news", "sports", "lifestyle", "finance", "kids", "video"]), FIELD)
WHEN = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 12, 31, 23, 59, 59)).map(
    lambda d: d.replace(microsecond=0))


def mind_time(d: datetime, padded: bool) -> str:
    """MIND's spelling of a time: '11/9/2019 1:07:20 PM' (padded: strftime's '11/09/2019 01:07:20 PM')."""
    if padded:
        return d.strftime("%m/%d/%Y %I:%M:%S %p")
    hour = d.hour % 12 or 12
    return f"{d.month}/{d.day}/{d.year} {hour}:{d.minute:02d}:{d.second:02d} {'AM' if d.hour < 12 else 'PM'}"


@st.composite
def entity_cell(draw, pool: list[str]) -> tuple[list[dict], str]:
    """A MIND entity column over WikidataIds from `pool`: (the entity objects, the cell text)."""
    wids = draw(st.lists(st.sampled_from(pool), max_size=4)) if pool else []
    label = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)  # JSON escapes tabs and newlines
    ents = []
    for w in wids:
        lab = draw(label)
        ents.append({"Label": lab, "Type": draw(st.sampled_from("PGOCNLU")), "WikidataId": w,
                     "Confidence": draw(st.floats(0, 1)), "OccurrenceOffsets": [draw(st.integers(0, 300))],
                     "SurfaceForms": [lab]})
    if not ents:
        return ents, draw(st.sampled_from(["[]", ""]))
    return ents, json.dumps(ents, ensure_ascii=draw(st.booleans()))


@st.composite
def news_row(draw, nid: str, pool: list[str]) -> NewsRow:
    te, tc = draw(entity_cell(pool))
    ae, ac = draw(entity_cell(pool))
    return NewsRow(nid, draw(CATEGORY), draw(CATEGORY), draw(FIELD), draw(FIELD),
                   draw(st.one_of(st.just(f"https://assets.msn.com/labs/mind/{nid}.html"), FIELD)), te, ae, tc, ac)


@st.composite
def impression_rows(draw, ids: list[str], users: list[str], labelled: bool) -> list[ImpressionRow]:
    rows = []
    for _ in range(draw(st.integers(1, 5))):
        cands = draw(st.lists(st.sampled_from(ids), min_size=1, max_size=5))
        labels = draw(st.lists(st.integers(0, 1), min_size=len(cands), max_size=len(cands))) if labelled else None
        when = draw(WHEN)
        rows.append(ImpressionRow(
            impression_id=draw(st.one_of(st.integers(0, 10**6), st.integers(0, 10**18 - 1))),
            user=draw(st.sampled_from(users)), when=when,
            time_text=mind_time(when, padded=draw(st.integers(0, 4)) == 0),
            history=draw(st.lists(st.sampled_from(ids), max_size=6)), candidates=cands, labels=labels))
    return rows


@st.composite
def mind_folders(draw, allow_edited_dev_copies: bool = True) -> Folder:
    """A small valid MIND folder (train/ + dev/) as a model of what is written."""
    all_ids = draw(st.lists(ID, min_size=1, max_size=9, unique=True))
    n_train = draw(st.integers(1, len(all_ids)))
    train_ids, dev_only = all_ids[:n_train], all_ids[n_train:]
    repeated = draw(st.lists(st.sampled_from(train_ids), max_size=3, unique=True))
    if not dev_only and not repeated:
        repeated = [train_ids[0]]  # dev/news.tsv needs a row
    pool = draw(st.lists(WIKIDATA, max_size=6, unique=True))
    users = draw(st.lists(USER, min_size=1, max_size=4, unique=True))

    train_news = [draw(news_row(n, pool)) for n in train_ids]
    by_id = {r.id: r for r in train_news}
    edited = False
    dev_news = []
    for nid in draw(st.permutations(dev_only + repeated)):
        if nid in by_id and not (allow_edited_dev_copies and draw(st.integers(0, 3)) == 0):
            dev_news.append(by_id[nid])  # MIND's dev copy of a train news is the same row
        else:
            row = draw(news_row(nid, pool))
            edited = edited or nid in by_id
            dev_news.append(row)

    # An unlabelled dev split (MIND-large test) only where no candidate id could be mistaken for a label.
    plain = [n for n in all_ids if "-" not in n]
    dev_labelled = not plain or draw(st.integers(0, 4)) > 0
    splits = {
        "train": Split(train_news, draw(impression_rows(all_ids, users, True))),
        "dev": Split(dev_news, draw(impression_rows(all_ids if dev_labelled else plain, users, dev_labelled))),
    }
    if draw(st.booleans()):
        dim = draw(st.integers(1, 4))
        # Keys of entities no news names too; at least one key, since a .vec file can't be empty.
        keys = pool + draw(st.lists(WIKIDATA, min_size=0 if pool else 1, max_size=2))
        value = st.floats(width=32, allow_nan=False, allow_infinity=False)
        for split in splits.values():
            if draw(st.integers(0, 2)) > 0:
                chosen = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=len(keys), unique=True))
                split.vectors = {k: [float(draw(value)) for _ in range(dim)] for k in chosen}
    for split in splits.values():
        split.final_newline = {"news": draw(st.booleans()), "behaviors": draw(st.booleans())}
    return Folder(splits, edited)


# ----------------------------------------------------------------------------------------------------- the checks


def news_index(ds: Dataset) -> dict[str, int]:
    return {str(n): i for i, n in enumerate(ds.news.ids)}


def entity_names(ds: Dataset, i: int) -> list[str]:
    return [ds.news.entities[k] for k in ds.news.entity_idx[ds.news.entity_ptr[i]:ds.news.entity_ptr[i + 1]]]


def check_behaviors(ds: Dataset, b: Behaviors, rows: list[ImpressionRow]) -> None:
    assert len(b) == len(rows)
    assert b.impression_id.dtype == np.int64 and b.time.dtype == np.int64 and b.user.dtype == np.int32
    assert b.hist_ptr.dtype == np.int64 and b.cand_ptr.dtype == np.int64
    assert b.hist.dtype == np.int32 and b.cand.dtype == np.int32 and b.label.dtype == np.int8
    assert b.hist_ptr[0] == 0 and b.hist_ptr[-1] == len(b.hist) and b.cand_ptr[-1] == len(b.cand) == len(b.label)
    ids = ds.news.ids
    # ids as written when they are distinct; numbered by line when any repeats (one id must name one impression)
    distinct = len({r.impression_id for r in rows}) == len(rows)
    for i, row in enumerate(rows):
        assert int(b.impression_id[i]) == (row.impression_id if distinct else i + 1)
        assert str(ds.users[b.user[i]]) == row.user
        assert int(b.time[i]) == calendar.timegm(row.when.timetuple()), row.time_text
        assert [str(ids[k]) for k in b.hist[b.hist_ptr[i]:b.hist_ptr[i + 1]]] == row.history
        cand = slice(b.cand_ptr[i], b.cand_ptr[i + 1])
        assert [str(ids[k]) for k in b.cand[cand]] == row.candidates
        assert b.label[cand].tolist() == (row.labels if row.labels is not None else [-1] * len(row.candidates))


def check_dataset(ds: Dataset, folder: Folder) -> None:
    """Everything the model says was written is in the Dataset, exactly."""
    news = ds.news
    expected = folder.winning_news()
    # One merged index: each written id once, nothing else.
    assert sorted(map(str, news.ids)) == sorted(expected) and len(news) == len(expected)
    assert news.category.dtype == np.int32 and news.subcategory.dtype == np.int32
    assert news.entity_ptr.dtype == np.int64 and news.entity_idx.dtype == np.int32
    assert len(news.entity_ptr) == len(news) + 1 and news.entity_ptr[-1] == len(news.entity_idx)
    for i, nid in enumerate(map(str, news.ids)):
        row = expected[nid]
        assert news.title[i] == row.title and news.abstract[i] == row.abstract
        assert news.categories[news.category[i]] == row.category
        assert news.subcategories[news.subcategory[i]] == row.subcategory
        got = entity_names(ds, i)
        assert len(got) == len(set(got)), "entities are deduplicated per news"
        assert set(got) == set(row.wikidata_ids())
    assert len(set(news.entities)) == len(news.entities)
    assert len(set(news.categories)) == len(news.categories)

    users = [str(u) for u in ds.users]
    written_users = {r.user for s in folder.splits.values() for r in s.behaviors}
    assert len(users) == len(set(users)) and set(users) == written_users
    check_behaviors(ds, ds.train, folder.splits["train"].behaviors)
    check_behaviors(ds, ds.dev, folder.splits["dev"].behaviors)

    files = [s.vectors for s in folder.splits.values() if s.vectors is not None]
    if not files:
        assert ds.entity_vectors is None
        return
    dim = len(next(iter(files[0].values())))
    assert ds.entity_vectors.dtype == np.float32 and ds.entity_vectors.shape == (len(news.entities), dim)
    for e, vec in zip(news.entities, ds.entity_vectors):
        first = next((f[e] for f in files if e in f), None)
        if first is None:
            assert np.isnan(vec).all(), e
        else:
            np.testing.assert_array_equal(vec, np.asarray(first, dtype=np.float32), err_msg=e)


@SETTINGS
@given(folder=mind_folders())
def test_reader_reproduces_written_folder(folder: Folder) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(folder, Path(tmp))
        ds = read_mind(Path(tmp))
    check_dataset(ds, folder)


# --------------------------------------------------------------------------------- Dataset -> TSV -> Dataset


def write_dataset(ds: Dataset, root: Path) -> None:
    """Write a Dataset as a MIND folder: every news in train/news.tsv (dev/news.tsv repeats it, as MIND's dev file
    repeats train news), each split's behaviors, and the known entity vectors in train/entity_embedding.vec.

    The reader keeps neither urls nor the title/abstract split of entities, so urls are written empty and all of a
    news item's entities go in its title-entities column (in the Dataset's order). Entities no news names still get
    their vector row, and one extra key named by no news keeps the dimension when no entity has a vector.
    """
    n = ds.news
    news_lines = []
    for i in range(len(n)):
        ents = json.dumps([{"WikidataId": e} for e in entity_names(ds, i)], ensure_ascii=False)
        news_lines.append("\t".join([str(n.ids[i]), n.categories[n.category[i]], n.subcategories[n.subcategory[i]],
                                     n.title[i], n.abstract[i], "", ents, "[]"]))
    for name, b in (("train", ds.train), ("dev", ds.dev)):
        if b is None:
            continue
        d = root / name
        d.mkdir(parents=True)
        _write_lines(d / "news.tsv", news_lines)
        rows = []
        for i in range(len(b)):
            when = datetime.fromtimestamp(int(b.time[i]), tz=timezone.utc)
            hist = [str(n.ids[k]) for k in b.hist[b.hist_ptr[i]:b.hist_ptr[i + 1]]]
            cand = slice(b.cand_ptr[i], b.cand_ptr[i + 1])
            tokens = [str(n.ids[k]) + ("" if lab < 0 else f"-{lab}") for k, lab in zip(b.cand[cand], b.label[cand])]
            rows.append("\t".join([str(int(b.impression_id[i])), str(ds.users[b.user[i]]), mind_time(when, False),
                                   " ".join(hist), " ".join(tokens)]))
        _write_lines(d / "behaviors.tsv", rows)
    if ds.entity_vectors is not None:
        known = ~np.isnan(ds.entity_vectors).any(axis=1)
        lines = [e + "\t" + "\t".join(repr(float(x)) for x in v) + "\t"
                 for e, v, ok in zip(n.entities, ds.entity_vectors, known) if ok]
        spare = "Q" + "0" * (1 + max((len(e) for e in n.entities), default=0))  # longer than any entity: unnamed
        lines.append(spare + "\t" + "\t".join("0.0" for _ in range(ds.entity_vectors.shape[1])) + "\t")
        _write_lines(root / "train" / "entity_embedding.vec", lines)


def assert_same_arrays(a: Dataset, b: Dataset) -> None:
    for attr in ("ids", "category", "subcategory", "title", "abstract", "entity_ptr", "entity_idx"):
        x, y = getattr(a.news, attr), getattr(b.news, attr)
        assert x.dtype == y.dtype, attr
        np.testing.assert_array_equal(x, y, err_msg=attr)
    for attr in ("categories", "subcategories", "entities"):
        assert getattr(a.news, attr) == getattr(b.news, attr), attr
    np.testing.assert_array_equal(a.users, b.users)
    for split in ("train", "dev"):
        x, y = getattr(a, split), getattr(b, split)
        assert (x is None) == (y is None), split
        if x is None:
            continue
        for attr in ("impression_id", "user", "time", "hist_ptr", "hist", "cand_ptr", "cand", "label"):
            u, v = getattr(x, attr), getattr(y, attr)
            assert u.dtype == v.dtype, f"{split}.{attr}"
            np.testing.assert_array_equal(u, v, err_msg=f"{split}.{attr}")
    assert (a.entity_vectors is None) == (b.entity_vectors is None)
    if a.entity_vectors is not None:
        assert a.entity_vectors.dtype == b.entity_vectors.dtype
        np.testing.assert_array_equal(a.entity_vectors, b.entity_vectors)  # NaN rows compare equal


@SETTINGS
@given(folder=mind_folders())
def test_written_dataset_reads_back_identically(folder: Folder) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first_dir, second_dir = Path(tmp) / "first", Path(tmp) / "second"
        write_folder(folder, first_dir)
        first = read_mind(first_dir)
        write_dataset(first, second_dir)
        second = read_mind(second_dir)
    assert_same_arrays(first, second)


def test_time_format_matches_real_mind_rows(real_mind: Path) -> None:
    """The strategy's unpadded time spelling is MIND's: every real time re-spells to itself after reading."""
    text = (real_mind / "small-head" / "train" / "behaviors.tsv").read_text("utf-8")
    times = [line.split("\t")[2] for line in text.splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "train"
        d.mkdir()
        _write_lines(d / "news.tsv", ["N1\tnews\tnewsus\tt\t\t\t[]\t[]"])
        _write_lines(d / "behaviors.tsv", [f"{i}\tU1\t{t}\t\tN1-1" for i, t in enumerate(times)])
        ds = read_mind(d)
    respelled = [mind_time(datetime.fromtimestamp(int(s), tz=timezone.utc), padded=False) for s in ds.train.time]
    assert respelled == times


# ------------------------------------------------------------------------------------- reader defects, pinned


def _minimal_edited_copy() -> Folder:
    """train/news.tsv: N1 with no entity; dev/news.tsv: an edited copy of N1 naming Q9, then N2 naming Q8 and Q7."""
    def row(nid: str, wids: list[str]) -> NewsRow:
        ents = [{"WikidataId": w} for w in wids]
        return NewsRow(nid, "news", "newsus", "t", "", "", ents, [], json.dumps(ents), "[]")

    imp = ImpressionRow(1, "U1", datetime(2019, 11, 11, 9, 5, 58), "11/11/2019 9:05:58 AM", [], ["N1"], [1])
    imp2 = ImpressionRow(2, "U1", datetime(2019, 11, 11, 9, 5, 58), "11/11/2019 9:05:58 AM", [], ["N2"], [1])
    return Folder({"train": Split([row("N1", [])], [imp]),
                   "dev": Split([row("N1", ["Q9"]), row("N2", ["Q8", "Q7"])], [imp2])}, True)


@SETTINGS
@given(folder=mind_folders())
@example(folder=_minimal_edited_copy())
def test_dropped_rows_add_no_entities(folder: Folder) -> None:
    """news.entities holds exactly the entities of the kept rows, in first-seen order of the merged index.

    Minimal failing example: train/news.tsv has N1 with no entity; dev/news.tsv has an edited copy of N1 naming Q9
    and then N2 naming Q8, Q7. The train row of N1 wins, yet news.entities == ['Q9', 'Q8', 'Q7']: Q9 is named by no
    news (an orphan node for the graph features, a NaN row in entity_vectors), and the codes of a split's new
    entities follow the scan of all its rows, dropped ones included. So the entity vocabulary, and with it the graph
    features, depend on rows the reader discards, and writing the Dataset out and reading it back changes
    news.entities/entity_idx (why `test_written_dataset_reads_back_identically` only generates unedited copies).
    """
    with tempfile.TemporaryDirectory() as tmp:
        write_folder(folder, Path(tmp))
        ds = read_mind(Path(tmp))
    scan = [e for i in range(len(ds.news)) for e in entity_names(ds, i)]
    assert ds.news.entities == list(dict.fromkeys(scan))


@pytest.mark.parametrize("where", ["news id", "user id"])
def test_nul_in_ids_is_kept_or_rejected(tmp_path: Path, where: str) -> None:
    """An id ending in NUL must either be read verbatim or rejected with an InputError, never silently changed.

    Minimal failing examples (one train/ split):
      - news.tsv 'N1\\x00<TAB>news<TAB>newsus<TAB>t<TAB><TAB><TAB>[]<TAB>[]', behaviors.tsv naming 'N1\\x00-1':
        read_news turns the id into 'N1' (`.astype(str)`), so the impression's 'N1\\x00' is then reported as an
        unknown news id, a misleading error (the id is in news.tsv);
      - behaviors.tsv with users 'U1\\x00' and 'U1': Dataset.users == ['U1', 'U1'], two codes with one name.
    The `^\\S+$` id checks let NUL (and other control characters) through because RE2's \\S excludes only ASCII
    whitespace.
    """
    d = tmp_path / "train"
    d.mkdir()
    nid, users = ("N1\x00", ["U1"]) if where == "news id" else ("N1", ["U1\x00", "U1"])
    _write_lines(d / "news.tsv", [f"{nid}\tnews\tnewsus\tt\t\t\t[]\t[]"])
    _write_lines(d / "behaviors.tsv", [f"{i}\t{u}\t11/11/2019 9:05:58 AM\t\t{nid}-1" for i, u in enumerate(users)])
    try:
        ds = read_mind(d)
    except InputError as err:
        assert "unknown news id" not in err.reason  # the id is in news.tsv: rejecting it must say why
        return
    assert [str(x) for x in ds.news.ids] == [nid]
    assert sorted(str(u) for u in ds.users) == sorted(users)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
@settings(max_examples=10, deadline=None)
@given(value=st.floats(min_value=3.5e38, max_value=1e308))
@example(value=1e39)
def test_vector_values_beyond_float32_are_rejected(value: float) -> None:
    """A vector value that is finite as float64 but overflows float32 is an InputError, not a silent inf.

    Minimal failing example: train/entity_embedding.vec 'Q1<TAB>1e39<TAB>0.5<TAB>' gives entity_vectors [[inf, 0.5]]
    (only numpy's 'overflow encountered in cast' RuntimeWarning), breaking the reader's 'only finite numbers'
    promise: `np.isfinite` runs on the float64 matrix, then `matrix.astype(np.float32)` overflows.
    """
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp) / "train"
        d.mkdir()
        _write_lines(d / "news.tsv", ['N1\tnews\tnewsus\tt\t\t\t[{"WikidataId": "Q1"}]\t[]'])
        _write_lines(d / "behaviors.tsv", ["1\tU1\t11/11/2019 9:05:58 AM\t\tN1-1"])
        _write_lines(d / "entity_embedding.vec", [f"Q1\t{value!r}\t0.5\t"])
        try:
            ds = read_mind(d)
        except InputError as err:
            assert err.line == 1
            return
    assert np.isfinite(ds.entity_vectors).all()
