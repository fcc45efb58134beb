"""The work a grid shares: every feature matrix its configs need, computed once by the driver (and cached)."""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from newsbench.config import RunConfig
from newsbench.grid.expand import needed_modalities


def feature_config(configs: Sequence[RunConfig]) -> RunConfig | None:
    """One config asking for every feature modality of the grid (None when the grid needs only `id`)."""
    mods = tuple(m for m in needed_modalities(configs) if m != "id")
    if not mods:
        return None
    device = configs[0].device
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            device = "cpu"      # a Ray driver without a GPU computes the features its GPU workers will use
    return dataclasses.replace(configs[0], modalities=("id",) + mods, fusion="concat", device=device)


def compute_features(dataset, configs: Sequence[RunConfig], cache_dir=None, progress: bool = True
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every feature matrix the grid needs ({"llm": (N, D), "gnn": (N, 128)}), computed or read from the cache, and
    their descriptions for records ({"llm": {...}, "gnn": {...}}, newsbench.features.feature_info)."""
    fcfg = feature_config(configs)
    if fcfg is None:
        return {}, {}
    from newsbench.features import feature_info, load_features

    features = dict(load_features(dataset, fcfg, cache_dir=cache_dir, progress=progress))
    return features, dict(feature_info(dataset, fcfg, cache_dir=cache_dir, progress=False))


def features_for(features: dict[str, Any], cfg: RunConfig) -> dict[str, Any]:
    return {m: features[m] for m in cfg.modalities if m in features}
