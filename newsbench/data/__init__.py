"""MIND-format data: reading, validation, cached arrays, download and the generator."""

from newsbench.data.dataset import Behaviors, Dataset, News

__all__ = ["Behaviors", "Dataset", "News"]
