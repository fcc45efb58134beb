"""Beyond-accuracy metrics of a run's dev rankings: diversity, novelty, unexpectedness, calibration, coverage.

Every metric reads the top k of each dev impression's ranking by the model's scores, for k in KS (5 and 10; the
report's `--k` picks one). Definitions, formulas and references: docs/metrics.md. In short, for the top list L of an
impression (n = min(k, candidates) news; fewer than k when the impression has fewer candidates) and its user's
history H (the full dev history, as listed, not cut to the run's history length):

- `ild-cat`: share of the n(n-1)/2 pairs of L in different categories (category intra-list diversity);
- `ild-emb`: 1 - the mean cosine similarity of the pairs of L (embedding intra-list diversity);
- `novelty`: mean over L of -log2 p(i), p(i) = (users who clicked i in train + 1) / (train users + 1);
- `unexpectedness`: mean over L x H of 1 - cos(i, h) (Kaminskas & Bridge's content-based unexpectedness);
- `calibration`: Jensen-Shannon divergence (base 2, in [0, 1]) between the categories of H and of L (RADio);
- `coverage`: catalogue level, distinct news in any L over distinct dev candidate news; one value per run, with
  COVERAGE_RESAMPLES bootstrap replicates over users (the same resamples in every run of a dataset, so that two
  runs' replicates pair).

- `novelty-norm`, `unexpectedness-norm`: the list's value rescaled by the range the impression's candidates allow,
  (v - min) / (max - min), min and max the means of the k smallest and the k largest per-candidate values (exact:
  both are means of per-item values, so no k-subset does better): EB-NeRD's normalisation of novelty, and the same
  closed form for unexpectedness (EB-NeRD has none for its serendipity).
- `ild-cat-norm`: category diversity rescaled the same way, exact too: the list's same-category pairs against the
  fewest and the most that n of the candidates allow (`same_pair_bounds`). Embedding diversity is not normalised:
  its bounds are a max-dispersion problem with no closed form, and EB-NeRD samples 20,000 k-subsets per impression
  for it (docs/metrics.md).

Undefined values are NaN: the ILDs with n < 2; unexpectedness and calibration for an empty history; the normalised
values when the range is 0 (k or fewer candidates, so the list is all of them; or candidates with equal values,
for unexpectedness within 1e-6, the float32 vectors' rounding: NORM_TOL).

The ranking is the one nDCG@k scores (newsbench.metrics): score descending, and among equal scores the candidate
listed later first; so the top k is one deterministic list on every machine.

Embeddings: the rows of the model-free `hash` text encoder over the titles (newsbench.features.text.hash_encode,
HASH_DIM wide, unit L2 rows), the same vectors for every run of a dataset whatever its modalities or text encoder:
a diversity measured with a run's own features would change with the model under comparison. A news with an empty
title has a zero row: its cosine with anything counts as 0.
"""

from __future__ import annotations

import numpy as np

from newsbench.metrics import ascending_order

KS = (5, 10)
DEFAULT_K = 10
COVERAGE_RESAMPLES = 200
COVERAGE_SEED = 0
EMBEDDING = "hash:256 of titles"
HASH_DIM = 256
# per-impression metrics: record name -> array name stem (the array of k is f"{stem}{k}")
PER_IMPRESSION = {"ild-cat": "ild_cat", "ild-emb": "ild_emb", "novelty": "novelty", "unexpectedness": "unexp",
                  "calibration": "calib", "ild-cat-norm": "ild_cat_norm", "novelty-norm": "novelty_norm",
                  "unexpectedness-norm": "unexp_norm"}
# normalised by the range the impression's candidates allow (EB-NeRD's min-max); records made before them lack them
NORMALISED = ("ild-cat-norm", "novelty-norm", "unexpectedness-norm")
# a normalised value needs candidates that differ by more than rounding: novelty is exact float64; unexpectedness
# comes from float32 unit rows (relative resolution 6e-8), so two news equally far from the history in exact
# arithmetic can differ by ~1e-7, and a range below 1e-6 is rounding, not a choice
NORM_TOL = {"novelty": 1e-9, "unexp": 1e-6}
NAMES = (*PER_IMPRESSION, "coverage")
LABELS = {"ild-cat": "ILD cat.", "ild-emb": "ILD emb.", "novelty": "Novelty", "unexpectedness": "Unexp.",
          "calibration": "Calib. JS", "ild-cat-norm": "ILD cat. norm.", "novelty-norm": "Novelty norm.",
          "unexpectedness-norm": "Unexp. norm.", "coverage": "Coverage"}


