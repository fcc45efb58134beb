"""Data-derived reference scorers: rankings computed from the data alone, with no training.

They are the floor a trained model has to clear, and they exist for any dataset, real MIND included. Each scorer
returns one score per candidate of a Behaviors split, in CSR order, ready for `metrics.impression_metrics`:

- popularity: the candidate's clicks in the train split's impressions;
- recent popularity: the same over the last day of the train split only;
- text centroid / graph centroid: cosine between the candidate's vector and the mean of the user's history vectors,
  with the text features (`llm`) or the LightGCN graph features (`gnn`) a run with the same settings would read.

`compute_baselines` evaluates them into records shaped like run records (metrics, cold/warm metrics, and
per-impression arrays keyed by impression_id), so the report can pair a baseline with any run impression by
impression. They are stored in `<results>/baselines/<baseline_id>.json` + `.npz` (arrays first, JSON last, each
atomic, as run records), where baseline_id hashes the baseline, its parameters, the dataset fingerprint and the
feature cache key. Nothing is trained: everything is a count or a dot product, seconds even on MIND-small once the
features are cached.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import time
from pathlib import Path

import numpy as np

from newsbench import atomic, store
from newsbench.data.dataset import Behaviors, Dataset
from newsbench.errors import InputError
from newsbench.metrics import ARRAY_METRICS, impression_metrics, mean_or_none, subset_metrics, unit_rows

CENTROID_CHUNK_ROWS = 1 << 16   # candidate rows gathered at once: 2 x 2^16 x 384 float32 = 200 MB at most


def history_centroid_scores(beh: Behaviors, vectors: np.ndarray) -> np.ndarray:
    """score(impression, candidate) = mean of the unit history vectors . unit candidate vector (cosine to the
    history centroid). An impression with an empty history scores every candidate 0 (a tie: AUC 1/2).

    `vectors` (N, D) are news vectors by news index (text embeddings, graph embeddings, ...). The history sums are
    one sparse (impressions x news) @ (news x D) product over the CSR histories: on demo (276k history entries, 384
    dims) 0.04 s against 2 s for a segment sum (np.add.reduceat along axis 0) of the gathered rows. Candidates are
    scored in chunks of CENTROID_CHUNK_ROWS.
    """
    from scipy import sparse

    unit = unit_rows(vectors)
    m = len(beh)
    hist_len = np.diff(beh.hist_ptr)
    counts = sparse.csr_matrix((np.ones(len(beh.hist), dtype=np.float32), beh.hist, beh.hist_ptr),
                               shape=(m, len(unit)))
    users = np.asarray(counts @ unit, dtype=np.float32)
    users /= np.maximum(hist_len, 1)[:, None].astype(np.float32)
    imp_of = np.repeat(np.arange(m), np.diff(beh.cand_ptr))
    scores = np.empty(len(beh.cand), dtype=np.float64)
    for a in range(0, len(scores), CENTROID_CHUNK_ROWS):
        sl = slice(a, a + CENTROID_CHUNK_ROWS)
        scores[sl] = np.einsum("ij,ij->i", users[imp_of[sl]], unit[beh.cand[sl]])
    return scores


# ----------------------------------------------------------------------------------------------------------------
# Popularity

DAY_SECONDS = 86_400


def click_counts(beh: Behaviors, n_news: int, since: int | None = None) -> np.ndarray:
    """(n_news,) float64 clicks each news received in `beh`'s impressions (labels 1), only impressions at time >=
    `since` when given. History entries are not counted: they are clicks from before the split's period."""
    clicked = beh.label == 1
    if since is not None:
        imp_of = np.repeat(np.arange(len(beh)), np.diff(beh.cand_ptr))
        clicked &= beh.time[imp_of] >= since
    return np.bincount(beh.cand[clicked], minlength=n_news).astype(np.float64)


def popularity_scores(dataset: Dataset) -> np.ndarray:
    """Each dev candidate scored by its number of train clicks (cold news: 0, a tie)."""
    return click_counts(dataset.train, len(dataset.news))[dataset.dev.cand]


def recent_popularity_scores(dataset: Dataset, window: int = DAY_SECONDS) -> np.ndarray:
    """Each dev candidate scored by its train clicks in the last `window` seconds of the train split (the last day):
    what was popular just before dev starts, for a split where popularity moves fast."""
    train = dataset.train
    since = int(train.time.max()) - window + 1 if len(train) else None
    return click_counts(train, len(dataset.news), since=since)[dataset.dev.cand]


# ----------------------------------------------------------------------------------------------------------------
# Evaluation: the same per-impression arrays a run record holds, so the report can pair a baseline with any run

METRIC_ARRAYS = ARRAY_METRICS   # array name -> metric name, as in run records
SIDES = ("cold", "warm")


