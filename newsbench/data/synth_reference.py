"""Reference scorers of a generated dataset: where a model sits between random, the learnable ceiling and the oracle.

Every scorer ranks the dev candidates of a `synth.World`; the card (`dataset_card.json`) holds their dev metrics
overall, on cold candidates (news unseen in train) and on warm ones, each the per-impression metric over only those
candidates (as `train.evaluate` computes cold AUC), averaged over the impressions where it is defined.

- `oracle`: the true utility, sum_k w_k[category] * signal_k, popularity of cold news included. Unreachable.
- `learnable_ceiling`: what a perfect model that sees only clicks and content could reach. It knows the item side
  exactly (topic, community, category weights, and the popularity of warm news only: every cold news item gets the
  mean popularity of a shown item, the mean over train candidates, which a model can learn from clicks) and
  estimates the user side from the user's history clicks alone:

      est_topic[u, t] = log( (clicks of u on topic t + A * b_t) / ((history length of u + A) * b_t) )

  where b_t is topic t's share of all history clicks (the exposure baseline every user shares) and A =
  PSEUDO_CLICKS pseudo-clicks pull a short history towards "no preference" (an empty history gives 0 everywhere);
  est_comm the same over communities, each click counted with the clicked item's category weight of communities
  (over its mean): a click in a category where communities weigh little says little about a community preference.
  A topic lies in one category, so its lift already scales with that category's topic weight; est_topic is divided
  by it (over its mean), so that both estimates are affinities, like the oracle's signals.
  Score = sum_k lam_k * w_k[category] * x_k with x = (popularity as known, est_topic, est_comm) and three scalars
  lam (the estimates' scale is not the signals') fitted on train impressions by a conditional logit
  (`fit_choice_weights`), the click model's own form. Train clicks are used for nothing else.
- `oracle_global`: the true signals with one weight row for every category, the row fitted on train impressions by
  the same conditional logit. `learnable_ceiling_global`: the same over (popularity as known, the topic *lift*,
  est_comm): a global model that learns topic preferences from clicks gets the topic lift, which already carries the
  category's topic weight, so the global row is given that part of adaptivity for free (`_global_features`); what
  it cannot get is per-category weights of popularity and community. The paired per-impression AUC difference of
  each per-category scorer to its global version is the *value of adaptivity*.
- `ceiling_topic`, `ceiling_community`, `ceiling_popularity`: the learnable ceiling with one signal only.
- `text_centroid`: cosine of the history's mean `hash` title vector to the candidate's title vector
  (`baselines.history_centroid_scores`); `graph_centroid`: the same over each news item's mean entity vector (the
  entity structure that carries the community). Training-free floors a content model should clear.
- `random`: the exact expected metrics of a uniformly random ranking (not one draw, so it has no noise).

`attribution` measures, with `newsbench.attribution.auc_drop`, the AUC each signal carries within each category for
the learnable ceiling and the oracle: a trained fusion's attribution can be set beside it.
"""

from __future__ import annotations

import numpy as np

from newsbench.attribution import auc_drop
from newsbench.data import vocab
from newsbench.metrics import impression_metrics, subset_ptr

MODALITIES = ("id", "llm", "gnn")
PSEUDO_CLICKS = 3.0       # A above: prior strength of the "no preference" baseline, in history clicks
METRICS = {"auc": "auc", "mrr": "mrr", "ndcg5": "ndcg@5", "ndcg10": "ndcg@10"}
FIT_MAX_CANDIDATES = 1_000_000   # train candidates used by a fit (first impressions up to this many): bounds `small`
MAX_DEV_IMPRESSIONS = 20_000     # dev impressions scored (the first ones, random users): all of tiny and demo; keeps
                                 # `small` (73,000) within its generation time, at a standard error of ~0.002 AUC

