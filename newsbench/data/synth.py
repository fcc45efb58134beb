"""The embedded dataset: a generator of MIND-format data whose ground truth is known.

Real MIND cannot be downloaded here, and a user must be able to run `newsbench ablate` with no data. This module
writes `train/` and `dev/` folders in exactly MIND's format plus `dataset_card.json`, and it is the project's
scientific control: every click comes from a known utility built from three planted signals, one per modality.

    U(u, n) = w_id[c] * pop[n] + w_llm[c] * topic_aff[u, topic[n]] + w_gnn[c] * comm_aff[u, comm[n]]

- `pop[n]` (-> id): a latent popularity per news, standard normal clipped to [-3, 3] (no runaway item). Nothing in
  the text or the entities reveals it; only an ID embedding trained on clicks of that very news can learn it, so it
  is useless for news unseen in train.
- `topic_aff` (-> llm): user preferences over topics. A news item's topic is its subcategory, and its title and
  abstract are written from that topic's words (`newsbench.data.vocab`), so the text carries it.
- `comm_aff` (-> gnn): user affinities to latent communities. A news item's entities come mostly from its
  community's entity pool, and users click across a community, so shared entities and co-clicks (the graph) carry it.
- `w[c]`: per-category weights (`MODALITY_WEIGHTS`): the seed paper's table 5.1 rows assigned to MIND's categories,
  sharpened (`_sharpen`: squared, rescaled to the paper row's L2 norm) so that the categories differ enough for a
  per-category fusion to matter; which modality leads in which category is the paper's.
Preferences (version 2): each user has a few favourite topics (1 + Poisson(2), drawn by topic share) and
communities (1 + Poisson(1)), raw affinity 4 plus 0.5 N(0, 1) noise, standardised per user to mean 0 and variance 1
over news (`_affinities`). So every signal has mean 0 and variance 1 over news, and a weight is the signal's share
of the utility's scale. The separation is by construction, not perfect in what a model sees: co-clicks also reflect
topic, and a warm item's click degree in the graph reflects its popularity; for cold dev news only the text (topic)
and the entities (community) remain.

Clicks. Histories and impressions use one mechanism: items are shown with a probability that grows with popularity
(exposure), and among the shown items the clicked ones are drawn without replacement from softmax(BETA * U)
(Gumbel top-k). A history click is chosen among HISTORY_PROPOSALS = 30 shown items, so histories reveal the
user's preferences (with 3, as in version 1, they mostly echoed exposure). The card's reference scorers
(`newsbench.data.synth_reference`) say how much of the utility a model that sees only clicks and content can reach. Impression sizes, clicks per impression, history lengths, text lengths and entity counts are drawn
from the empirical distributions of a MINDsmall sample (`../shared/data/mind-real/small-sample/stats.json`), so the
marginals match it (see `marginals`).

Time. Histories are clicks before the logged window (as in MIND, one history per user, repeated in each of the
user's impressions). Train impressions fall on 11/9-11/14/2019, dev on 11/15/2019. Dev candidates are a mix of news
shown in train and fresh news published on the dev day (`cold_share` of the dev candidates, default 40%): ID
embeddings cannot score those, text and graph must.

Determinism: one `numpy.random.Generator` seeded by `seed`, consumed in a fixed order; the files are a pure function
of (scale, seed, cold_share, GENERATOR_VERSION). Bump GENERATOR_VERSION whenever the output bytes change.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from newsbench import atomic
from newsbench.data import vocab
# The scales and each news item's first draws are newsbench.data.latents (the graph features replay them without
# the generator); their names stay importable from here.
from newsbench.data.latents import (CATEGORY_SHARE, DEFAULT_COLD_SHARE, GENERATOR_VERSION,  # noqa: F401
                                    NEWS_SPLIT, POPULARITY_CLIP, SCALES, SPECS, ScaleSpec, news_latents,
                                    planted_communities)
from newsbench.errors import InputError

# Seed paper's table 5.1 (id, llm, gnn) rows, and which MIND categories play each role.
PROFILES: dict[str, tuple[float, float, float]] = {
    "hot entertainment": (0.52, 0.28, 0.20),
    "professional finance": (0.25, 0.35, 0.40),
    "tech review": (0.30, 0.50, 0.20),
    "cold sports": (0.38, 0.42, 0.20),
    "breaking news": (0.45, 0.35, 0.20),
    "in-depth report": (0.28, 0.48, 0.24),
    "mixed": (1 / 3, 1 / 3, 1 / 3),
}
CATEGORY_PROFILE: dict[str, str] = {
    "news": "breaking news", "weather": "breaking news",
    "sports": "cold sports",
    "finance": "professional finance",
    "autos": "tech review",
    "entertainment": "hot entertainment", "movies": "hot entertainment", "tv": "hot entertainment",
    "music": "hot entertainment",
    "health": "in-depth report", "travel": "in-depth report", "foodanddrink": "in-depth report",
    "lifestyle": "in-depth report",
    "video": "mixed", "kids": "mixed",
}
WEIGHT_SHARPENING = 2.0  # planted row = paper row ** 2, rescaled to the paper row's L2 norm (see `_sharpen`)


def _sharpen(row: tuple[float, float, float]) -> tuple[float, float, float]:
    """The planted weights of one paper row: each weight raised to WEIGHT_SHARPENING, then the row rescaled to the
    paper row's L2 norm. Which modality leads, and the order of the three, are kept; the gaps between categories
    grow (the paper's rows differ by at most 0.07 between news and sports, too little for a per-category fusion to
    matter), and the utility's scale (its standard deviation is the row's L2 norm) is the paper row's."""
    r = np.array(row, dtype=float)
    s = r ** WEIGHT_SHARPENING
    return tuple(round(float(x), 6) for x in s * np.linalg.norm(r) / np.linalg.norm(s))


MODALITY_WEIGHTS: dict[str, dict[str, float]] = {
    cat: dict(zip(("id", "llm", "gnn"), _sharpen(PROFILES[p]))) for cat, p in CATEGORY_PROFILE.items()
}

