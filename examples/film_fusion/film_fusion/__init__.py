"""A newsbench fusion plug-in: FiLM conditioning of the other modalities on the first (docs/plugins.md)."""

from film_fusion.film import FiLMFusion

__all__ = ["FiLMFusion"]
