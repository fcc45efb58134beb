"""`newsbench embed text|graph` through Typer's CliRunner (and one subprocess for the exit-2 error path)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from newsbench.cli import app
from newsbench.cli import embed as embed_cli
from test_graph_features import make_feature_dataset

runner = CliRunner()


@pytest.fixture()
def toy(monkeypatch):
    """Serve the in-memory feature dataset instead of reading a folder."""
    ds = make_feature_dataset()
    monkeypatch.setattr(embed_cli.common, "load_data", lambda data, cache_dir, unknown_news="error": ds)
    return ds


def test_help_has_examples():
    for cmd in ("text", "graph"):
        res = runner.invoke(app, ["embed", cmd, "--help"])
        assert res.exit_code == 0
        assert "Examples" in res.output and f"newsbench embed {cmd}" in res.output


def test_embed_text_hash_then_cache_hit(toy, tmp_path):
    args = ["embed", "text", "--cache-dir", str(tmp_path), "--text-encoder", "hash", "--device", "cpu",
            "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert f"{len(toy.news)} x 384 float32" in first.output and "texts/s" in first.output
    npy = next((tmp_path / "features").glob("text-*.npy"))
    assert np.load(npy).shape == (len(toy.news), 384)
    second = runner.invoke(app, args)
    assert second.exit_code == 0 and "cache hit" in second.output
    half = runner.invoke(app, args + ["--fp16", "--text-fields", "title+abstract"])
    assert half.exit_code == 0 and "float16" in half.output and "title+abstract" in half.output


def test_embed_graph(toy, tmp_path):
    res = runner.invoke(app, ["embed", "graph", "--cache-dir", str(tmp_path), "--graph-dim", "8", "--graph-layers", "1",
                              "--graph-epochs", "2", "--graph-seed", "1", "--graph-mode", "both", "--device", "cpu",
                              "--batch-size", "1024", "--no-progress", "--graph-model", "lightgcn"])
    assert res.exit_code == 0, res.output
    assert f"{len(toy.news)} x 8 float32" in res.output
    assert "1 news with no edge" in res.output and "BPR loss" in res.output
    assert "cold/warm norm" in res.output and "cold near warm" in res.output
    assert len(list((tmp_path / "features").glob("graph-*.npy"))) == 1


def test_embed_graph_default_is_inductive(toy, tmp_path):
    res = runner.invoke(app, ["embed", "graph", "--cache-dir", str(tmp_path), "--graph-dim", "8",
                              "--graph-epochs", "1", "--no-progress"], terminal_width=200)
    assert res.exit_code == 0, res.output
    assert "inductive entity encoder" in res.output and "softmax loss" in res.output
    assert re.search(r"cold/warm norm +│ 1.000 ", res.output)        # unit vectors, cold and warm alike
    assert "share the 'no entity' row" in res.output


def test_bad_options(toy, tmp_path):
    res = runner.invoke(app, ["embed", "graph", "--graph-mode", "friends", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2 and "friends" in res.output
    res = runner.invoke(app, ["embed", "text", "--text-encoder", "bert", "--cache-dir", str(tmp_path)])
    assert res.exit_code == 2 and "unknown text encoder" in res.output


def test_input_error_is_one_line_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "newsbench", "embed", "text", "--text-encoder", "bert",
                           "--cache-dir", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["newsbench: error: --text-encoder 'bert': unknown text encoder; use "
                                                "minilm, hash, hash:DIM, st:NAME_OR_PATH, file:PATH, ebnerd:PATH, "
                                                "an installed plug-in's name or package.module:ClassName (see "
                                                "`newsbench embed text --help`)"]


def test_embed_on_generated_tiny(tiny_dir, tmp_path):
    """End to end through the real loader: the generated `tiny` folder, hash text and a short graph."""
    from newsbench.config import RunConfig
    from newsbench.data.load import load_dataset
    from newsbench.features import feature_info, load_features

    res = runner.invoke(app, ["embed", "text", "-d", str(tiny_dir), "--cache-dir", str(tmp_path), "-e", "hash",
                              "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["embed", "graph", "-d", str(tiny_dir), "--cache-dir", str(tmp_path),
                              "--graph-epochs", "2", "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    ds = load_dataset(tiny_dir, cache_dir=tmp_path, progress=False)
    cfg = RunConfig(text_encoder="hash", graph_epochs=2)
    feats = load_features(ds, cfg, cache_dir=tmp_path, progress=False)       # both served by the CLI's cache
    assert feats["llm"].shape == (len(ds.news), 384) and feats["gnn"].shape == (len(ds.news), 128)
    info = feature_info(ds, cfg, cache_dir=tmp_path)
    assert info["llm"]["n_news"] == len(ds.news)
    assert info["gnn"]["n_zero"] == int((~feats["gnn"].any(axis=1)).sum())