LABELS = {   # name -> (short label for report rows, kind)
    "oracle": ("oracle (true utility)", "ceiling"),
    "oracle_global": ("oracle, one global row", "ceiling"),
    "learnable_ceiling": ("learnable ceiling", "ceiling"),
    "learnable_ceiling_global": ("learnable ceiling, global row", "ceiling"),
    "ceiling_topic": ("topic preference only", "reference"),
    "ceiling_community": ("community preference only", "reference"),
    "ceiling_popularity": ("warm popularity only", "reference"),
    "text_centroid": ("text centroid (hash titles)", "floor"),
    "graph_centroid": ("graph centroid (entities)", "floor"),
    "random": ("random ranking", "floor"),
}


# ------------------------------------------------------------------------------------------------ estimators

def history_preferences(hist_ptr: np.ndarray, hist: np.ndarray, key: np.ndarray, k: int, weight: np.ndarray,
                        pseudo: float = PSEUDO_CLICKS) -> np.ndarray:
    """(users, k) smoothed log lift of each user's history clicks on each value of `key` (topic or community of a
    news item) over the population's share of history clicks on it (formula in the module doc).

    Each click counts `weight[news]` (the news item's category weight of this signal, over its mean across history
    clicks): a click in a category where the signal weighs little says little about the preference."""
    n_users = len(hist_ptr) - 1
    user = np.repeat(np.arange(n_users), np.diff(hist_ptr))
    wt = weight[hist] / weight[hist].mean() if len(hist) else np.zeros(0)
    counts = np.zeros((n_users, k))
    np.add.at(counts, (user, key[hist]), wt)
    base = (counts.sum(axis=0) + 1.0) / (counts.sum() + k)     # +1: a value nobody clicked keeps a tiny share
    h = counts.sum(axis=1, keepdims=True)
    return np.log((counts + pseudo * base) / ((h + pseudo) * base))


def fit_choice_weights(x: np.ndarray, labels: np.ndarray, cand_ptr: np.ndarray, iters: int = 30) -> np.ndarray:
    """(d,) coefficients of a conditional logit: each click is a draw from softmax(x @ coef) over its impression's
    candidates (several clicks of one impression share the softmax). Newton's method with step halving (the log
    likelihood is concave; a full Newton step from far away can overshoot) and a small ridge (1e-6)."""
    m = len(cand_ptr) - 1
    sizes = np.diff(cand_ptr)
    imp = np.repeat(np.arange(m), sizes)
    clicks = np.bincount(imp, weights=labels.astype(float), minlength=m)
    d = x.shape[1]
    x_clicked = (x * labels[:, None]).sum(axis=0)

    def loglik(coef):
        s = x @ coef
        mx = _segment_max(s, cand_ptr)
        lse = mx + np.log(np.maximum(np.bincount(imp, weights=np.exp(s - np.repeat(mx, sizes)), minlength=m),
                                     1e-300))
        return float(x_clicked @ coef - clicks @ lse), s - np.repeat(lse, sizes)

    coef = np.zeros(d)
    ll, logp = loglik(coef)
    for _ in range(iters):
        p = np.exp(logp)
        pw = p * np.repeat(clicks, sizes)                    # each click's softmax, summed per candidate
        grad = x_clicked - (pw[:, None] * x).sum(axis=0)
        mean = np.stack([np.bincount(imp, weights=p * x[:, j], minlength=m) for j in range(d)], axis=1)
        xc = x - mean[imp]
        step = np.linalg.solve((xc * pw[:, None]).T @ xc + 1e-6 * np.eye(d), grad)
        for _half in range(30):
            new_ll, new_logp = loglik(coef + step)
            if new_ll >= ll - 1e-9:
                break
            step = step / 2
        coef, ll, logp = coef + step, new_ll, new_logp
        if np.abs(step).max() < 1e-6:
            break
    return coef


def _segment_max(s: np.ndarray, ptr: np.ndarray) -> np.ndarray:
    out = np.zeros(len(ptr) - 1)
    nonempty = np.diff(ptr) > 0
    out[nonempty] = np.maximum.reduceat(s, ptr[:-1][nonempty])
    return out


