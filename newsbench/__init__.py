"""newsbench: measured, seeded, significance-tested ablations of multimodal news recommenders."""

__version__ = "0.1.0"