def array_names(k: int) -> dict[str, str]:
    """{metric@k: npz array name} of the per-impression metrics at cut-off k."""
    return {f"{m}@{k}": f"{stem}{k}" for m, stem in PER_IMPRESSION.items()}


def all_array_names() -> dict[str, str]:
    """{metric@k: npz array name} for every per-impression metric and every k in KS."""
    return {name: arr for k in KS for name, arr in array_names(k).items()}


# ----------------------------------------------------------------------------------------------- ranking
def top_slots(scores: np.ndarray, ptr: np.ndarray, k: int, order: np.ndarray | None = None) -> np.ndarray:
    """(M, k) int64: the CSR slots of each impression's top k candidates in rank order, -1 past its last candidate.

    The order is newsbench.metrics' ranking: score descending, ties broken by listing the later candidate first;
    `order`: metrics.ascending_order(scores, ptr) when the caller has it (evaluation shares one sort)."""
    ptr = np.asarray(ptr, dtype=np.int64)
    asc = ascending_order(scores, ptr) if order is None else np.asarray(order)
    if asc.size == 0:
        return np.full((len(ptr) - 1, k), -1, dtype=np.int64)
    rank = np.arange(k)
    valid = rank[None, :] < np.diff(ptr)[:, None]
    # the ascending order read backwards within each impression: rank r sits r slots before its end
    return np.where(valid, asc[np.where(valid, ptr[1:, None] - 1 - rank[None, :], 0)], -1)


# ------------------------------------------------------------------------------------------- item values
def novelty_values(train, n_news: int) -> np.ndarray:
    """(N,) float64 -log2 p(i), p(i) = (distinct train users who clicked news i + 1) / (distinct train users + 1).

    Add-one smoothing: a news no train user clicked gets log2(U + 1), the largest value, and a news every user
    clicked gets 0. Users, not clicks: a user who clicks one news in several impressions counts once."""
    imp = np.repeat(np.arange(len(train.cand_ptr) - 1), np.diff(train.cand_ptr))
    clicked = train.label == 1
    pairs = np.unique(train.user[imp[clicked]].astype(np.int64) * n_news + train.cand[clicked])
    users_per_news = np.bincount(pairs % n_news, minlength=n_news)
    n_users = len(np.unique(train.user))
    return -np.log2((users_per_news + 1.0) / (n_users + 1.0))


def embedding_vectors(news) -> np.ndarray:
    """(N, HASH_DIM) float32 unit rows (zero for an empty title): the `hash` encoder over the titles."""
    from newsbench.features.text import hash_encode

    return hash_encode([str(t) for t in news.title], dim=HASH_DIM)


