"""Frozen per-news feature matrices for the `llm` and `gnn` modalities, computed once and cached.

`load_features(dataset, cfg)` is what training calls: one float32 (N_news, D) matrix per feature modality in
cfg.modalities, row i = news index i. The `id` modality is learned inside the model and has no matrix here.
`feature_info(dataset, cfg)` describes those matrices for run records (encoder identity, weights hash, dims, graph
sizes, news with a zero graph vector).
"""

from __future__ import annotations

import os

import numpy as np

from newsbench.features.graph import graph_features_with_meta
from newsbench.features.text import text_features_with_meta

__all__ = ["load_features", "feature_info", "text_features_with_meta", "graph_features_with_meta"]

# Meta keys that are bookkeeping of one call, not properties of the features.
_VOLATILE = {"cache_hit", "sha256"}


def _text(dataset, cfg, cache_dir, progress):
    return text_features_with_meta(dataset, cfg.text_encoder, cfg.text_fields, cfg.device, cache_dir, progress)


def _graph(dataset, cfg, cache_dir, progress):
    return graph_features_with_meta(dataset, cfg.graph, cfg.graph_dim, cfg.graph_layers, cfg.graph_epochs,
                                    cfg.graph_seed, cfg.device, cache_dir, progress, model=cfg.graph_model,
                                    entity_init=cfg.entity_vectors)


def load_features(dataset, cfg, cache_dir: str | os.PathLike | None = None,
                  progress: bool = True) -> dict[str, np.ndarray]:
    """{'llm': (N, D_text), 'gnn': (N, graph_dim)} for the feature modalities in cfg.modalities, float32."""
    out: dict[str, np.ndarray] = {}
    if "llm" in cfg.modalities:
        out["llm"] = _text(dataset, cfg, cache_dir, progress)[0].astype(np.float32, copy=False)
    if "gnn" in cfg.modalities:
        out["gnn"] = _graph(dataset, cfg, cache_dir, progress)[0].astype(np.float32, copy=False)
    return out


def feature_info(dataset, cfg, cache_dir: str | os.PathLike | None = None, progress: bool = False) -> dict:
    """What a run record should say about its features: {'llm': {...}, 'gnn': {...}} for the modalities present.

    Reads the cache (computing the features first if they are not cached yet). 'llm' holds encoder, identity,
    weights_sha256, fields, dim, dtype, key; 'gnn' holds mode, dim, layers, epochs, seed, graph sizes, n_zero, key.
    """
    info: dict[str, dict] = {}
    if "llm" in cfg.modalities:
        _, meta = _text(dataset, cfg, cache_dir, progress)
        info["llm"] = {k: v for k, v in meta.items() if k not in _VOLATILE}
    if "gnn" in cfg.modalities:
        _, meta = _graph(dataset, cfg, cache_dir, progress)
        info["gnn"] = {k: v for k, v in meta.items() if k not in _VOLATILE}
    return info