def evaluate_scores(scores: np.ndarray, dataset: Dataset) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """(metrics, metrics_by, arrays) of dev scores in CSR order.

    arrays: impression_id, auc, mrr, ndcg5, ndcg10 (whole impressions, as in run records), then each metric over an
    impression's cold candidates only and its warm candidates only (`auc_cold`, `mrr_cold`, ..., `ndcg10_warm`;
    `auc_cold`/`auc_warm` mean what they mean in a run record). metrics_by: {"all"|"cold"|"warm": {auc, mrr,
    ndcg@5, ndcg@10, n}}, n = impressions whose AUC is defined over those candidates."""
    beh = dataset.dev
    labels = beh.label.astype(np.int64)
    arrays = {"impression_id": beh.impression_id.astype(np.int64)}
    per = impression_metrics(scores, labels, beh.cand_ptr)
    arrays.update({k: np.asarray(per[k], dtype=np.float64) for k in METRIC_ARRAYS})
    metrics = {name: mean_or_none(arrays[k]) for k, name in METRIC_ARRAYS.items()}
    cold = ~dataset.seen_in_train()[beh.cand]
    metrics_by = {"all": {**metrics, "n": int((~np.isnan(arrays["auc"])).sum())}}
    for side, keep in zip(SIDES, (cold, ~cold)):
        sub = subset_metrics(scores, labels, beh.cand_ptr, keep)
        for k in METRIC_ARRAYS:
            arrays[f"{k}_{side}"] = np.asarray(sub[k], dtype=np.float64)
        metrics_by[side] = {**{name: mean_or_none(arrays[f"{k}_{side}"]) for k, name in METRIC_ARRAYS.items()},
                            "n": int((~np.isnan(arrays[f"auc_{side}"])).sum())}
    return metrics, metrics_by, arrays


# ----------------------------------------------------------------------------------------------------------------
# Baselines of a dataset, as records

BASELINES = ("popularity", "recent", "text", "graph")
LABELS = {"popularity": "popularity", "recent": "recent popularity", "text": "text centroid",
          "graph": "graph centroid"}
FEATURE_OF = {"text": "llm", "graph": "gnn"}          # the feature matrix each centroid baseline reads
BASELINE_SCHEMA = 1
BASELINES_DIR = "baselines"


def parse_baselines(text: str | None) -> tuple[str, ...]:
    """'popularity,text' -> ('popularity', 'text') in canonical order; None -> all."""
    if text is None:
        return BASELINES
    names = [n.strip().lower() for n in text.split(",")]
    bad = [n for n in names if n not in BASELINES]
    if bad or not names:
        raise InputError(f"--only {text!r}: unknown baseline {bad[0] if bad else ''!r}; choose from "
                         f"{', '.join(BASELINES)}")
    return tuple(n for n in BASELINES if n in names)


def feature_config(cfg, names) -> object | None:
    """The RunConfig whose feature settings (text encoder and fields, graph settings) the centroid baselines in
    `names` read: `cfg` with modalities = the features they need; None when none needs a feature."""
    mods = tuple(FEATURE_OF[n] for n in names if n in FEATURE_OF)
    if not mods:
        return None
    return dataclasses.replace(cfg, modalities=mods, fusion="concat")


def baseline_features(dataset: Dataset, cfg, names, cache_dir=None, progress: bool = False
                      ) -> tuple[dict[str, np.ndarray], dict[str, dict]]:
    """({"llm"|"gnn": (N, D)}, their feature_info) for the centroid baselines in `names`, from the feature cache
    (computed on a miss, exactly as a run with `cfg`'s feature settings would get them)."""
    fcfg = feature_config(cfg, names)
    if fcfg is None:
        return {}, {}
    from newsbench.features import feature_info, load_features

    feats = dict(load_features(dataset, fcfg, cache_dir=cache_dir, progress=progress))
    return feats, dict(feature_info(dataset, fcfg, cache_dir=cache_dir, progress=False))


def _label(name: str, info: dict | None) -> str:
    if name == "text" and info:
        extra = _encoder_name(info) + ("" if info.get("fields", "title") == "title" else f", {info['fields']}")
        return f"{LABELS[name]} ({extra})"
    return LABELS[name]


def _encoder_name(info: dict) -> str:
    """The encoder as a label shows it: a `file:`/`st:` input by its name and the head of its digest (its identity,
    newsbench.inputs), so two contents of one file are two labels and a long absolute path does not fill the row."""
    encoder = str(info.get("encoder", "?"))
    kind, _, arg = encoder.partition(":")
    if info.get("inputs") and kind in ("file", "st", "ebnerd"):
        return f"{kind}:{Path(arg).name or arg} {str(info.get('weights_sha256') or '')[:8]}".strip()
    return encoder