def _fit_slice(split, max_candidates: int) -> int:
    """Number of leading train impressions whose candidates fit in `max_candidates`."""
    return int(np.searchsorted(split.cand_ptr, max_candidates, side="right")) - 1


def head(split, k: int):
    """The first k impressions of a `synth.Split`."""
    k = min(k, len(split.user))
    n = int(split.cand_ptr[k])
    return type(split)(split.user[:k], split.time[:k], split.cand_ptr[:k + 1], split.cand[:n], split.label[:n])


# ------------------------------------------------------------------------------------------------ metrics

def random_expected(labels: np.ndarray, cand_ptr: np.ndarray) -> dict[str, np.ndarray]:
    """Per-impression expected AUC, MRR, nDCG@5/10 of a uniformly random ranking (NaN where undefined).

    Each clicked item's rank is uniform on 1..n: E[1/rank] = H_n / n and E[DCG@k] = clicks * (1/n) sum_{r<=k}
    1/log2(r+1); the ideal DCG is fixed, so E[nDCG] = E[DCG] / ideal. AUC of a random order is 1/2."""
    n = np.diff(cand_ptr)
    m = len(n)
    imp = np.repeat(np.arange(m), n)
    c = np.bincount(imp, weights=labels.astype(float), minlength=m)
    nmax = int(n.max()) if m else 0
    inv = np.r_[0.0, 1.0 / np.arange(1, nmax + 1)]
    disc = np.r_[0.0, 1.0 / np.log2(np.arange(1, nmax + 1) + 1)]
    harm, cdisc = np.cumsum(inv), np.cumsum(disc)
    out = {"auc": np.where((c > 0) & (c < n), 0.5, np.nan)}
    with np.errstate(invalid="ignore", divide="ignore"):
        out["mrr"] = np.where(c > 0, harm[n] / np.maximum(n, 1), np.nan)
        for k in (5, 10):
            ideal = cdisc[np.minimum(c.astype(int), k)]
            out[f"ndcg{k}"] = np.where(c > 0, c * cdisc[np.minimum(n, k)] / np.maximum(n, 1) / ideal, np.nan)
    return out


def _means(per: dict[str, np.ndarray]) -> dict[str, float]:
    return {name: round(float(np.nanmean(per[k])), 6) if np.isfinite(per[k]).any() else None
            for k, name in METRICS.items()}


def metric_rows(score: np.ndarray | None, labels: np.ndarray, cand_ptr: np.ndarray, cold: np.ndarray) -> dict:
    """{"overall", "cold", "warm": {auc, mrr, ndcg@5, ndcg@10}}; score None means the random ranking."""
    out = {}
    for part, keep in (("overall", None), ("cold", cold), ("warm", ~cold)):
        y = labels if keep is None else labels[keep]
        ptr = cand_ptr if keep is None else subset_ptr(cand_ptr, keep)
        if score is None:
            per = random_expected(y, ptr)
        else:
            per = impression_metrics(score if keep is None else score[keep], y, ptr)
        out[part] = _means(per)
    return out


def paired_difference(a: np.ndarray, b: np.ndarray) -> dict:
    """Mean per-impression difference a - b over impressions where both are defined, its standard error, n."""
    d = (a - b)[np.isfinite(a) & np.isfinite(b)]
    n = len(d)
    se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"auc": round(float(d.mean()), 6) if n else None, "se": round(se, 6), "n": int(n)}


# ------------------------------------------------------------------------------------------------ the scorers

class _Signals:
    """Per-candidate signals of one split: true (pop, topic_aff, comm_aff), learnable (warm pop, est_topic,
    est_comm), and each candidate's category weights."""

    def __init__(self, world, split, seen: np.ndarray, known_pop: np.ndarray, est_topic: np.ndarray,
                 est_comm: np.ndarray):
        row = np.repeat(np.arange(len(split.user)), np.diff(split.cand_ptr))
        users, news = split.user[row], split.cand
        self.true = world.components(users, news)
        self.learn = np.stack([known_pop[news], est_topic[users, world.topic[news]],
                               est_comm[users, world.community[news]]], axis=1)
        self.w = world.weights()[news]
        self.w_llm_mean = float(world.weights()[:, 1].mean())
        self.category = world.category[news]
        self.cold = ~seen[news]