# ---- calibration targets: the MINDsmall sample's stats.json (random 5,000 impressions, 2,000 news) ----
# (CATEGORY_SHARE: newsbench.data.latents)
# (quantile, value) knots of each inverse CDF; values are drawn log-linearly between knots, then rounded. The first
# knot's quantile is the share of zeros (empty history, empty abstract).
HISTORY_KNOTS = ((0.0214, 1), (0.10, 4), (0.25, 7), (0.50, 18), (0.75, 40), (0.90, 76), (0.99, 201), (1.0, 425))
IMPRESSION_KNOTS = ((0.0, 2), (0.10, 4), (0.25, 10), (0.50, 24), (0.75, 52), (0.90, 93), (0.99, 159), (1.0, 283))
TITLE_KNOTS = ((0.0, 4), (0.10, 7), (0.25, 9), (0.50, 10), (0.75, 13), (0.90, 15), (0.99, 20), (1.0, 27))
ABSTRACT_KNOTS = ((0.0495, 3), (0.10, 8), (0.25, 15), (0.50, 24), (0.75, 63), (0.90, 74), (0.99, 82), (0.995, 88),
                  (0.999, 150), (1.0, 418))
# P(k clicks), k = 1..18: mean 1.51, median 1, p75 2, p90 3, p99 6 as in the sample.
CLICK_PROBS = np.array([0.72, 0.17, 0.06, 0.025, 0.011, 0.007, 0.002, 0.0013, 0.0009, 0.0006, 0.0004, 0.0003,
                        0.0002, 0.0001, 0.00005, 0.00003, 0.00001, 0.00001])
TITLE_ENTITY_PROBS = np.array([0.30, 0.33, 0.28, 0.065, 0.019, 0.004, 0.002])            # k = 0..6
ABSTRACT_ENTITY_PROBS = np.array([0.31, 0.22, 0.17, 0.12, 0.08, 0.045, 0.025, 0.014, 0.008, 0.004, 0.002,
                                  0.001, 0.001])                                            # k = 0..12
SIZE_CLICK_CORRELATION = 0.5  # Gaussian-copula correlation: bigger impressions get more clicks, as in MIND

# ---- planted parameters ----
BETA = 4.0               # click logit = BETA * U; sets how predictable clicks are (the oracle AUC)
HISTORY_GAMMA = 1.3
HISTORY_PROPOSALS = 30   # shown items per history click, before the softmax choice: histories reveal preferences
FAVOURITE_AFFINITY = 4.0  # raw affinity of a favourite topic or community, before standardising
AFFINITY_NOISE = 0.5      # sd of the raw affinity noise on every topic and community
FAVOURITE_TOPICS_MEAN = 2.0       # favourite topics per user: 1 + Poisson(2), drawn by topic share
FAVOURITE_COMMUNITIES_MEAN = 1.0  # favourite communities per user: 1 + Poisson(1), drawn uniformly
COMMUNITY_ENTITY_PROB = 0.85   # an entity mention comes from the news item's community pool, else from any pool
ABSTRACT_REUSES_TITLE = 0.6    # an abstract mentions each title entity again with this probability
TITLE_WORD_KIND = (0.45, 0.15, 0.40)     # topic word, category word, filler
ABSTRACT_WORD_KIND = (0.35, 0.15, 0.50)
ENTITY_DIM = 100
TRAIN_START = np.datetime64("2019-11-09T00:00:00")
TRAIN_DAYS = 6
DEV_START = np.datetime64("2019-11-15T00:00:00")


@dataclass
class Split:
    """One split's behaviors as arrays; candidates are CSR over impressions."""
    user: np.ndarray        # (M,) int user index
    time: np.ndarray        # (M,) datetime64[s]
    cand_ptr: np.ndarray    # (M+1,)
    cand: np.ndarray        # (nnz,) news index
    label: np.ndarray       # (nnz,) int8


@dataclass
class World:
    """Everything generated, latent variables included (tests and the card read them; only part is written)."""
    scale: str
    seed: int
    cold_share: float
    news_ids: np.ndarray      # (N,) str
    category: np.ndarray      # (N,) int into CATEGORIES order
    topic: np.ndarray         # (N,) int into vocab.subcategory_topics()
    community: np.ndarray     # (N,) int
    pop: np.ndarray           # (N,) float, latent popularity
    era: np.ndarray           # (N,) 0 history-only, 1 train window, 2 fresh dev-day news
    titles: list[str]
    abstracts: list[str]
    title_entities: list[str]     # JSON text per news
    abstract_entities: list[str]
    news_entities: list[np.ndarray]  # entity indices per news (title + abstract)
    entity_qids: np.ndarray   # (E,) str
    entity_vectors: np.ndarray  # (E, 100) float32
    user_ids: np.ndarray      # (U,) str
    topic_aff: np.ndarray     # (U, T)
    comm_aff: np.ndarray      # (U, C)
    hist_ptr: np.ndarray      # (U+1,)
    hist: np.ndarray          # news indices
    train: Split
    dev: Split

    def seen_in_train(self) -> np.ndarray:
        """(N,) bool: news in a train impression or in the history of a user with a train impression, as
        `Dataset.seen_in_train` computes it from the files."""
        seen = np.zeros(len(self.news_ids), dtype=bool)
        seen[self.train.cand] = True
        for u in np.unique(self.train.user).tolist():
            seen[self.hist[self.hist_ptr[u]:self.hist_ptr[u + 1]]] = True
        return seen

    def weights(self) -> np.ndarray:
        """(N, 3) id/llm/gnn weight of each news item's category."""
        cats = list(vocab.CATEGORIES)
        table = np.array([[MODALITY_WEIGHTS[c][m] for m in ("id", "llm", "gnn")] for c in cats])
        return table[self.category]

    def components(self, users: np.ndarray, news: np.ndarray) -> np.ndarray:
        """(len, 3) planted signals (popularity, topic affinity, community affinity) of (user, news) pairs."""
        return np.stack([self.pop[news], self.topic_aff[users, self.topic[news]],
                         self.comm_aff[users, self.community[news]]], axis=1)

    def utility(self, users: np.ndarray, news: np.ndarray) -> np.ndarray:
        return (self.components(users, news) * self.weights()[news]).sum(axis=1)