def baseline_id(name: str, fingerprint: str, params: dict, feature_key: str | None) -> str:
    """Hash of what a baseline's scores depend on: its name and parameters, the dataset, the feature cache key
    (content-addressed: encoder identity and weights, fields, graph settings)."""
    obj = {"schema": BASELINE_SCHEMA, "baseline": name, "params": params, "dataset": fingerprint,
           "features": feature_key}
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def compute_baselines(dataset: Dataset, features: dict[str, np.ndarray] | None = None,
                      features_info: dict[str, dict] | None = None, names=BASELINES
                      ) -> list[tuple[dict, dict[str, np.ndarray]]]:
    """[(record, arrays)] of each baseline in `names` on the dev split, in that order; centroid baselines read
    features["llm"] / features["gnn"] (InputError when missing)."""
    if dataset.train is None or dataset.dev is None:
        raise InputError(f"dataset {dataset.name} needs both a train and a dev split for baselines")
    if (dataset.dev.label < 0).any():
        raise InputError(f"dataset {dataset.name}: the dev split has unlabelled impressions; it cannot be scored")
    features, features_info = features or {}, features_info or {}
    out = []
    for name in names:
        t0 = time.perf_counter()
        params: dict = {}
        feat = FEATURE_OF.get(name)
        if name == "popularity":
            scores = popularity_scores(dataset)
        elif name == "recent":
            params = {"window_seconds": DAY_SECONDS}
            scores = recent_popularity_scores(dataset, DAY_SECONDS)
        else:
            if feat not in features:
                raise InputError(f"baseline {name} needs {feat} features")
            scores = history_centroid_scores(dataset.dev, features[feat])
        metrics, metrics_by, arrays = evaluate_scores(scores, dataset)
        info = features_info.get(feat) if feat else None
        record = {
            "baseline_id": baseline_id(name, dataset.fingerprint, params, (info or {}).get("key")),
            "schema": BASELINE_SCHEMA,
            "baseline": name,
            "label": _label(name, info),
            "params": params,
            "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint,
                        "n_train_impressions": len(dataset.train), "n_dev_impressions": len(dataset.dev),
                        "n_news": len(dataset.news)},
            "features": {feat: info} if info else {},
            "metrics": metrics,
            "metrics_by": metrics_by,
            "seconds": time.perf_counter() - t0,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        }
        out.append((record, arrays))
    return out


# ----------------------------------------------------------------------------------------------------------------
# Storage: <results>/baselines/<baseline_id>.npz then .json, like run records (newsbench.store)

def baselines_config(*, results=None, device: str = "auto", **options):
    """The RunConfig whose feature options (`options`: --text-encoder, --graph-mode ...) the centroid baselines read,
    on the resolved device, checked as the command line checks them; `results` must be writable when given."""
    from newsbench.config import make_config
    from newsbench.options import check_device
    from newsbench.paths import check_writable_dir
    from newsbench.train import resolve_device          # here: it imports torch

    if results is not None:
        check_writable_dir(results, "--results")
    return make_config(**options, device=resolve_device(check_device(device)))


def score_baselines(dataset: Dataset, cfg, names, cache_dir=None, results=None, progress: bool = False
                    ) -> list[dict]:
    """The baselines `names` of `dataset`'s dev split, their features as `cfg` makes them (from the cache), recorded
    in `results`/baselines/ when given; their records (arrays aside). What `newsbench baselines`, `ablate` and the
    Python API all call."""
    features, info = baseline_features(dataset, cfg, names, cache_dir=cache_dir, progress=progress)
    done = compute_baselines(dataset, features, info, names)
    if results is not None:
        for record, arrays in done:
            save_baseline(results, record, arrays)
    return [r for r, _ in done]


def baseline_paths(results, bid: str) -> tuple[Path, Path]:
    d = Path(results) / BASELINES_DIR
    return d / f"{bid}.json", d / f"{bid}.npz"


def save_baseline(results, record: dict, arrays: dict[str, np.ndarray]) -> Path:
    """Written as run records are (`store.write_pair`). Overwrites (a baseline is recomputed in seconds and its id
    names everything it depends on)."""
    return store.write_pair(*baseline_paths(results, record["baseline_id"]), record, arrays)


def load_baselines(results, fingerprint: str | None = None) -> list[dict]:
    """Every complete baseline record in `results` (of one dataset when `fingerprint` is given), in BASELINES
    order then by label."""
    d = Path(results) / BASELINES_DIR
    if not d.is_dir():
        return []
    recs = []
    for p in sorted(d.glob("*.json")):
        if p.name.startswith(atomic.TMP_PREFIX):
            continue
        try:
            rec = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"corrupt baseline record ({err}); delete it and rerun `newsbench baselines "
                             f"--results`", file=p) from None
        if fingerprint is None or rec["dataset"]["fingerprint"] == fingerprint:
            recs.append(rec)
    order = {n: i for i, n in enumerate(BASELINES)}
    return sorted(recs, key=lambda r: (order.get(r["baseline"], len(order)), r["label"], r["baseline_id"]))


def load_baseline_arrays(results, bid: str) -> dict[str, np.ndarray]:
    with np.load(baseline_paths(results, bid)[1]) as z:
        return {k: z[k] for k in z.files}
