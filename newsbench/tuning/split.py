"""The validation split of tuning, carved from train by time: the last day of train impressions (or the last
`--validation-days`) scores each trial, the model trains on the days before it. Dev is never part of it.

`carve` returns a new Dataset whose `train` is the earlier days and whose `dev` is the validation day; the real dev
split is dropped from it (not kept under another name), so no code path that scores `dataset.dev` (train_run,
score_dev, evaluate, attribution) can reach dev labels from a trial. Its fingerprint is derived from the source's
and the cut, so caches keyed by it (and the graph features, keyed by the train arrays they learn from) are the
carved data's own: the validation day's clicks never reach the graph the trials use.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from newsbench.data.dataset import Behaviors, Dataset, csr_positions
from newsbench.errors import InputError

DAY = 86_400
SPLIT_VERSION = 1         # the carving rule; part of each study's name, so a new rule starts new studies


def select(beh: Behaviors, rows: np.ndarray) -> Behaviors:
    """The impressions `rows` of `beh` (in that order), with their histories and candidates."""
    def csr(ptr, values):
        pos = csr_positions(ptr, rows)
        lengths = ptr[rows + 1] - ptr[rows]
        return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64), values[pos]

    hist_ptr, hist = csr(beh.hist_ptr, beh.hist)
    cand_ptr, cand = csr(beh.cand_ptr, beh.cand)
    label = beh.label[csr_positions(beh.cand_ptr, rows)]
    return Behaviors(beh.impression_id[rows], beh.user[rows], beh.time[rows], hist_ptr, hist, cand_ptr, cand, label)


def train_days(train: Behaviors) -> np.ndarray:
    """The calendar days (UTC, as day numbers) that hold a train impression, ascending. Days without one do not
    count: a gap in the log does not shrink the validation split."""
    return np.unique(np.asarray(train.time, dtype=np.int64) // DAY)


def carve(dataset: Dataset, days: int = 1) -> tuple[Dataset, dict]:
    """(the tuning dataset, a description): train = impressions before the last `days` train days (calendar days
    that hold a train impression), dev = those days' impressions.

    InputError when no earlier day is left to train on, or a side has no click to learn or score."""
    tr = dataset.train
    if tr is None or len(tr) == 0:
        raise InputError(f"dataset {dataset.name}: tuning needs a train split to carve its validation day from")
    present = train_days(tr)
    n = len(present)
    if days >= n:
        if n == 1:
            raise InputError(f"dataset {dataset.name}: every train impression is on one day; tuning carves the last "
                             f"train day off as its validation split and needs earlier days to train on")
        raise InputError(f"dataset {dataset.name}: --validation-days {days} takes all {n} days of train "
                         f"impressions; at most {n - 1} leave a day to train on")
    cut = int(present[-days]) * DAY
    late = tr.time >= cut
    rest, val = select(tr, np.flatnonzero(~late)), select(tr, np.flatnonzero(late))
    for name, beh in (("train days before it", rest), (f"validation day{'s' if days > 1 else ''}", val)):
        if not ((beh.label == 1).any() and (beh.label == 0).any()):
            raise InputError(f"dataset {dataset.name}: the {name} of the tuning split has no click and non-click to "
                             f"{'learn' if beh is rest else 'score'}")
    fingerprint = hashlib.sha256(f"{dataset.fingerprint}|tune-validation-v{SPLIT_VERSION}|{cut}".encode()
                                 ).hexdigest()[:16]
    carved = dataclasses.replace(dataset, name=f"{dataset.name} (tuning split)", fingerprint=fingerprint,
                                 train=rest, dev=val, card=None,
                                 source={**dataset.source, "tuning_split_of": dataset.fingerprint})
    day = np.datetime64(cut, "s").astype("datetime64[D]")
    if days == 1:
        rule = f"validation = train impressions on {day} (the last train day); trials train on the days before"
    else:
        last = np.datetime64(int(tr.time.max()), "s").astype("datetime64[D]")
        rule = (f"validation = train impressions from {day} to {last} (the last {days} train days); trials train "
                f"on the days before")
    info = {"rule": rule, "version": SPLIT_VERSION, "validation_day": str(day), "validation_days": days,
            "cut_time": cut, "n_train_impressions": len(rest), "n_validation_impressions": len(val)}
    return carved, info