# ------------------------------------------------------------------------------------------------ sampling helpers

def _from_knots(rng: np.random.Generator, n: int, knots, lo_zero: bool = False) -> np.ndarray:
    """n integers from a piecewise log-linear inverse CDF through (quantile, value) knots; below the first knot's
    quantile the value is 0 when `lo_zero` (the share of empty rows), else the first knot's value."""
    q = np.array([k[0] for k in knots])
    v = np.log(np.array([k[1] for k in knots], dtype=float))
    u = rng.random(n)
    out = np.rint(np.exp(np.interp(u, q, v))).astype(np.int64)
    if lo_zero:
        out[u < q[0]] = 0
    return out


def _inverse_cdf(u: np.ndarray, probs: np.ndarray, start: int) -> np.ndarray:
    cdf = np.cumsum(probs / probs.sum())
    return start + np.minimum(np.searchsorted(cdf, u, side="right"), len(probs) - 1)


def _norm_cdf(z: np.ndarray) -> np.ndarray:
    # math.erf elementwise: cheaper than importing scipy for one function (tiny must generate in well under 1 s).
    return 0.5 * (1.0 + _ERF(z / np.sqrt(2.0)).astype(float))


_ERF = np.frompyfunc(math.erf, 1, 1)


def _group_rank(group: np.ndarray) -> np.ndarray:
    """Position of each element within its run of equal `group` values (group must be sorted)."""
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    lengths = np.diff(np.r_[start, n])
    return np.arange(n) - np.repeat(start, lengths)


def _sample_sets(rng, sizes: np.ndarray, pool: np.ndarray, weights: np.ndarray, n_news: int,
                 oversample: float = 1.3) -> tuple[np.ndarray, np.ndarray]:
    """For each row i, up to sizes[i] distinct items of `pool` drawn with probability ~ weights, in draw order.

    Draws with replacement (oversampled), drops repeats within a row, keeps the first sizes[i]. Returns (row, item)
    with rows sorted ascending. A row gets fewer items only when the pool is nearly exhausted by it.
    """
    draws = np.ceil(sizes * oversample).astype(np.int64) + 3 * (sizes > 0)
    row = np.repeat(np.arange(len(sizes)), draws)
    p = weights / weights.sum()
    item = pool[rng.choice(len(pool), size=len(row), p=p)]
    _, first = np.unique(row * np.int64(n_news) + item, return_index=True)
    first.sort()                      # back to draw order, rows ascending
    row, item = row[first], item[first]
    keep = _group_rank(row) < sizes[row]
    return row[keep], item[keep]


def _gumbel_top(rng, row: np.ndarray, logits: np.ndarray, k: np.ndarray) -> np.ndarray:
    """bool mask: within each row, the k[row] items of largest logits + Gumbel noise, i.e. k draws without
    replacement from softmax(logits) (Plackett-Luce)."""
    score = logits + rng.gumbel(size=len(logits))
    # One argsort of row + (a decreasing map of score into (0, 1)) sorts by row, then by descending score: about
    # twice as fast as lexsort on two keys. float64 keeps ~1e-10 resolution within a row at MIND-small's row counts.
    order = np.argsort(row + np.clip(0.5 - 0.5 * np.tanh(score / 16.0), 0.0, 1.0 - 1e-9))
    chosen = np.zeros(len(row), dtype=bool)
    chosen[order] = _group_rank(row[order]) < k[row[order]]
    return chosen


def _csr(row: np.ndarray, n_rows: int) -> np.ndarray:
    return np.r_[0, np.cumsum(np.bincount(row, minlength=n_rows))].astype(np.int64)


# ---------------------------------------------------------------------------------------------------- the world

def _entity_names(rng, n: int) -> tuple[list[str], list[str], list[str]]:
    """n distinct invented entity labels, their MIND type letter and main surface form."""
    first, last = vocab.FIRST_NAMES, vocab.SURNAMES
    people = [f"{a} {b}" for a in first for b in last]
    orgs = [f"{b} {s}" for b in last for s in vocab.ORG_SUFFIXES]
    places = [f"{p} {b}" for p in vocab.PLACE_PREFIXES for b in last]
    n_people = min(len(people), int(round(n * 0.65)))
    n_orgs = min(len(orgs), int(round(n * 0.2)))
    n_places = n - n_people - n_orgs
    if n_places > len(places):
        raise ValueError(f"vocabulary has too few entity names for {n} entities")
    labels, types = [], []
    for names, count, t in ((people, n_people, "P"), (orgs, n_orgs, "O"), (places, n_places, "G")):
        idx = rng.choice(len(names), size=count, replace=False)
        labels += [names[i] for i in idx]
        types += [t] * count
    perm = rng.permutation(n)
    labels = [labels[i] for i in perm]
    types = [types[i] for i in perm]
    # MIND often names a person by surname alone; the label keeps the full name.
    short = rng.random(n) < 0.3
    surface = [lab.split()[-1] if (t == "P" and s) else lab for lab, t, s in zip(labels, types, short)]
    return labels, types, surface