def reference(world, seen: np.ndarray, vectors: dict[str, np.ndarray]) -> dict:
    """The card's reference entries: reference_dev, value_of_adaptivity, reference_attribution, fitted weights.

    `vectors` {"text": (N, D) hash title vectors, "graph": (N, 100) mean entity vectors} by world news index."""
    from newsbench.baselines import history_centroid_scores

    t = world.topic_aff.shape[1]
    c = world.comm_aff.shape[1]
    w_news = world.weights()
    # A topic lies in one category, so its lift already grows with that category's topic weight (clicks in a
    # category respond to topic preference by w_llm[category]); dividing the weight out gives an affinity estimate,
    # on the same footing as the community one, so that per-category and global rows differ only in the weights.
    w_topic = np.ones(t)
    w_topic[world.topic] = w_news[:, 1]
    est_topic = history_preferences(world.hist_ptr, world.hist, world.topic, t, np.ones(len(world.topic)))
    est_topic = est_topic / (w_topic / w_news[:, 1].mean())     # undone for the global row: `_global_features`
    est_comm = history_preferences(world.hist_ptr, world.hist, world.community, c, w_news[:, 2])
    # Cold news get the mean popularity of a shown item (train candidates): exposure grows with popularity, so
    # the average candidate is more popular than the average news item, and a model learns that mean from clicks.
    known_pop = np.where(seen, world.pop, world.pop[world.train.cand].mean())
    d, tr = head(world.dev, MAX_DEV_IMPRESSIONS), world.train
    dev = _Signals(world, d, seen, known_pop, est_topic, est_comm)
    k = _fit_slice(tr, FIT_MAX_CANDIDATES)
    fit_split = head(tr, k)
    fit = _Signals(world, fit_split, seen, known_pop, est_topic, est_comm)
    y_fit = fit_split.label.astype(float)

    lam = fit_choice_weights(fit.w * fit.learn, y_fit, fit_split.cand_ptr)
    g_learn = fit_choice_weights(_global_features(fit), y_fit, fit_split.cand_ptr)
    g_oracle = fit_choice_weights(fit.true, y_fit, fit_split.cand_ptr)

    parts_learn = dev.w * dev.learn * lam        # per-signal contributions of the learnable ceiling
    parts_oracle = dev.w * dev.true
    scores = {
        "oracle": parts_oracle.sum(axis=1),
        "oracle_global": dev.true @ g_oracle,
        "learnable_ceiling": parts_learn.sum(axis=1),
        "learnable_ceiling_global": _global_features(dev) @ g_learn,
        "ceiling_topic": dev.w[:, 1] * dev.learn[:, 1],
        "ceiling_community": dev.w[:, 2] * dev.learn[:, 2],
        "ceiling_popularity": dev.w[:, 0] * dev.learn[:, 0],
    }
    beh = _behaviors(world, d)
    scores["text_centroid"] = history_centroid_scores(beh, vectors["text"])
    scores["graph_centroid"] = history_centroid_scores(beh, vectors["graph"])
    labels = d.label.astype(np.int64)
    ref = {}
    for name, (label, kind) in LABELS.items():
        ref[name] = {"label": label, "kind": kind,
                     **metric_rows(scores.get(name), labels, d.cand_ptr, dev.cold)}

    per_auc = {n: impression_metrics(scores[n], labels, d.cand_ptr)["auc"]
               for n in ("oracle", "oracle_global", "learnable_ceiling", "learnable_ceiling_global")}
    adaptivity = {n: paired_difference(per_auc[n], per_auc[n + "_global"]) for n in ("oracle", "learnable_ceiling")}

    attribution = {}
    cats = list(vocab.CATEGORIES)
    n_cat = len(cats)
    for name, parts, aff_mean in (("learnable_ceiling", parts_learn, _news_means(world, dev, d, est_topic, est_comm,
                                                                                  known_pop, lam)),
                                  ("oracle", parts_oracle, _news_means(world, dev, d, world.topic_aff,
                                                                       world.comm_aff, None, None))):
        full = parts.sum(axis=1)
        ablated = {m: full - parts[:, j] + aff_mean[:, j] for j, m in enumerate(MODALITIES)}
        out = {}
        drop_cat, n_imp = auc_drop(full, ablated, labels, d.cand_ptr, dev.category.astype(np.int64), n_cat)
        out["category"] = {cats[i]: {m: _r(drop_cat[m][i]) for m in MODALITIES} for i in range(n_cat)}
        out["category_impressions"] = {cats[i]: int(n_imp[i]) for i in range(n_cat)}
        drop_cw, _ = auc_drop(full, ablated, labels, d.cand_ptr, dev.cold.astype(np.int64), 2)
        out["warm"] = {m: _r(drop_cw[m][0]) for m in MODALITIES}
        out["cold"] = {m: _r(drop_cw[m][1]) for m in MODALITIES}
        attribution[name] = out
    fitted = {"learnable_ceiling_signal_scale": dict(zip(MODALITIES, _rl(lam))),
              "learnable_ceiling_global_row": dict(zip(MODALITIES, _rl(g_learn))),
              "oracle_global_row": dict(zip(MODALITIES, _rl(g_oracle))),
              "fit_train_impressions": k, "dev_impressions": len(d.user), "pseudo_clicks": PSEUDO_CLICKS}
    return {"reference_dev": ref, "value_of_adaptivity": adaptivity, "reference_attribution": attribution,
            "reference_fit": fitted}