# -------------------------------------------------------------------------------- the dev split's side
class DevContext:
    """Everything the metrics need that does not depend on the run: the candidates, each impression's history
    (its category distribution and the mean of its unit rows), the item values, and the coverage bootstrap's user
    draws with their candidate pools. Built once per dataset (`for_dataset` keeps the last one), so a grid pays
    for it once per process and each run only for its own top lists."""

    def __init__(self, cand: np.ndarray, cand_ptr: np.ndarray, user: np.ndarray, hist_ptr: np.ndarray,
                 hist: np.ndarray, category: np.ndarray, novelty: np.ndarray, vectors: np.ndarray,
                 n_resamples: int = COVERAGE_RESAMPLES, seed: int = COVERAGE_SEED):
        from scipy import sparse

        self.cand = np.asarray(cand).astype(np.int64)
        self.cand_ptr = np.asarray(cand_ptr, dtype=np.int64)
        self.m = m = len(self.cand_ptr) - 1
        self.category = np.asarray(category).astype(np.int64)
        self.n_news = n_news = len(self.category)
        self.n_cat = int(self.category.max(initial=0)) + 1
        self.novelty = np.asarray(novelty, dtype=np.float64)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.norm2 = (self.vectors.astype(np.float64) ** 2).sum(axis=1)
        hist_ptr, hist = np.asarray(hist_ptr, dtype=np.int64), np.asarray(hist).astype(np.int64)
        self.h_len = h_len = np.diff(hist_ptr)
        h_imp = np.repeat(np.arange(m), h_len)
        h_cat = np.bincount(h_imp * self.n_cat + self.category[hist], minlength=m * self.n_cat)
        self.h_dist = h_cat.reshape(m, self.n_cat) / np.maximum(h_len, 1)[:, None]
        hist_rows = sparse.csr_matrix((np.ones(len(hist), dtype=np.float32), (h_imp, hist)), shape=(m, n_news))
        self.centroid = np.asarray(hist_rows @ self.vectors) / np.maximum(h_len, 1)[:, None].astype(np.float32)
        self.slot_imp = np.repeat(np.arange(m), np.diff(self.cand_ptr))
        # per candidate slot: its unexpectedness 1 - v.c (the mean of 1 - cos over the history, unit or zero rows)
        self.slot_unexp = 1.0 - _row_dots(self.vectors, self.cand, self.centroid, self.slot_imp)
        self.cand_novelty = self.novelty[self.cand]
        self._depth, self._cums = 0, {}
        self._cat_counts, self._pair_bounds = None, {}

        # coverage bootstrap: users drawn with replacement; a drawn user brings all their impressions
        _, uidx = np.unique(np.asarray(user), return_inverse=True)
        self.uidx = uidx = uidx.reshape(-1)
        n_users = int(uidx.max(initial=-1)) + 1
        draws = np.random.default_rng(seed).integers(0, n_users, size=(n_resamples, n_users))
        chosen = np.zeros((n_users, n_resamples), dtype=np.float32)        # users x draws: 1 where drawn
        chosen[draws, np.arange(n_resamples)[:, None]] = 1.0
        pool = self._incidence(uidx[self.slot_imp], self.cand, n_users)
        self.pool_boot = np.maximum((np.asarray(pool @ chosen) > 0).sum(axis=0), 1)
        self.chosen_by_impression = np.ascontiguousarray(chosen[uidx])     # impressions x draws: its user's
        self.pool_size = int(np.count_nonzero(np.bincount(self.cand, minlength=n_news)))   # distinct candidates
        self.n_users = n_users

    def _incidence(self, users, items, n_users):
        """news x users, nonzero where the user met the news (duplicates sum: still nonzero)."""
        from scipy import sparse

        return sparse.csr_matrix((np.ones(len(users), dtype=np.float32), (items, users)),
                                 shape=(self.n_news, n_users))

    def bounds(self, k: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{stem: ((M,) sum of the k smallest, (M,) sum of the k largest per-candidate values)} for novelty and
        unexpectedness: the sums over the least and the most novel (unexpected) top list of min(k, candidates)
        news. The first call sorts each impression's candidates once for every k up to max(KS, k)."""
        if k > self._depth:
            self._depth = max(max(KS), k)
            self._cums = {stem: _extreme_cumsums(vals, self.cand_ptr, self._depth)
                          for stem, vals in (("novelty", self.cand_novelty), ("unexp", self.slot_unexp))}
        rows = np.arange(self.m)
        last = np.minimum(k, np.diff(self.cand_ptr)) - 1          # -1: no candidate, both sums 0
        return {stem: (np.where(last >= 0, low[rows, last], 0.0), np.where(last >= 0, high[rows, last], 0.0))
                for stem, (low, high) in self._cums.items()}

    def same_pair_bounds(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """((M,) fewest, (M,) most) same-category pairs in a list of n = min(k, candidates) of the impression's
        candidates. Most: take whole categories, largest first (a convex sum of C(q, 2) peaks at the most
        concentrated counts the candidates allow). Fewest: water-filling, each category up to a level L, one more
        from r of those that have it (the most even counts allowed). Exact, integer."""
        if k not in self._pair_bounds:
            if self._cat_counts is None:
                counts = np.bincount(self.slot_imp * self.n_cat + self.category[self.cand],
                                     minlength=self.m * self.n_cat).reshape(self.m, self.n_cat)
                self._cat_counts = -np.sort(-counts, axis=1)             # each row's counts, largest first
            c = self._cat_counts
            n = np.minimum(k, c.sum(axis=1))
            before = np.cumsum(c, axis=1) - c
            take = np.clip(n[:, None] - before, 0, c)
            most = (take * (take - 1) // 2).sum(axis=1)
            fewest = np.zeros(self.m, dtype=np.int64)
            below = np.zeros(self.m, dtype=np.int64)              # sum of min(c, L - 1): the level under L
            open_ = n > 0
            for level in range(1, k + 1):
                upto = np.minimum(c, level).sum(axis=1)
                here = open_ & (upto >= n)                        # L = level: the first level that holds n
                capped = np.minimum(c, level - 1)
                r = n - below
                fewest[here] = ((capped * (capped - 1) // 2).sum(axis=1) + r * (level - 1))[here]
                open_ &= ~here
                below = upto
            self._pair_bounds[k] = (fewest, most)
        return self._pair_bounds[k]

    def by_cutoff(self, top: np.ndarray, ks) -> dict[int, tuple[dict[str, np.ndarray], float, np.ndarray]]:
        """{k: (per-impression metrics {stem: (M,)}, coverage, its (n_resamples,) bootstrap replicates)} of the top
        lists `top` ((M, >= max(ks)) slots into the candidates, -1 padding) cut at each k in `ks`.

        One pass over the ranks, k by increasing k: each block of ranks adds its items to running sums (the rows'
        embedding sum S, category counts, novelty, the news x draw coverage counts), so the top 10 costs what the
        top 5 and the 5 after it cost. No (M, k, k) or (M, k, d) array: the sum of the pairs' cosines is
        (|S|^2 - sum |v|^2) / 2, the mean cosine of L x H is S.c / n (c: the history's mean row), the same-category
        pairs are the sum over categories of C(count, 2). tests/test_beyond.py checks every value against loops.

        Coverage's replicates: users drawn with replacement, a drawn user bringing all their impressions; the draws
        depend only on the number of distinct users and the seed, so every run over one dev split gets the same
        resamples and two runs' replicates pair (the report's paired bootstrap of a difference)."""
        from scipy import sparse

        m, n_cat = self.m, self.n_cat
        s = np.zeros((m, self.vectors.shape[1]), dtype=np.float32)
        q_counts = np.zeros(m * n_cat, dtype=np.int64)
        n = np.zeros(m, dtype=np.int64)
        nov, sq, un = np.zeros(m), np.zeros(m), np.zeros(m)
        seen = np.zeros(self.n_news, dtype=bool)
        boot_counts = np.zeros((self.n_news, self.chosen_by_impression.shape[1]), dtype=np.float32)
        out, done = {}, 0
        for k in sorted(ks):
            block = top[:, done:k]
            valid = block >= 0
            per_row = valid.sum(axis=1)
            rows = np.repeat(np.arange(m), per_row)            # row-major: the rows of valid entries, in order
            items = self.cand[block[valid]]
            n += per_row
            q_counts += np.bincount(rows * n_cat + self.category[items], minlength=m * n_cat)
            nov += np.bincount(rows, self.novelty[items], minlength=m)
            un += np.bincount(rows, self.slot_unexp[block[valid]], minlength=m)
            sq += np.bincount(rows, self.norm2[items], minlength=m)
            ptr = np.concatenate([[0], np.cumsum(per_row)])
            block_rows = sparse.csr_matrix((np.ones(len(items), dtype=np.float32), items, ptr), shape=(m, self.n_news))
            s += block_rows @ self.vectors
            seen[items] = True
            boot_counts += block_rows.T @ self.chosen_by_impression      # news x draws: times drawn in a top list
            done = k

            q = q_counts.reshape(m, n_cat)
            pairs = n * (n - 1) / 2.0
            same = (q * (q - 1) // 2).sum(axis=1)
            vals = {"ild_cat": _divide(pairs - same, pairs), "novelty": _divide(nov, n)}
            fewest, most = self.same_pair_bounds(k)
            # fewer same-category pairs is more diverse: (most - same) / (most - fewest), integers, NaN at no range
            vals["ild_cat_norm"] = _divide(most - same, np.where(most > fewest, most - fewest, 0))
            js = _js_divergence(self.h_dist, q / np.maximum(n, 1)[:, None])
            js[(self.h_len == 0) | (n == 0)] = np.nan
            vals["calib"] = js
            vals["ild_emb"] = 1.0 - _divide((np.einsum("ij,ij->i", s, s).astype(np.float64) - sq) / 2.0, pairs)
            unexp = 1.0 - _divide(np.einsum("ij,ij->i", s, self.centroid).astype(np.float64), n)
            unexp[self.h_len == 0] = np.nan
            vals["unexp"] = unexp
            lim = self.bounds(k)
            vals["novelty_norm"] = _min_max(nov, *lim["novelty"], NORM_TOL["novelty"] * n)
            vals["unexp_norm"] = _min_max(un, *lim["unexp"], NORM_TOL["unexp"] * n)
            vals["unexp_norm"][self.h_len == 0] = np.nan
            value = np.count_nonzero(seen) / self.pool_size if self.pool_size else float("nan")
            out[k] = (vals, value, (boot_counts > 0).sum(axis=0) / self.pool_boot)
        return out

    def values(self, top: np.ndarray) -> dict[str, np.ndarray]:
        """Every per-impression metric of the top lists `top` ((M, k) slots, -1 padding): {stem: (M,)}."""
        return self.by_cutoff(top, (top.shape[1],))[top.shape[1]][0]

    def coverage(self, top: np.ndarray) -> tuple[float, np.ndarray]:
        """(coverage, (n_resamples,) its bootstrap replicates over users) of the top lists `top`."""
        _, value, boot = self.by_cutoff(top, (top.shape[1],))[top.shape[1]]
        return value, boot

    @classmethod
    def for_dataset(cls, dataset) -> "DevContext":
        key = getattr(dataset, "fingerprint", None)
        hit = _CONTEXT.get("last")
        if key is not None and hit is not None and hit[0] == key:
            return hit[1]
        beh, news = dataset.dev, dataset.news
        ctx = cls(beh.cand, beh.cand_ptr, beh.user, beh.hist_ptr, beh.hist, news.category,
                  novelty_values(dataset.train, len(news)), embedding_vectors(news))
        if key is not None:
            _CONTEXT["last"] = (key, ctx)       # one dataset at a time: a grid evaluates many runs of one dataset
        return ctx


_CONTEXT: dict[str, tuple] = {}


def _divide(num, den) -> np.ndarray:
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _min_max(total: np.ndarray, low: np.ndarray, high: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """(total - low) / (high - low), NaN where the range is at most `tol` (sums over n news: tol = n x the metric's
    resolution); the lists all hold n news, so the n of the means cancels. Clipped to [0, 1]: the list's sum lies
    between the bounds, rounding (the same values summed in another order) aside."""
    span = high - low
    return np.clip(_divide(total - low, np.where(span > tol, span, 0.0)), 0.0, 1.0)


def _row_dots(vectors: np.ndarray, rows: np.ndarray, other: np.ndarray, other_rows: np.ndarray,
              chunk: int = 2048) -> np.ndarray:
    """float64 (len(rows),) dots vectors[rows[j]] . other[other_rows[j]], in chunks small enough for the CPU's
    cache (no (len(rows), d) gather at once; 2048 rows measured 3x faster than 65536)."""
    out = np.empty(len(rows))
    for a in range(0, len(rows), chunk):
        out[a:a + chunk] = np.einsum("ij,ij->i", vectors[rows[a:a + chunk]], other[other_rows[a:a + chunk]])
    return out


def _extreme_cumsums(values: np.ndarray, ptr: np.ndarray, depth: int, cells: int = 1 << 22
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(low, high), each (M, depth): low[i, r] the sum of the r + 1 smallest of impression i's `values` (CSR
    `ptr`), high[i, r] of its r + 1 largest, summed from the extreme inwards (past its last candidate: the full sum).
    Rows are sorted padded to the longest impression, in blocks of about `cells` values (a 2-D sort along rows is
    several times faster than one np.lexsort over all candidates)."""
    m, lens = len(ptr) - 1, np.diff(ptr)
    low, high = np.zeros((m, depth)), np.zeros((m, depth))
    width = max(int(lens.max(initial=0)), 1)
    step = max(cells // width, 1)
    rank = np.arange(depth)
    for a in range(0, m, step):
        ln = lens[a:a + step]
        pad = np.full((len(ln), width), np.inf)
        mask = np.arange(width)[None, :] < ln[:, None]
        pad[mask] = values[ptr[a]:ptr[a + len(ln)]]
        pad.sort(axis=1)                                            # valid values first, increasing; inf after
        take = rank[None, :] < ln[:, None]
        smallest = np.where(take, pad[:, :depth] if depth <= width else np.pad(pad, ((0, 0), (0, depth - width))),
                            0.0)
        largest = np.where(take, np.take_along_axis(pad, np.clip(ln[:, None] - 1 - rank[None, :], 0, None), axis=1),
                           0.0)
        low[a:a + step], high[a:a + step] = np.cumsum(smallest, axis=1), np.cumsum(largest, axis=1)
    return low, high


def _js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon divergence, base 2 (0 for equal rows, 1 for disjoint supports); 0 log 0 = 0.

    scipy's rel_entr, not numpy: numpy's vectorised log differs from the C library's by one ulp in about one term
    in ten, which would change recorded values; the import (0.15 s of CPU, docs/performance.md) is paid once per
    process."""
    from scipy.special import rel_entr

    mid = (p + q) / 2.0
    js = (rel_entr(p, mid).sum(axis=1) + rel_entr(q, mid).sum(axis=1)) / (2.0 * np.log(2.0))
    return np.maximum(js, 0.0)


# ---------------------------------------------------------------------------------------------- a run
def run_arrays(scores: np.ndarray, dataset, context: DevContext | None = None,
               order: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The beyond-accuracy arrays of a run's dev scores (CSR order): for each k in KS the per-impression arrays
    (float64 (M,), NaN where undefined), `coverage{k}` (1,) and `coverage{k}_boot` (COVERAGE_RESAMPLES,).
    `order`: metrics.ascending_order(scores, dev.cand_ptr), when evaluation has sorted the scores already."""
    ctx = context or DevContext.for_dataset(dataset)
    arrays: dict[str, np.ndarray] = {}
    for k, (vals, value, boot) in ctx.by_cutoff(top_slots(scores, ctx.cand_ptr, max(KS), order), KS).items():
        arrays.update({f"{stem}{k}": v for stem, v in vals.items()})
        arrays[f"coverage{k}"] = np.array([value])
        arrays[f"coverage{k}_boot"] = boot
    return arrays


def summary(arrays: dict[str, np.ndarray]) -> dict:
    """The record's `beyond` entry: {k, metrics {name@k: mean over defined impressions (coverage: its value)},
    embedding, coverage_resamples}."""
    from newsbench.metrics import mean_or_none

    metrics = {}
    for k in KS:
        for name, arr in array_names(k).items():
            metrics[name] = mean_or_none(np.asarray(arrays[arr], dtype=np.float64))
        metrics[f"coverage@{k}"] = float(arrays[f"coverage{k}"][0])
    return {"k": list(KS), "metrics": metrics, "embedding": EMBEDDING,
            "coverage_resamples": COVERAGE_RESAMPLES, "coverage_seed": COVERAGE_SEED}


def has_arrays(arrays: dict) -> bool:
    """Whether a record's arrays hold the beyond-accuracy metrics (records made before they were recorded do not)."""
    return all(f"coverage{k}_boot" in arrays for k in KS)