def _write_text(rng, n_words: np.ndarray, topic: np.ndarray, category: np.ndarray, kinds, entities: list,
                ent_surface: list[str], ent_prefix: list[str], title_case: bool) -> tuple[list[str], list[str]]:
    """Titles or abstracts: topic/category/filler words around entity surface forms. Returns (texts, entity JSON)."""
    topics = vocab.subcategory_topics()
    cats = list(vocab.CATEGORIES)
    # Flat word table: each topic's words, each category's words, then fillers; offsets and lengths per block.
    blocks = [t[2] for t in topics] + [vocab.category_words(c) for c in cats] + [vocab.FILLERS]
    table = np.array([w for b in blocks for w in b], dtype=object)
    lens = np.array([len(b) for b in blocks])
    offs = np.r_[0, np.cumsum(lens)[:-1]]
    T, C = len(topics), len(cats)

    ent_words = np.array([sum(len(ent_surface[e].split()) for e in es) for es in entities], dtype=np.int64)
    free = np.maximum(n_words - ent_words, 0)
    free[(n_words > 0) & (free == 0)] = 1
    row = np.repeat(np.arange(len(n_words)), free)
    kind = rng.choice(3, size=len(row), p=kinds)
    block = np.where(kind == 0, topic[row], np.where(kind == 1, T + category[row], T + C))
    pick = offs[block] + (rng.random(len(row)) * lens[block]).astype(np.int64)
    words = table[pick]
    ptr = np.r_[0, np.cumsum(free)]
    pos_u = rng.random(int(sum(len(es) for es in entities)))
    texts, jsons = [], []
    j = 0
    for i in range(len(n_words)):
        toks = words[ptr[i]:ptr[i + 1]].tolist()
        es = entities[i]
        spots = []
        for e in es:  # insert each surface form at a random token boundary
            p = int(pos_u[j] * (len(toks) + 1))
            j += 1
            toks.insert(p, ent_surface[e])
            spots = [s + 1 if s >= p else s for s in spots] + [p]
        if not toks:
            texts.append("")
            jsons.append("[]")
            continue
        if title_case:
            toks = [t[0].upper() + t[1:] for t in toks]
        else:
            toks[0] = toks[0][0].upper() + toks[0][1:]
        starts = list(itertools.accumulate((len(t) + 1 for t in toks[:-1]), initial=0))
        text = " ".join(toks) + ("" if title_case else ".")
        texts.append(text)
        items = [f'{ent_prefix[e]}, "OccurrenceOffsets": [{starts[s]}], '
                 f'"SurfaceForms": [{json.dumps(ent_surface[e])}]}}' for e, s in zip(es, spots)]
        jsons.append("[" + ", ".join(items) + "]")
    return texts, jsons


