"""The in-memory dataset every later stage consumes: a news table and CSR integer arrays.

Nothing downstream re-reads TSV. News from every split share one index (MIND's dev news live in dev's news.tsv, and a
news id in both splits is one item). Ragged per-row lists (histories, candidates, entities) are CSR: `ptr` of length
rows+1 and a flat value array, so row i is `values[ptr[i]:ptr[i+1]]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class News:
    ids: np.ndarray            # (N,) str: MIND news ids, e.g. "N55528"
    category: np.ndarray       # (N,) int32 codes into `categories`
    subcategory: np.ndarray    # (N,) int32 codes into `subcategories`
    categories: list[str]
    subcategories: list[str]
    title: np.ndarray          # (N,) str
    abstract: np.ndarray       # (N,) str ("" when empty)
    entity_ptr: np.ndarray     # (N+1,) int64, CSR over title + abstract entities (deduplicated per news)
    entity_idx: np.ndarray     # (nnz,) int32 codes into `entities`
    entities: list[str]        # WikidataIds, e.g. "Q80976"

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Behaviors:
    impression_id: np.ndarray  # (M,) int64
    user: np.ndarray           # (M,) int32 codes into Dataset.users
    time: np.ndarray           # (M,) int64 unix seconds (the TSV's local time read as UTC)
    hist_ptr: np.ndarray       # (M+1,) int64
    hist: np.ndarray           # (nnz,) int32 news indices, oldest first as in the file
    cand_ptr: np.ndarray       # (M+1,) int64
    cand: np.ndarray           # (nnz,) int32 news indices
    label: np.ndarray          # (nnz,) int8: 1 clicked, 0 not, -1 unlabelled (MIND-large test)

    def __len__(self) -> int:
        return len(self.impression_id)


@dataclass
class Dataset:
    name: str                  # a human label: folder name or "synth-demo-s0"
    fingerprint: str           # content hash of the input files; names caches and run records
    news: News
    users: np.ndarray          # (U,) str
    train: Behaviors | None
    dev: Behaviors | None
    entity_vectors: np.ndarray | None = None   # (len(news.entities), dim) float32, rows of NaN where absent
    card: dict | None = None   # dataset_card.json of generated data (planted signals, oracle metrics)
    source: dict = field(default_factory=dict)  # paths and per-file fingerprints, for records

    def seen_in_train(self) -> np.ndarray:
        """(N,) bool: news that appear in a train history or train impression. The rest are 'cold'."""
        seen = np.zeros(len(self.news), dtype=bool)
        if self.train is not None:
            seen[self.train.hist] = True
            seen[self.train.cand] = True
        return seen


def csr_positions(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Flat positions of the values of `rows` in a CSR structure, in row order."""
    lengths = ptr[rows + 1] - ptr[rows]
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.repeat(ptr[rows] - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return starts + np.arange(total, dtype=np.int64)


def history_matrix(beh: Behaviors, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, L) int64 most recent `length` clicks of each impression (oldest first, padded with 0) and (M, L) mask."""
    ptr = beh.hist_ptr
    n = np.minimum(np.diff(ptr), length)
    start = ptr[1:] - n
    slots = np.arange(length)
    mask = slots[None, :] < n[:, None]
    if len(beh.hist) == 0:
        return np.zeros(mask.shape, dtype=np.int64), mask
    pos = np.where(mask, start[:, None] + slots[None, :], 0)
    return np.where(mask, beh.hist[pos], 0).astype(np.int64), mask