def _global_features(sig: _Signals) -> np.ndarray:
    """The learnable ceiling's signals for one global weight row: the topic lift as estimated from the history
    (affinity times the category's topic weight over its mean), not the affinity. A topic lies in one category, so
    the lift carries that category's topic weight: a global model that learns topic preferences from clicks gets
    that part of adaptivity for free, and the value of adaptivity left is the one a learner can still gain."""
    x = sig.learn.copy()
    x[:, 1] *= sig.w[:, 1] / sig.w_llm_mean
    return x


def _news_means(world, sig: _Signals, split, topic_pref, comm_pref, pop, lam) -> np.ndarray:
    """(nnz, 3) each signal's contribution with the signal replaced by its mean over news: popularity's (`pop`, the
    scorer's popularity per news) mean over all news; a preference's mean over news for the impression's user (weighted by how many news have each topic
    or community). Same category weight and scale as the full contribution."""
    row = np.repeat(np.arange(len(split.user)), np.diff(split.cand_ptr))
    users = split.user[row]
    n = len(world.topic)
    t_share = np.bincount(world.topic, minlength=topic_pref.shape[1]) / n
    c_share = np.bincount(world.community, minlength=comm_pref.shape[1]) / n
    pop = pop if pop is not None else world.pop
    means = np.stack([np.full(len(users), pop.mean()), (topic_pref @ t_share)[users], (comm_pref @ c_share)[users]],
                     axis=1)
    return sig.w * means * (lam if lam is not None else 1.0)


def _behaviors(world, split):
    """A `Behaviors` of a world split with news indexed as in the world (for `history_centroid_scores`)."""
    from newsbench.data.dataset import Behaviors

    h_len = np.diff(world.hist_ptr)[split.user]
    hist = np.concatenate([world.hist[world.hist_ptr[u]:world.hist_ptr[u + 1]] for u in split.user.tolist()]
                          + [np.zeros(0, np.int64)])
    m = len(split.user)
    return Behaviors(np.arange(1, m + 1), split.user, np.zeros(m, np.int64), np.r_[0, np.cumsum(h_len)], hist,
                     split.cand_ptr, split.cand, split.label)


def _r(x) -> float | None:
    return round(float(x), 6) if np.isfinite(x) else None


def _rl(v) -> list[float]:
    return [round(float(x), 6) for x in v]
