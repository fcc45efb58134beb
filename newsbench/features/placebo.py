"""The `rand` modality: a placebo of seeded N(0, 1) vectors per news, the same shape as a real feature modality.

A modality is worth what it adds over a placebo of its shape (DESIGN.md, "The experiment's controls"): the placebo
carries no information about the news, only a fixed random vector per news item that a model can memorise like an
ID. Each vector is a function of (run seed, news id string) alone, so:
- a cold dev news gets one too, and the same news gets the same vector whatever else the dataset holds (a subset of
  the news, another split, another order);
- another seed draws other vectors: the placebo varies with the run's seed, as the model init does, so its seed
  spread is part of what the seed-level test sees.

The generator is counter-based, not a stateful stream: the key of a news is the first 8 bytes of blake2b(id) mixed
with the seed; its j-th 64-bit draw is splitmix64(key + (j + 1) * golden gamma). Uniforms from the top 53 bits go
through Box-Muller. Integer arithmetic is exact and numpy's elementwise float64 functions are single-threaded, so
the vectors do not depend on the thread count; cast to float32, they do not depend on the last bit of a platform's
log or cos either (a float64 ulp moves a float32 value only when it sits on a rounding boundary). Cheap enough not
to be cached: about a second for MIND-small's 65,000 news at 128-d on one core (mostly Box-Muller's log, cos and
sin), against minutes of training.
"""

from __future__ import annotations

import hashlib

import numpy as np

# Part of the run id of every run that uses `rand` (config.code_versions): bump when the vectors change.
RAND_VERSION = 1

_GAMMA = np.uint64(0x9E3779B97F4A7C15)       # splitmix64's increment (2^64 / golden ratio)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SEED_SALT = np.uint64(0xD1B54A32D192ED03)   # keeps seed 0 from leaving the id hash unmixed


def splitmix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's output function on uint64 arrays (wrapping arithmetic): a bijection that scrambles every bit."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + _GAMMA
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def news_keys(news_ids, seed: int) -> np.ndarray:
    """(N,) uint64 key of each news id string under `seed`: blake2b of the id (8 bytes, little-endian) mixed with
    the seed through splitmix64, so nearby seeds and nearby ids give unrelated keys."""
    digest = b"".join(hashlib.blake2b(str(i).encode("utf-8"), digest_size=8, person=b"newsbench-rand").digest()
                      for i in news_ids)
    h = np.frombuffer(digest, dtype="<u8").astype(np.uint64)
    with np.errstate(over="ignore"):
        s = splitmix64(np.array([seed], dtype=np.uint64) * _SEED_SALT)
    return splitmix64(h ^ s)


def placebo_vectors(news_ids, dim: int, seed: int) -> np.ndarray:
    """(N, dim) float32 N(0, 1) vectors, row i a function of (seed, news_ids[i]) alone."""
    if dim < 1:
        raise ValueError(f"dim must be positive: {dim}")
    keys = news_keys(news_ids, seed)
    pairs = (dim + 1) // 2
    counters = np.arange(1, 2 * pairs + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        bits = splitmix64(keys[:, None] + counters[None, :] * _GAMMA)          # (N, 2 * pairs)
    u = (bits >> np.uint64(11)).astype(np.float64) * 2.0 ** -53                # [0, 1), 53 random bits
    u1, u2 = 1.0 - u[:, :pairs], u[:, pairs:]                                  # u1 in (0, 1]: log stays finite
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u2
    z = np.concatenate([r * np.cos(theta), r * np.sin(theta)], axis=1)[:, :dim]
    return np.ascontiguousarray(z, dtype=np.float32)
