"""`newsbench predict`: rank the candidates of a MIND split with a recorded run's model, in the leaderboard's format.

No model is saved with a run: a record holds metrics and per-impression arrays, not weights. A CPU run is a pure
function of its data, features and config (newsbench.train), so predicting trains the recorded run again, checks
that the retrained model reproduces the record's dev metrics and training losses exactly (if the data, features,
code or machine changed, the model is not the run's and nothing is written), then scores the split. The price is
one training per prediction; the gain is that results folders stay small and that every prediction file is tied
to a run whose numbers it provably reproduces.

The split (`read_split`) is a MIND folder holding news.tsv and behaviors.tsv; its behaviors may carry labels (a
dev split: labels are not read) or not (MIND's test split: bare candidate ids, which only prediction accepts; the
training commands refuse an unlabelled split). Its news.tsv may add news that the run's data lacks, as MIND's test
split does: they join the news table after the run's own news (`extend_news`). Such news have no ID row (they
share the 'unknown' row of every news unseen in training, as cold dev news do); the `llm` modality encodes their
texts with the run's text encoder (or reads their vectors, for `file:`); `rand` draws theirs from their ids. The
`gnn` features are trained over the run's own news table and cannot place a new news item: a gnn run stops with
one line when the split adds news.

Output (`write_prediction`): prediction.txt, one line per impression in file order, `<impression id>
[r1,r2,...]` with the 1-based rank of each candidate in candidate order (1 = most likely clicked); prediction.zip
holding it (what the leaderboard takes); prediction.json naming the run, the split and the dev metrics reproduced.

Ties: candidates with equal scores share the best rank of their group (`1 + the number of candidates scored
strictly higher`; ranks 1,2,2,4). The official scorer turns ranks into 1/rank scores, so a tie stays a tie: its
AUC counts a tied clicked/non-clicked pair 1/2, as newsbench's AUC does, and its MRR and nDCG order tied
candidates by NumPy's sort as newsbench's metrics do (newsbench.metrics: the later candidate first). So the
official scorer of a dev run's prediction.txt gives the run's recorded metrics exactly (tests/test_predict.py
checks this with a transcription of the scorer). Without ties the ranks are a permutation of 1..n.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable, Optional

import numpy as np

from newsbench import atomic, store
from newsbench.config import RunConfig
from newsbench.data.dataset import Behaviors, Dataset, News
from newsbench.errors import InputError

FILES = ("prediction.txt", "prediction.zip", "prediction.json")


# ------------------------------------------------------------------------------------------------------ the split
@dataclass
class Split:
    """A split read for prediction: its news table and behaviors (news ids still strings) and whether labelled."""
    path: Path
    news: object                 # newsbench.data.mind.NewsTable
    behaviors: object            # newsbench.data.mind.BehaviorsTable
    labelled: bool


def read_split(path: str | os.PathLike) -> Split:
    """Read and check a split folder (news.tsv + behaviors.tsv) for prediction, labelled or not. Impression ids must
    be the file's own integers, unique: prediction.txt names impressions by them (the reader would renumber
    repeated or non-integer ids by line, which the leaderboard would not match)."""
    from newsbench.data import mind

    folder = Path(path)
    if not folder.is_dir():
        raise InputError("not a folder: --split takes a MIND split folder holding news.tsv and behaviors.tsv "
                         "(e.g. MINDlarge_test/)" if folder.exists() else "no such file or directory", file=folder)
    news = mind.read_news(folder / "news.tsv")
    messages: list[str] = []
    beh = mind.read_behaviors(folder / "behaviors.tsv", messages)
    if messages:        # the reader's only behaviors warnings are about impression ids it renumbered
        reason = messages[0].split(": ", 1)[-1]
        raise InputError(f"{reason}; prediction.txt names each impression by the file's own id, so ids must be "
                         f"unique integers", file=folder / "behaviors.tsv")
    labelled = bool(len(beh.label)) and bool((beh.label >= 0).all())
    return Split(folder, news, beh, labelled)


def _as_table(news: News):
    """A dataset's news as a mind.NewsTable, so that mind.merge_news can put a split's news after it."""
    from newsbench.data.mind import NewsTable

    def names(codes, values):
        return np.asarray(values, dtype=object)[codes] if len(values) else np.zeros(len(codes), dtype=object)

    return NewsTable(Path("<run data>"), np.asarray(news.ids, dtype=str), names(news.category, news.categories),
                     names(news.subcategory, news.subcategories), np.asarray(news.title, dtype=object),
                     np.asarray(news.abstract, dtype=object), news.entity_ptr, news.entity_idx, list(news.entities))


def extend_news(news: News, table) -> tuple[News, int]:
    """(the run's news followed by the split's news it lacks, how many were added). The run's news keep their
    indices, so its ID rows and feature rows stay where training put them."""
    from newsbench.data.mind import merge_news

    merged = merge_news([_as_table(news), table])
    return merged, len(merged) - len(news)


def split_behaviors(split: Split, news: News, unknown_news: str = "error") -> Behaviors:
    """The split's behaviors over the extended news table. Every candidate must be in a news.tsv (the run's data or
    the split's): the format ranks every candidate, so one without a row is an error whatever `unknown_news` says;
    history ids absent from every news.tsv follow `unknown_news` (error, or drop with a warning)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from newsbench.data import mind

    t = split.behaviors
    ids = pa.array(news.ids, type=pa.string())
    _, missing = mind._lookup(t.cand_tokens, ids)
    if missing.any():
        k = int(np.flatnonzero(missing)[0])
        raise InputError(f"unknown news id {t.cand_tokens[k].as_py()} in the impressions column, absent from every "
                         f"news.tsv ({int(missing.sum())} such candidates in this file); prediction ranks every "
                         f"candidate, so each needs a news row", file=t.path, line=mind._row_of(t.cand_ptr, k) + 1)
    return mind.map_behaviors(t, ids, pc.unique(t.user), unknown_news)