def build_world(scale: str, seed: int, cold_share: float = DEFAULT_COLD_SHARE) -> World:
    """Draw every latent variable, the news texts, the histories and both splits' impressions."""
    if scale not in SPECS:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    if not 0.0 <= cold_share < 1.0:
        raise InputError(f"cold share must be in [0, 1), got {cold_share}")
    spec = SPECS[scale]
    rng = np.random.default_rng([GENERATOR_VERSION, int(seed), int(round(cold_share * 1e6))])
    cats = list(vocab.CATEGORIES)
    topics = vocab.subcategory_topics()
    N, U, C = spec.news, spec.users, spec.communities
    category, topic, community, pop, era, news_ids = news_latents(spec, rng)

    # Entities: per-community pools with Zipf-like mention rates; vectors = community centroid + noise.
    E = C * spec.entities_per_community
    labels, types, surface = _entity_names(rng, E)
    ent_comm = np.repeat(np.arange(C), spec.entities_per_community)
    qnum = np.unique(rng.integers(100_000, 99_999_999, size=2 * E))
    qnum = rng.permutation(qnum)[:E]
    qids = np.array([f"Q{q}" for q in qnum])
    conf = np.where(rng.random(E) < 0.6, 1.0, np.round(rng.uniform(0.85, 1.0, E), 3))
    prefix = [f'{{"Label": {json.dumps(lab)}, "Type": "{t}", "WikidataId": "{q}", "Confidence": {float(c)!r}'
              for lab, t, q, c in zip(labels, types, qids, conf)]
    centroids = rng.normal(0, 0.07, size=(C, ENTITY_DIM))
    ent_vec = (centroids[ent_comm] + rng.normal(0, 0.05, size=(E, ENTITY_DIM))).astype(np.float32)
    rate = 1.0 / np.arange(1, spec.entities_per_community + 1) ** 0.8
    rate = rate / rate.sum()

    def mentions(k: np.ndarray) -> list[list[int]]:
        # Twice the draws needed, keep the first k distinct: a news item lists each entity once, as MIND does.
        m = 2 * k
        own = rng.random(m.sum()) < COMMUNITY_ENTITY_PROB
        comm = np.where(own, np.repeat(community, m), rng.integers(0, C, size=m.sum()))
        ent = comm * spec.entities_per_community + rng.choice(spec.entities_per_community, size=m.sum(), p=rate)
        ptr = np.r_[0, np.cumsum(m)]
        return [list(dict.fromkeys(ent[ptr[i]:ptr[i + 1]].tolist()))[: k[i]] for i in range(N)]

    title_words = _from_knots(rng, N, TITLE_KNOTS)
    abs_words = _from_knots(rng, N, ABSTRACT_KNOTS, lo_zero=True)
    k_title = _inverse_cdf(rng.random(N), TITLE_ENTITY_PROBS, 0)
    k_title = np.minimum(k_title, title_words // 2)
    p_abs = ABSTRACT_ENTITY_PROBS.copy()
    p_abs[0] = max(p_abs[0] - 0.0495, 0.0)  # empty abstracts supply the zeros
    k_abs = np.where(abs_words > 0, _inverse_cdf(rng.random(N), p_abs, 0), 0)
    k_abs = np.minimum(k_abs, abs_words // 2)
    t_ent = mentions(k_title)
    fresh_abs = mentions(k_abs)
    reuse = rng.random(N)
    a_ent = []
    for i in range(N):  # an abstract re-mentions title entities (as MIND's do), topped up with its own draws
        again = t_ent[i][: int(round(len(t_ent[i]) * ABSTRACT_REUSES_TITLE + reuse[i] - 0.5))]
        merged = list(dict.fromkeys(again + fresh_abs[i]))[: max(k_abs[i], 0)]
        a_ent.append(merged)
    titles, t_json = _write_text(rng, title_words, topic, category, TITLE_WORD_KIND, t_ent, surface, prefix, True)
    abstracts, a_json = _write_text(rng, abs_words, topic, category, ABSTRACT_WORD_KIND, a_ent, surface, prefix,
                                    False)
    news_entities = [np.array(sorted(set(a) | set(b)), dtype=np.int64) for a, b in zip(t_ent, a_ent)]

    # Users: topic and community affinities (standard normal), activity (who logs impressions how often).
    user_ids = np.array([f"U{k}" for k in rng.permutation(U) + 1])
    topic_share = np.bincount(topic, minlength=len(topics)) / N
    topic_aff = _affinities(rng, U, topic_share, FAVOURITE_TOPICS_MEAN)
    comm_share = np.bincount(community, minlength=C) / N
    comm_aff = _affinities(rng, U, comm_share, FAVOURITE_COMMUNITIES_MEAN)
    activity = rng.lognormal(0.0, 0.8, size=U)
    world = World(scale, int(seed), float(cold_share), news_ids, category, topic, community, pop, era, titles,
                  abstracts, t_json, a_json, news_entities, qids, ent_vec, user_ids, topic_aff, comm_aff,
                  np.zeros(U + 1, np.int64), np.zeros(0, np.int64), None, None)  # type: ignore[arg-type]

    # Histories: shown older news (exposure ~ popularity), clicked by softmax of the utility.
    old = np.flatnonzero(era == 0)
    h_len = np.minimum(_from_knots(rng, U, HISTORY_KNOTS, lo_zero=True), len(old) // 3)
    row, item = _sample_sets(rng, h_len * HISTORY_PROPOSALS, old, np.exp(HISTORY_GAMMA * pop[old]), N)
    keep = _gumbel_top(rng, row, BETA * world.utility(row, item), h_len)
    world.hist, world.hist_ptr = item[keep], _csr(row[keep], U)

    # Train impressions: shown train-window news, clicks by softmax of the utility.
    window = np.flatnonzero(era == 1)
    world.train = _impressions(rng, world, spec, spec.train_impressions, activity, TRAIN_START, TRAIN_DAYS,
                               [(window, 1.0)])
    # Dev: fresh news for `cold_share` of the slots, the rest from news shown in train.
    shown = np.unique(world.train.cand)
    fresh = np.flatnonzero(era == 2)
    world.dev = _impressions(rng, world, spec, spec.dev_impressions, activity, DEV_START, 1,
                             [(shown, 1.0 - cold_share), (fresh, cold_share)])
    return world


def _affinities(rng, n_users: int, share: np.ndarray, mean_extra: float) -> np.ndarray:
    """(users, K) preferences: each user has 1 + Poisson(mean_extra) favourites drawn by `share` (repeats merge),
    raw affinity FAVOURITE_AFFINITY on a favourite plus AFFINITY_NOISE * N(0, 1) everywhere, then standardised per
    user to mean 0 and variance 1 over news (weighted by `share`, the items' distribution over the K values).

    A few strong favourites, as real readers have, make a user's preferences visible in a history of ~20 clicks;
    i.i.d. normal affinities over 56 topics were not (the learnable ceiling of version 1 was 0.64 on cold news)."""
    k = share.size
    raw = AFFINITY_NOISE * rng.standard_normal((n_users, k))
    n_fav = 1 + rng.poisson(mean_extra, size=n_users)
    fav = rng.choice(k, size=int(n_fav.sum()), p=share / share.sum())
    raw[np.repeat(np.arange(n_users), n_fav), fav] += FAVOURITE_AFFINITY
    w = share / share.sum()
    mu = raw @ w
    sd = np.sqrt(((raw - mu[:, None]) ** 2) @ w)
    return (raw - mu[:, None]) / np.maximum(sd, 1e-9)[:, None]


def _impressions(rng, world: World, spec: ScaleSpec, m: int, activity: np.ndarray, start, days: int,
                 pools: list[tuple[np.ndarray, float]]) -> Split:
    """m impressions: sizes and click counts from the calibrated marginals (correlated by a Gaussian copula),
    candidates from the pools in the given shares (exposure ~ popularity), clicks by Gumbel top-k of BETA * U."""
    N = len(world.news_ids)
    z = rng.standard_normal((m, 2))
    u_size = _norm_cdf(z[:, 0])
    u_click = _norm_cdf(SIZE_CLICK_CORRELATION * z[:, 0] + np.sqrt(1 - SIZE_CLICK_CORRELATION ** 2) * z[:, 1])
    q = np.array([k[0] for k in IMPRESSION_KNOTS])
    v = np.log([k[1] for k in IMPRESSION_KNOTS])
    size = np.minimum(np.rint(np.exp(np.interp(u_size, q, v))).astype(np.int64), spec.max_impression)
    clicks = _inverse_cdf(u_click, CLICK_PROBS, 1)
    user = rng.choice(len(activity), size=m, p=activity / activity.sum())
    secs = np.sort(rng.integers(0, days * 86400, size=m))
    time = start + secs.astype("timedelta64[s]")

    remaining = size.copy()
    rows, items = [], []
    for k, (pool, share) in enumerate(pools):
        n_k = remaining if k == len(pools) - 1 else rng.binomial(size, share)
        n_k = np.minimum(n_k, remaining)
        remaining = remaining - n_k
        r, it = _sample_sets(rng, n_k, pool, np.exp(spec.exposure_gamma * world.pop[pool]), N)
        rows.append(r)
        items.append(it)
    row, item = np.concatenate(rows), np.concatenate(items)
    order = np.argsort(row + rng.random(len(row)))  # shuffle the pools' items within each impression
    row, item = row[order], item[order]
    got = np.bincount(row, minlength=m)
    k = np.minimum(clicks, np.maximum(got - 1, 1))
    label = _gumbel_top(rng, row, BETA * world.utility(user[row], item), k).astype(np.int8)
    return Split(user, time, _csr(row, m), item, label)


# ---------------------------------------------------------------------------------------------------- writing

def _mind_time(t: np.ndarray) -> list[str]:
    """MIND's time format: '11/11/2019 9:05:58 AM' (no leading zeros on month, day, hour)."""
    secs = t.astype("datetime64[s]")
    days = secs.astype("datetime64[D]")
    tod = (secs - days).astype(np.int64)
    ymd = [str(d).split("-") for d in days.astype(str)]
    h, mi, s = tod // 3600, tod // 60 % 60, tod % 60
    out = []
    for (y, mo, d), hh, mm, ss in zip(ymd, h.tolist(), mi.tolist(), s.tolist()):
        h12 = hh % 12 or 12
        out.append(f"{int(mo)}/{int(d)}/{y} {h12}:{mm:02d}:{ss:02d} {'AM' if hh < 12 else 'PM'}")
    return out


def _behaviors_tsv(world: World, split: Split, hist_text: list[str]) -> bytes:
    labelled = np.array([[f"{n}-0", f"{n}-1"] for n in world.news_ids], dtype=object)
    tokens = labelled[split.cand, split.label]
    times = _mind_time(split.time)
    p = split.cand_ptr
    lines = [f"{i + 1}\t{world.user_ids[u]}\t{times[i]}\t{hist_text[u]}\t{' '.join(tokens[p[i]:p[i + 1]])}"
             for i, u in enumerate(split.user.tolist())]
    return ("\n".join(lines) + "\n").encode("utf-8")


def _news_tsv(world: World, rows: np.ndarray) -> bytes:
    cats = list(vocab.CATEGORIES)
    subs = [t[1] for t in vocab.subcategory_topics()]
    lines = []
    for i in rows.tolist():
        nid = world.news_ids[i]
        lines.append(f"{nid}\t{cats[world.category[i]]}\t{subs[world.topic[i]]}\t{world.titles[i]}\t"
                     f"{world.abstracts[i]}\thttps://example.com/newsbench/{nid}.html\t"
                     f"{world.title_entities[i]}\t{world.abstract_entities[i]}")
    return ("\n".join(lines) + "\n").encode("utf-8")


def _vec(world: World, rows: np.ndarray) -> bytes:
    ents = np.unique(np.concatenate([world.news_entities[i] for i in rows.tolist()] + [np.zeros(0, np.int64)]))
    nums = np.char.mod("%.6f", world.entity_vectors[ents].astype(np.float64))
    # MIND's .vec lines: id, then 100 tab-separated floats, then a trailing tab.
    lines = [world.entity_qids[e] + "\t" + "\t".join(r) + "\t" for e, r in zip(ents.tolist(), nums.tolist())]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _split_news(world: World, split: Split) -> np.ndarray:
    users = np.unique(split.user)
    hist = np.concatenate([world.hist[world.hist_ptr[u]:world.hist_ptr[u + 1]] for u in users.tolist()]
                          + [np.zeros(0, np.int64)])
    return np.unique(np.concatenate([hist, split.cand]))


def write_world(world: World, folder: Path, card: dict) -> None:
    """Write train/ and dev/ in MIND's format and dataset_card.json into `folder` (which must exist)."""
    hist_text = [" ".join(world.news_ids[world.hist[world.hist_ptr[u]:world.hist_ptr[u + 1]]].tolist())
                 for u in range(len(world.user_ids))]
    all_news = np.arange(len(world.news_ids))
    # train/news.tsv lists every news item published before the dev day; dev/news.tsv the news its behaviors name
    # plus every fresh item, so each generated item is in exactly one or both files.
    train_rows = all_news[world.era < 2]
    dev_rows = np.union1d(_split_news(world, world.dev), all_news[world.era == 2])
    # Rows in index order; ids are a random permutation, so the file order says nothing about the latent variables.
    for name, split, rows in (("train", world.train, train_rows), ("dev", world.dev, dev_rows)):
        d = folder / name
        d.mkdir(parents=True, exist_ok=True)
        atomic.write_bytes(d / "news.tsv", _news_tsv(world, rows))
        atomic.write_bytes(d / "behaviors.tsv", _behaviors_tsv(world, split, hist_text))
        atomic.write_bytes(d / "entity_embedding.vec", _vec(world, rows))
    atomic.write_json(folder / "dataset_card.json", card)


# ---------------------------------------------------------------------------------------------------- the card

REFERENCE_NOTES = {
    "modality_weights": (
        "Planted per-category weights (id, llm, gnn): the seed paper's table 5.1 row of the category's profile, "
        "sharpened: each weight squared, the row rescaled to the paper row's L2 norm. The order of the modalities "
        "in every category is the paper's; the gaps between categories are larger, so that a fusion which adapts "
        "per category has something to gain (value_of_adaptivity). The rows do not sum to 1; the utility's "
        "standard deviation within a category is the row's L2 norm, as with the paper's rows."),
    "reference_dev": (
        "Dev metrics of reference scorers, overall and over only cold (unseen in train) or warm candidates of "
        "each impression, averaged over impressions where defined (the first 20,000 dev impressions at most: "
        "reference_fit.dev_impressions). oracle: the true utility. learnable_ceiling: "
        "item side known (topic, community, category weights, popularity of warm news only; cold news get the "
        "mean popularity of a train candidate), user preferences estimated from history clicks alone as a "
        "smoothed log lift of the user's clicks per topic (community) over the population's history click share, "
        "log((c + A b) / ((h + A) b)) with A = 3 pseudo-clicks (community clicks counted with their category's "
        "community weight; the topic lift divided by its category's topic weight, so both are affinities); the "
        "three signals' scales fitted on train impressions by a conditional logit. *_global: one weight row for "
        "all categories, fitted on train impressions by the same conditional logit; the learnable one over the "
        "topic lift (which carries the category's topic weight, as a global model learning from clicks gets it). "
        "ceiling_topic/community/popularity: the learnable ceiling with one signal. text_centroid: cosine of the "
        "history's mean hash title vector to the candidate's; graph_centroid: the same over mean entity vectors. "
        "random: exact expectation of a random ranking."),
    "value_of_adaptivity": (
        "Mean paired per-impression dev AUC difference, per-category weights minus the fitted global row, with "
        "its standard error and the number of impressions where both AUCs are defined."),
    "reference_attribution": (
        "newsbench.attribution.auc_drop: mean per-impression AUC lost within each category's (or the cold or "
        "warm) candidates when one signal of the scorer is replaced by its mean over news."),
}


def _oracle(world: World) -> dict:
    """Dev metrics of ranking by the true utility and by each planted signal alone: the ceilings and floors."""
    from newsbench.data.synth_reference import MAX_DEV_IMPRESSIONS, head, random_expected
    from newsbench.metrics import impression_metrics

    d = head(world.dev, MAX_DEV_IMPRESSIONS)
    row = np.repeat(np.arange(len(d.user)), np.diff(d.cand_ptr))
    users, news = d.user[row], d.cand
    comp = world.components(users, news)
    w = world.weights()[news]
    warm = world.seen_in_train()[news]
    # What a perfect model can know: popularity only for news seen in train (cold news get the mean, 0).
    known = comp.copy()
    known[~warm, 0] = 0.0
    scores = {
        "utility": (comp * w).sum(axis=1),
        "utility_seen_popularity": (known * w).sum(axis=1),
        "popularity": comp[:, 0],
        "popularity_seen_only": known[:, 0],
        "topic": comp[:, 1],
        "community": comp[:, 2],
    }
    out = {}
    for name, s in scores.items():
        m = impression_metrics(s, d.label, d.cand_ptr)
        out[name] = {k: round(float(np.nanmean(v)), 6) for k, v in m.items()}
    # The exact expectation of a random ranking, not one draw of it (which at tiny scale is off by up to 0.04).
    out["random"] = {k: round(float(np.nanmean(v)), 6) for k, v in random_expected(d.label, d.cand_ptr).items()}
    return out


def make_card(world: World) -> dict:
    spec = SPECS[world.scale]
    seen = world.seen_in_train()
    cats = list(vocab.CATEGORIES)
    return {
        "generator": "newsbench.data.synth",
        "generator_version": GENERATOR_VERSION,
        "scale": world.scale,
        "seed": world.seed,
        "cold_share": world.cold_share,
        "sizes": {
            "users": len(world.user_ids),
            "news": len(world.news_ids),
            "train_impressions": len(world.train.user),
            "dev_impressions": len(world.dev.user),
            "train_candidates": len(world.train.cand),
            "dev_candidates": len(world.dev.cand),
            "entities": len(world.entity_qids),
            "communities": spec.communities,
            "topics": len(vocab.subcategory_topics()),
            "dev_cold_candidate_share": round(float(np.mean(~seen[world.dev.cand])), 6),
        },
        "signals": {"popularity": "id", "topic": "llm", "community": "gnn"},
        "modality_weights": MODALITY_WEIGHTS,
        "category_profile": CATEGORY_PROFILE,
        "category_news": {c: int((world.category == i).sum()) for i, c in enumerate(cats)},
        "planted": {
            "utility": "sum over signals of modality_weights[category][modality] * signal; signals ~ N(0, 1)",
            "click_model": "shown items ~ exp(gamma * popularity); clicks = Gumbel top-k of beta * utility",
            "beta": BETA, "exposure_gamma": spec.exposure_gamma, "history_gamma": HISTORY_GAMMA,
            "history_proposals": HISTORY_PROPOSALS, "community_entity_prob": COMMUNITY_ENTITY_PROB,
            "title_word_kind": dict(zip(("topic", "category", "filler"), TITLE_WORD_KIND)),
            "abstract_word_kind": dict(zip(("topic", "category", "filler"), ABSTRACT_WORD_KIND)),
            "news_split": dict(zip(("history_only", "train_window", "dev_fresh"), NEWS_SPLIT)),
        },
        "oracle_dev": _oracle(world),
        **_reference(world, seen),
        "reference_notes": REFERENCE_NOTES,
    }


def news_vectors(world: World) -> dict[str, np.ndarray]:
    """The training-free reference scorers' news vectors, by world news index: `text` the `hash` encoder's title
    vectors (as `--text-encoder hash` computes them from news.tsv), `graph` each item's mean entity vector (title and
    abstract entities; zeros for an item without entities)."""
    from newsbench.features.text import hash_encode

    ptr = np.r_[0, np.cumsum([len(e) for e in world.news_entities])]
    flat = np.concatenate(world.news_entities + [np.zeros(0, np.int64)])
    row = np.repeat(np.arange(len(world.news_entities)), np.diff(ptr))
    graph = np.zeros((len(world.news_entities), world.entity_vectors.shape[1]))
    np.add.at(graph, row, world.entity_vectors[flat].astype(np.float64))
    graph /= np.maximum(np.diff(ptr), 1)[:, None]
    return {"text": hash_encode(world.titles), "graph": graph.astype(np.float32)}


def _reference(world: World, seen: np.ndarray) -> dict:
    from newsbench.data.synth_reference import reference

    return reference(world, seen, news_vectors(world))


# ---------------------------------------------------------------------------------------------------- public API

FORMATS = ("mind", "ebnerd")


def generate(scale: str, seed: int, out: str | os.PathLike, progress: bool = False,
             cold_share: float = DEFAULT_COLD_SHARE, fmt: str = "mind") -> Path:
    """Generate a MIND-format folder at `out` (train/, dev/, dataset_card.json) and return its path; with
    `fmt="ebnerd"` the same world in EB-NeRD's schema (articles.parquet, train/, validation/: see
    newsbench.data.ebnerd_write).

    Same (scale, seed, cold_share) -> same bytes. `out` must not exist or be an empty folder; everything is built
    in a temporary folder beside it and renamed into place, so a killed run leaves nothing half-written.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError("output folder exists and is not empty; choose a new folder", file=out)
    if fmt not in FORMATS:
        raise InputError(f"unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")
    tmp = _build_tmp(scale, seed, out, progress, cold_share, fmt)
    try:
        if out.exists():
            out.rmdir()  # empty: replace it
        os.rename(tmp, out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def default_path(cache_dir: str | os.PathLike | None = None, scale: str = "demo", seed: int = 0) -> Path:
    """The cached generated folder for (scale, seed), generated on first use. Safe against concurrent callers:
    each builds its own temporary folder and the first rename wins; the others discard theirs."""
    from newsbench.paths import cache_dir as _cache_dir

    target = _cache_dir(cache_dir) / "synth" / f"{scale}-s{seed}-v{GENERATOR_VERSION}"
    if (target / "dataset_card.json").is_file():
        return target
    tmp = _build_tmp(scale, seed, target, False, DEFAULT_COLD_SHARE)
    try:
        os.rename(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "dataset_card.json").is_file():
            raise
    return target


def _build_tmp(scale: str, seed: int, out: Path, progress: bool, cold_share: float, fmt: str = "mind") -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f"{atomic.TMP_PREFIX}{out.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        with _steps(progress, f"generating {scale} seed {seed}") as step:
            world = build_world(scale, seed, cold_share)
            step("reference scorers")
            card = make_card(world)
            step("writing files")
            if fmt == "ebnerd":
                _write_ebnerd(world, tmp, card)
            else:
                write_world(world, tmp, card)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return tmp


def _write_ebnerd(world: World, folder: Path, card: dict) -> None:
    """The world in EB-NeRD's schema: written as MIND, read back by the MIND reader, written from those arrays
    (newsbench.data.ebnerd_write), so both formats of one world read into the same arrays."""
    from newsbench.data.ebnerd_write import write_ebnerd
    from newsbench.data.mind import read_mind

    mind_dir = folder / "mind"
    write_world(world, mind_dir, card)
    write_ebnerd(read_mind(mind_dir), folder)
    shutil.rmtree(mind_dir)
    atomic.write_json(folder / "dataset_card.json", {**card, "format": "ebnerd"})


@contextlib.contextmanager
def _steps(progress: bool, title: str):
    """A rich spinner naming the current step, or nothing."""
    from rich.console import Console

    console = Console(stderr=True)      # on stderr, and none in a pipe (a transient spinner leaves a blank line)
    if not progress or not console.is_terminal:
        yield lambda _msg: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True,
                  console=console) as bar:
        task = bar.add_task(title + ": sampling", total=None)
        yield lambda msg: bar.update(task, description=f"{title}: {msg}")


# ---------------------------------------------------------------------------------------------------- marginals

def _quantiles(x: np.ndarray) -> dict:
    x = np.asarray(x, dtype=float)
    q = np.percentile(x, [10, 25, 50, 75, 90, 99]) if len(x) else [np.nan] * 6
    return {"mean": round(float(x.mean()), 4) if len(x) else float("nan"),
            **{f"p{p}": round(float(v), 4) for p, v in zip((10, 25, 50, 75, 90, 99), q)},
            "max": float(x.max()) if len(x) else float("nan")}


def _top_share(counts: np.ndarray, frac: float) -> float:
    c = np.sort(counts)[::-1]
    k = max(1, int(len(c) * frac))
    return round(float(c[:k].sum() / c.sum()), 4) if c.sum() else float("nan")


def marginals(folder: str | os.PathLike, split: str = "train", sample: int | None = 5000, seed: int = 0) -> dict:
    """The statistics of `stats.json` (same keys) computed from a MIND folder's split.

    Behaviors are a random `sample` of impressions (None: all), as stats.json's source is a 5,000-impression
    sample; concentration shares depend on the sample size, so compare like with like. News statistics use every
    row of the split's news.tsv.
    """
    import csv

    import pandas as pd

    d = Path(folder) / split
    read = dict(sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)
    beh = pd.read_csv(d / "behaviors.tsv", names=["imp", "user", "time", "hist", "cands"], **read)
    news = pd.read_csv(d / "news.tsv", names=["id", "cat", "sub", "title", "abstract", "url", "te", "ae"], **read)
    if sample is not None and len(beh) > sample:
        beh = beh.iloc[np.sort(np.random.default_rng(seed).choice(len(beh), sample, replace=False))]
    hist = beh["hist"].str.split()
    hist_len = hist.str.len().to_numpy()
    cands = beh["cands"].str.split()
    size = cands.str.len().to_numpy()
    flat = np.concatenate([np.array(c, dtype=object) for c in cands]) if len(cands) else np.zeros(0, object)
    labels = np.array([t[-1] == "1" for t in flat])
    clicked_ids = np.array([t.rsplit("-", 1)[0] for t in flat[labels]])
    clicks = np.add.reduceat(labels.astype(int), np.r_[0, np.cumsum(size)[:-1]]) if len(size) else np.zeros(0)
    hist_flat = np.concatenate([np.array(h, dtype=object) for h in hist] + [np.zeros(0, object)])
    title_words = news["title"].str.split().str.len().to_numpy()
    abs_words = news["abstract"].str.split().str.len().fillna(0).to_numpy()
    n_ent = lambda col: news[col].map(lambda s: len(json.loads(s)) if s else 0).to_numpy()  # noqa: E731
    share = news["cat"].value_counts(normalize=True)
    times = beh["time"].tolist()
    _, ccount = np.unique(clicked_ids, return_counts=True)
    _, hcount = np.unique(hist_flat, return_counts=True)
    return {
        "source": str(d),
        "impressions": int(len(beh)),
        "distinct_users": int(beh["user"].nunique()),
        "history_length": _quantiles(hist_len),
        "empty_history_fraction": round(float(np.mean(hist_len == 0)), 4),
        "impression_size": _quantiles(size),
        "clicks_per_impression": _quantiles(clicks),
        "click_through_rate": round(float(labels.mean()), 4),
        "title_words": _quantiles(title_words),
        "abstract_words": _quantiles(abs_words),
        "empty_abstract_fraction": round(float(np.mean(abs_words == 0)), 4),
        "title_entities": _quantiles(n_ent("te")),
        "abstract_entities": _quantiles(n_ent("ae")),
        "category_share": {k: round(float(v), 4) for k, v in share.items()},
        "subcategories": int(news["sub"].nunique()),
        "time_range": [min(times), max(times)] if times else [],
        "clicked_news": {"distinct": int(len(ccount)), "top1pct_share": _top_share(ccount, 0.01),
                         "top10pct_share": _top_share(ccount, 0.10)},
        "history_news": {"distinct": int(len(hcount)), "top1pct_share": _top_share(hcount, 0.01),
                         "top10pct_share": _top_share(hcount, 0.10)},
    }
