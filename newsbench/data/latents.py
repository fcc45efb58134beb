"""The generator's scales and each news item's first draws (category, topic, planted community, popularity, era,
id), apart from the rest of the generator (newsbench.data.synth): `planted_communities` replays them in a fraction of
a second for the graph features' diagnostics, with nothing of the dataset card's scorers loaded."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from newsbench.data import vocab
from newsbench.errors import InputError

GENERATOR_VERSION = 2
SCALES = ("tiny", "demo", "small")
DEFAULT_COLD_SHARE = 0.4


@dataclass(frozen=True)
class ScaleSpec:
    users: int
    news: int
    train_impressions: int
    dev_impressions: int
    communities: int
    entities_per_community: int
    max_impression: int  # cap on impression size (the real max is 283; tiny's pools are too small for that)
    exposure_gamma: float  # P(shown) ~ exp(gamma * pop); larger pools need more skew for MIND's click concentration


SPECS: dict[str, ScaleSpec] = {
    "tiny": ScaleSpec(300, 800, 1_000, 400, 6, 20, 60, 1.0),
    "demo": ScaleSpec(5_000, 8_000, 20_000, 8_000, 16, 60, 283, 0.8),
    "small": ScaleSpec(50_000, 65_000, 157_000, 73_000, 24, 200, 283, 1.4),
}

CATEGORY_SHARE = {
    "news": 0.3015, "sports": 0.2985, "finance": 0.0575, "foodanddrink": 0.0545, "lifestyle": 0.0475,
    "weather": 0.042, "video": 0.036, "travel": 0.036, "health": 0.0355, "autos": 0.034, "music": 0.0165,
    "tv": 0.016, "movies": 0.014, "entertainment": 0.009, "kids": 0.0015,
}
POPULARITY_CLIP = 3.0    # |pop| <= 3: no runaway item that takes a quarter of all dev clicks
NEWS_SPLIT = (0.45, 0.40, 0.15)  # history-only (older) news, train-window news, fresh dev-day news


def news_latents(spec, rng):
    """The first draws of a world, news by news: (category, topic, community, popularity, era, news ids). Split out
    so `planted_communities` can replay them without drawing texts, histories and impressions."""
    cats = list(vocab.CATEGORIES)
    topics = vocab.subcategory_topics()
    N, C = spec.news, spec.communities

    # News: exact category shares (largest remainder), topic = subcategory with Zipf-like shares within a category.
    share = np.array([CATEGORY_SHARE[c] for c in cats])
    counts = np.floor(share / share.sum() * N).astype(int)
    counts[np.argsort(-(share / share.sum() * N - counts), kind="stable")[: N - counts.sum()]] += 1
    category = rng.permutation(np.repeat(np.arange(len(cats)), counts))
    topic = np.empty(N, dtype=np.int64)
    for ci, cat in enumerate(cats):
        tix = np.array([i for i, t in enumerate(topics) if t[0] == cat])
        z = 1.0 / np.arange(1, len(tix) + 1) ** 0.7
        members = np.flatnonzero(category == ci)
        topic[members] = rng.choice(tix, size=len(members), p=z / z.sum())
    community = rng.integers(0, C, size=N)
    pop = np.clip(rng.standard_normal(N), -POPULARITY_CLIP, POPULARITY_CLIP)
    era = rng.choice(3, size=N, p=NEWS_SPLIT)
    order = rng.permutation(N) + 1
    news_ids = np.array([f"N{k}" for k in order])
    return category, topic, community, pop, era, news_ids


def planted_communities(scale: str, seed: int, cold_share: float = DEFAULT_COLD_SHARE) -> tuple[np.ndarray, np.ndarray]:
    """(news ids, planted community of each) of a generated dataset, from its card's scale, seed and cold share:
    the world's first draws replayed (a fraction of a second), for graph-feature diagnostics."""
    if scale not in SPECS:
        raise InputError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    rng = np.random.default_rng([GENERATOR_VERSION, int(seed), int(round(cold_share * 1e6))])
    _, _, community, _, _, news_ids = news_latents(SPECS[scale], rng)
    return news_ids, community
