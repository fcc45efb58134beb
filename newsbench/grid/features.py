"""The work a grid shares: every feature matrix its configs need, computed once by the driver (and cached)."""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Sequence

from newsbench.config import RunConfig
from newsbench.grid.expand import needed_modalities

FEATURE_MODALITIES = ("llm", "gnn")      # the modalities whose matrices a grid computes once and shares


def feature_config(configs: Sequence[RunConfig]) -> RunConfig | None:
    """One config asking for every feature modality of the grid (None when the grid needs only `id`)."""
    # the cached feature modalities only: `rand` is drawn per run from the run's seed (newsbench.train.feature_matrix)
    mods = tuple(m for m in needed_modalities(configs) if m in FEATURE_MODALITIES)
    if not mods:
        return None
    device = configs[0].device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            device = "cpu"      # a Ray driver without a GPU computes the features its GPU workers will use
    return dataclasses.replace(configs[0], modalities=("id",) + mods, fusion="concat", device=device)


def compute_features(dataset, configs: Sequence[RunConfig], cache_dir=None, progress: bool = True, clock=None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every feature matrix the grid needs ({"llm": (N, D), "gnn": (N, 128)}), computed or read from the cache, and
    their descriptions for records ({"llm": {...}, "gnn": {...}}, newsbench.features.feature_info). With a
    `clock` (newsbench.timing.StageClock) each modality's time goes to its stage ('text features', 'graph
    features')."""
    fcfg = feature_config(configs)
    if fcfg is None:
        return {}, {}
    from newsbench.features import feature_info, load_features

    features: dict[str, Any] = {}
    info: dict[str, Any] = {}
    for mod in fcfg.modalities[1:]:
        one = dataclasses.replace(fcfg, modalities=("id", mod))
        with (clock(_STAGE[mod]) if clock is not None else contextlib.nullcontext()):
            features.update(load_features(dataset, one, cache_dir=cache_dir, progress=progress))
            info.update(feature_info(dataset, one, cache_dir=cache_dir, progress=False))
    return features, info


_STAGE = {"llm": "text features", "gnn": "graph features"}


def features_for(features: dict[str, Any], cfg: RunConfig) -> dict[str, Any]:
    return {m: features[m] for m in cfg.modalities if m in features}