# ------------------------------------------------------------------------------------------------------- features
def new_news_features(cfg: RunConfig, news: News, n_old: int, progress: bool = False) -> dict[str, np.ndarray]:
    """The frozen feature rows of the news the split adds (rows n_old.. of `news`): {'llm': (n_new, D)} for an llm
    run, from its text encoder; InputError for a gnn run when there are new news (module docstring)."""
    n_new = len(news) - n_old
    out: dict[str, np.ndarray] = {}
    if n_new == 0:
        return out
    if "gnn" in cfg.modalities:
        example = ", ".join(map(str, news.ids[n_old:n_old + 3]))
        raise InputError(f"--split adds {n_new:,} news absent from the run's data (e.g. {example}), and the gnn "
                         f"features are trained over the run's own news, so they cannot place new ones; predict "
                         f"with a run without gnn")
    if "llm" in cfg.modalities:
        from newsbench.features import text

        kind, arg = text.encoder_kind(cfg.text_encoder)
        ids = [str(n) for n in news.ids[n_old:]]
        if kind.per_news:
            matrix = kind.vectors(arg, ids)
        else:
            sub = SimpleNamespace(title=news.title[n_old:], abstract=news.abstract[n_old:])
            matrix = text.encode_texts(text.texts_for(sub, cfg.text_fields), cfg.text_encoder, cfg.device,
                                       progress=progress)
        out["llm"] = np.asarray(matrix, dtype=np.float32)
    return out


