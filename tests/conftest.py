"""Shared fixtures: the tiny generated dataset (made once per test session) and an isolated cache folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REAL_MIND = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mind-real"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    # Tests never touch the user's cache folder.
    monkeypatch.setenv("NEWSBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A `tiny` generated MIND folder (train/ + dev/), seed 0."""
    from newsbench.data.synth import generate

    out = tmp_path_factory.mktemp("tiny")
    generate("tiny", 0, out)
    return out


@pytest.fixture(scope="session")
def real_mind() -> Path:
    if not REAL_MIND.is_dir():
        pytest.skip("../shared/data/mind-real is absent")
    return REAL_MIND
