"""Write a Dataset in EB-NeRD's schema (the generator's `--format ebnerd`, and test fixtures).

The generated world is first written as MIND and read back (newsbench.data.synth), then written here from the
parsed arrays, so both folders hold one world: the EB-NeRD reader gives the same news order, titles, categories,
entities, candidates, labels, times and histories as the MIND reader. What cannot match: ids are integers in
EB-NeRD (article N123 becomes article_id 123 and news id "123"; user U7 becomes user_id 7), subcategories are
integer ids (the name is kept in `topics`), and EB-NeRD ships no entity vectors. The files' bytes differ, so the
two folders have different dataset fingerprints; runs on them give the same metrics (tests/test_ebnerd.py).

The columns are EB-NeRD's, with its types (article_id int32, impression_id and user_id uint32, list<int32> id
lists, timestamp[us] times); the ones newsbench does not read get plain fillers (no read time, no scroll, device 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from newsbench import atomic
from newsbench.data.dataset import Behaviors, Dataset
from newsbench.errors import InputError

SPLIT_FOLDERS = {"train": "train", "dev": "validation"}


def numeric_ids(ids: np.ndarray, prefix: str) -> np.ndarray:
    """'N123' -> 123 when every id is the prefix and digits (generated data, MIND), else 1..n in order."""
    s = np.asarray(ids).astype(str)
    digits = np.char.lstrip(s, prefix)
    ok = len(s) > 0 and bool(np.all(np.char.startswith(s, prefix))) and bool(np.all(np.char.isdigit(digits)))
    if ok:
        nums = digits.astype(np.int64)
        if len(np.unique(nums)) == len(nums) and nums.max() < 2 ** 31:
            return nums
    return np.arange(1, len(s) + 1, dtype=np.int64)


def per_user_history(b: Behaviors, n_users: int, split: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """(users with impressions, their one history each): EB-NeRD stores one history per user and split. Refused
    when two impressions of one user carry different histories (MIND allows it; EB-NeRD cannot say it)."""
    first: dict[int, int] = {}
    out: list[np.ndarray] = []
    users: list[int] = []
    for i, u in enumerate(b.user.tolist()):
        h = b.hist[b.hist_ptr[i]:b.hist_ptr[i + 1]]
        if u not in first:
            first[u] = len(out)
            users.append(u)
            out.append(h)
        elif not np.array_equal(out[first[u]], h):
            raise InputError(f"the {split} split's impression {int(b.impression_id[i])} has another history than "
                             f"the user's earlier impression; EB-NeRD keeps one history per user")
    return np.asarray(users, dtype=np.int64), out


def _list(values: list[np.ndarray], t: pa.DataType) -> pa.Array:
    lengths = np.array([len(v) for v in values], dtype=np.int64)
    offsets = np.zeros(len(values) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.concatenate(values + [np.zeros(0, dtype=object)]) if values else np.zeros(0)
    return pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), pa.array(flat.tolist(), type=t))


def _csr_lists(ptr: np.ndarray, values: np.ndarray) -> list[np.ndarray]:
    return [values[ptr[i]:ptr[i + 1]] for i in range(len(ptr) - 1)]


def articles_table(ds: Dataset, article_id: np.ndarray) -> pa.Table:
    news = ds.news
    n = len(news)
    cats = np.asarray(news.categories, dtype=object)[news.category] if n else np.zeros(0, dtype=object)
    subs = np.asarray(news.subcategories, dtype=object)[news.subcategory] if n else np.zeros(0, dtype=object)
    ents = np.asarray(news.entities, dtype=object)
    ner = [ents[news.entity_idx[news.entity_ptr[i]:news.entity_ptr[i + 1]]] for i in range(n)]
    published = np.datetime64("2019-11-01T00:00:00", "us")
    return pa.table({
        "article_id": pa.array(article_id, pa.int32()),
        "title": pa.array(news.title.tolist(), pa.string()),
        "subtitle": pa.array(news.abstract.tolist(), pa.string()),
        "last_modified_time": pa.array(np.full(n, published), pa.timestamp("us")),
        "premium": pa.array(np.zeros(n, bool)),
        "body": pa.array(news.abstract.tolist(), pa.string()),
        "published_time": pa.array(np.full(n, published), pa.timestamp("us")),
        "image_ids": _list([np.zeros(0, np.int64)] * n, pa.int64()),
        "article_type": pa.array(["article_default"] * n, pa.string()),
        "url": pa.array([f"https://example.com/newsbench/{a}" for a in article_id.tolist()], pa.string()),
        "ner_clusters": _list(ner, pa.string()),
        "entity_groups": _list([np.full(len(e), "MISC", dtype=object) for e in ner], pa.string()),
        "topics": _list([np.array([s], dtype=object) if s else np.zeros(0, dtype=object) for s in subs],
                        pa.string()),
        "category": pa.array(news.category + 1, pa.int16()),
        # subcategory ids: the position of the name among the dataset's names, plus one; the name is in topics
        "subcategory": _list([np.array([c + 1]) for c in news.subcategory.tolist()], pa.int16()),
        "category_str": pa.array(cats.tolist(), pa.string()),
        "total_inviews": pa.array(np.full(n, np.nan), pa.float64()),
        "total_pageviews": pa.array(np.full(n, np.nan), pa.float64()),
        "total_read_time": pa.array(np.full(n, np.nan, np.float32), pa.float32()),
        "sentiment_score": pa.array(np.full(n, 0.5, np.float32), pa.float32()),
        "sentiment_label": pa.array(["Neutral"] * n, pa.string()),
    })


def behaviors_table(b: Behaviors, article_id: np.ndarray, user_id: np.ndarray) -> pa.Table:
    m = len(b)
    cand = _csr_lists(b.cand_ptr, article_id[b.cand])
    clicked = _csr_lists(b.cand_ptr, np.where(b.label == 1, article_id[b.cand], -1))
    clicked = [c[c >= 0] for c in clicked]
    return pa.table({
        "impression_id": pa.array(b.impression_id, pa.uint32()),
        "article_id": pa.nulls(m, pa.int32()),
        "impression_time": pa.array(b.time.astype("datetime64[s]").astype("datetime64[us]"), pa.timestamp("us")),
        "read_time": pa.array(np.zeros(m, np.float32)),
        "scroll_percentage": pa.nulls(m, pa.float32()),
        "device_type": pa.array(np.ones(m, np.int8)),
        "article_ids_inview": _list(cand, pa.int32()),
        "article_ids_clicked": _list(clicked, pa.int32()),
        "user_id": pa.array(user_id[b.user], pa.uint32()),
        "is_sso_user": pa.array(np.zeros(m, bool)),
        "gender": pa.nulls(m, pa.int8()),
        "postcode": pa.nulls(m, pa.int8()),
        "age": pa.nulls(m, pa.int8()),
        "is_subscriber": pa.array(np.zeros(m, bool)),
        "session_id": pa.array(np.arange(1, m + 1), pa.uint32()),
        "next_read_time": pa.array(np.zeros(m, np.float32)),
        "next_scroll_percentage": pa.nulls(m, pa.float32()),
    })


def history_table(b: Behaviors, n_users: int, split: str, article_id: np.ndarray, user_id: np.ndarray) -> pa.Table:
    users, hists = per_user_history(b, n_users, split)
    start = b.time.min() if len(b) else 0
    # The history's clicks fall in the hours before the split's first impression, one an hour, oldest first.
    times = [(np.datetime64(int(start), "s") - np.arange(len(h), 0, -1) * np.timedelta64(3600, "s"))
             .astype("datetime64[us]") for h in hists]
    return pa.table({
        "user_id": pa.array(user_id[users], pa.uint32()),
        "impression_time_fixed": _list(times, pa.timestamp("us")),
        "scroll_percentage_fixed": _list([np.full(len(h), 100.0, np.float32) for h in hists], pa.float32()),
        "article_id_fixed": _list([article_id[h] for h in hists], pa.int32()),
        "read_time_fixed": _list([np.full(len(h), 30.0, np.float32) for h in hists], pa.float32()),
    })


def _write(table: pa.Table, path: Path) -> None:
    with atomic.atomic_path(path, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def write_ebnerd(ds: Dataset, folder: str | Path) -> Path:
    """Write `ds` as `articles.parquet`, `train/` and `validation/` (behaviors.parquet + history.parquet) in
    `folder` (created if needed). InputError when a user's impressions carry different histories."""
    folder = Path(folder)
    article_id = numeric_ids(ds.news.ids, "N")
    user_id = numeric_ids(ds.users, "U")
    tables = {}
    for split, name in SPLIT_FOLDERS.items():
        b = getattr(ds, split)
        if b is not None:
            tables[name] = (behaviors_table(b, article_id, user_id),
                            history_table(b, len(ds.users), split, article_id, user_id))
    folder.mkdir(parents=True, exist_ok=True)
    _write(articles_table(ds, article_id), folder / "articles.parquet")
    for name, (beh, hist) in tables.items():
        (folder / name).mkdir(exist_ok=True)
        _write(beh, folder / name / "behaviors.parquet")
        _write(hist, folder / name / "history.parquet")
    return folder