# ---------------------------------------------------------------------------------------------------------- ranks
def ranks(scores: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    """(nnz,) int64 1-based rank of each candidate within its impression (CSR `ptr`), 1 = highest score; equal
    scores share the best rank of their group (1 + the number of candidates scored strictly higher)."""
    scores = np.asarray(scores, dtype=np.float64)
    if np.isnan(scores).any():
        raise ValueError("scores contain NaN")
    n = len(scores)
    imp = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
    order = np.lexsort((-scores, imp))                     # by impression, then by descending score
    s, i = scores[order], imp[order]
    starts_group = np.ones(n, dtype=bool)
    starts_group[1:] = (i[1:] != i[:-1]) | (s[1:] != s[:-1])
    first = np.maximum.accumulate(np.where(starts_group, np.arange(n), 0))
    out = np.empty(n, dtype=np.int64)
    out[order] = first - ptr[i] + 1
    return out


def prediction_text(impression_id: np.ndarray, rank: np.ndarray, ptr: np.ndarray) -> str:
    """The lines of prediction.txt: `<impression id> [r1,r2,...]`, no spaces inside the brackets."""
    words = rank.astype(str).tolist()
    return "".join(f"{imp} [{','.join(words[a:b])}]\n"
                   for imp, a, b in zip(impression_id.tolist(), ptr[:-1].tolist(), ptr[1:].tolist()))


def write_prediction(out: str | os.PathLike, text: str, meta: dict) -> list[Path]:
    """Write prediction.txt, prediction.zip (prediction.txt inside, fixed timestamp: same text, same bytes) and
    prediction.json into `out`, each atomically, the JSON last. Returns the paths."""
    out = Path(out)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("prediction.txt", date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, text)
    paths = [out / name for name in FILES]
    atomic.write_text(paths[0], text)
    atomic.write_bytes(paths[1], buf.getvalue())
    atomic.write_json(paths[2], meta)
    return paths


# ------------------------------------------------------------------------------------------------ the whole step
@dataclass
class Prediction:
    """What `predict` did: the run's record, the files written, the split's size and what was new in it."""
    record: dict
    files: list[Path]
    n_impressions: int
    n_candidates: int
    n_new_news: int
    labelled: bool
    metrics: dict = field(default_factory=dict)      # the retrained model's dev metrics (equal to the record's)


def find_run(results: str | os.PathLike, run: str) -> dict:
    """The record of run `run` (a run id, or a prefix of one naming a single run) in `results`."""
    records = [r for r in store.load_records(results) if r["run_id"].startswith(run)] if run else []
    if len(records) == 1:
        return records[0]
    where = store.runs_dir(results)
    if not records:
        raise InputError(f"--run {run!r}: no run record with that id in {where} (`newsbench report --table runs "
                         f"--results {results}` lists them)")
    raise InputError(f"--run {run!r}: names {len(records)} runs in {where}; give more of the id")


def predict(run: str, split: str | os.PathLike, out: str | os.PathLike, *, results="results", data=None,
            cache_dir=None, unknown_news: str = "error", verify: bool = True, progress: bool = False,
            on_event: Optional[Callable[[dict], None]] = None,
            say: Callable[[str], None] = lambda line: None) -> Prediction:
    """Retrain recorded run `run` of `results` on `data` (None: the embedded demo), check it against its record
    (`verify`), rank the candidates of the split folder `split` and write the files into `out`."""
    from newsbench import train as training
    from newsbench.data.load import load_training_data
    from newsbench.inputs import run_inputs
    from newsbench.paths import check_writable_dir

    record = find_run(results, run)
    cfg = RunConfig.from_dict(record["config"])
    check_writable_dir(out, "--out")
    cfg = _with_device(cfg)
    the_split = read_split(split)
    say(f"split {the_split.path}: {len(the_split.behaviors.impression_id):,} impressions, "
        + ("labelled (the labels are not read)" if the_split.labelled else
           "without labels (a test split): accepted for prediction only"))
    dataset = load_training_data(data, cache_dir, unknown_news)
    fp = record["dataset"]["fingerprint"]
    if dataset.fingerprint != fp:
        raise InputError(f"run {record['run_id']} was trained on data {record['dataset']['name']!r} (fingerprint "
                         f"{fp}); -d {data or 'the demo'} has fingerprint {dataset.fingerprint}: give the run's data "
                         f"folder (its command: {record.get('command', '?')})")
    run_id = cfg.run_id(dataset.fingerprint, run_inputs(cfg, cache_dir=cache_dir))
    if run_id != record["run_id"]:
        raise InputError(f"run {record['run_id']}: what it reads changed since it was recorded (it would now be run "
                         f"{run_id}: newer code, or other text-encoder files); retrain it with `newsbench train`")
    news, n_old = dataset.news, len(dataset.news)
    ext_news, n_new = extend_news(news, the_split.news)
    beh = split_behaviors(the_split, ext_news, unknown_news)
    new_features = new_news_features(cfg, ext_news, n_old, progress)     # before training: its errors come first

    features, info = {}, {}
    if {"llm", "gnn"} & set(cfg.modalities):
        from newsbench.features import feature_info, load_features

        features = load_features(dataset, cfg, cache_dir=cache_dir, progress=progress)
        info = feature_info(dataset, cfg, cache_dir=cache_dir)
    ext = Dataset(dataset.name, dataset.fingerprint, ext_news, dataset.users, dataset.train, dataset.dev)
    ext_features = {m: np.concatenate([x, new_features[m]]) if m in new_features else x
                    for m, x in features.items()}
    scored: dict[str, np.ndarray] = {}

    def score_split(model, device) -> None:
        import torch

        rows, _ = training.id_rows(dataset)
        rows = np.concatenate([rows, np.zeros(n_new, dtype=np.int64)])     # new news: the 'unknown' ID row
        feats, _, _ = training.feature_matrix(ext, ext_features, cfg)
        dtype = model.news_encoder.features.dtype if model.news_encoder.features is not None else None
        model.news_encoder.set_inputs(torch.from_numpy(rows).to(device),
                                      None if feats is None else torch.from_numpy(feats).to(device, dtype))
        vecs, logits, _ = training.encode_all_news(model, len(ext_news), cfg, device)
        scored["scores"] = training.score_candidates(model, vecs, logits, beh, cfg, device)

    kw = {"progress": on_event} if on_event is not None else {}
    fresh, _ = training.train_run(dataset, features, cfg, features_info=info, on_model=score_split, **kw)
    if verify:
        for key in ("metrics", "train_loss"):
            if fresh[key] != record[key]:
                raise InputError(f"run {record['run_id']} retrained to {key} {_short(fresh[key])}, its record says "
                                 f"{_short(record[key])}: the model is not the run's (another machine, device or "
                                 f"thread count, or changed inputs); nothing written (--no-verify writes anyway)")
    rank = ranks(scored["scores"], beh.cand_ptr)
    meta = {"run_id": record["run_id"], "label": record["label"], "seed": cfg.seed, "split": str(the_split.path),
            "labelled": the_split.labelled, "n_impressions": len(beh), "n_candidates": int(len(beh.cand)),
            "n_new_news": n_new, "dev_metrics": fresh["metrics"], "verified": verify,
            "ties": "equal scores share the best rank of their group",
            "command": record.get("command")}
    files = write_prediction(out, prediction_text(beh.impression_id, rank, beh.cand_ptr), meta)
    return Prediction(record, files, len(beh), int(len(beh.cand)), n_new, the_split.labelled, fresh["metrics"])


def _with_device(cfg: RunConfig) -> RunConfig:
    """The record's config on its own device, checked as `train` checks it (a CUDA run needs CUDA here)."""
    import dataclasses

    from newsbench.train import resolve_device

    try:
        return dataclasses.replace(cfg, device=resolve_device(cfg.device))
    except InputError as err:
        raise InputError(f"the run was trained on {cfg.device}: {err.reason.split(': ', 1)[-1]}") from None


def _short(value) -> str:
    return json.dumps(value, sort_keys=True)[:200]
