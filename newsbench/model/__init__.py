"""The recommender: news encoder (ID / LLM / GNN modalities, projections, fusion), user encoder, click predictor."""

from newsbench.model.encoders import NewsEncoder, UserEncoder
from newsbench.model.fusion import AttentionFusion, ConcatFusion, GateFusion, MeanFusion
from newsbench.model.registry import Fusion, has_weights, make_fusion
from newsbench.model.recommender import Recommender

__all__ = [
    "AttentionFusion", "ConcatFusion", "Fusion", "GateFusion", "MeanFusion", "NewsEncoder", "Recommender",
    "UserEncoder", "has_weights", "make_fusion",
]
