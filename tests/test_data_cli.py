"""`newsbench data info` and `validate`: numbers checked against the arrays and against MIND's own stats.json."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from test_mind import write_mind, write_split, TRAIN_NEWS, TRAIN_BEH, behaviors_row
from typer.testing import CliRunner

from newsbench.cli import app, main
from newsbench.data.mind import read_mind

runner = CliRunner()


def info_json(*args) -> dict:
    result = runner.invoke(app, ["data", "info", *map(str, args), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_info_json_matches_arrays(tmp_path):
    root = write_mind(tmp_path / "m")
    stats = info_json(root, "--cache-dir", tmp_path / "cache")
    ds = read_mind(root)
    assert stats["news"] == len(ds.news) and stats["users"] == len(ds.users)
    tr, dv = stats["splits"]["train"], stats["splits"]["dev"]
    assert tr["impressions"] == len(ds.train) and tr["candidates"] == len(ds.train.cand)
    assert tr["clicks"] == int((ds.train.label == 1).sum())
    assert tr["click_through_rate"] == pytest.approx(tr["clicks"] / tr["candidates"])
    assert tr["history_length"]["max"] == np.diff(ds.train.hist_ptr).max()
    assert tr["history_length"]["p50"] == np.median(np.diff(ds.train.hist_ptr))
    assert tr["empty_history_fraction"] == pytest.approx(1 / 3)
    # Dev candidates N5 (never in train) and N2 (in train): half are cold.
    assert dv["unseen_in_train_candidate_share"] == pytest.approx(0.5)
    assert sum(stats["category_share"].values()) == pytest.approx(1.0)
    shares = list(stats["category_share"].values())
    assert shares == sorted(shares, reverse=True)


def test_info_keys_follow_mind_stats(real_mind):
    """--raw on the real sample reproduces its published marginals (computed independently of newsbench)."""
    ref = json.loads((real_mind / "small-sample" / "stats.json").read_text())
    got = info_json(real_mind / "small-sample" / "train", "--raw")
    tr = got["splits"]["train"]
    for key in ("history_length", "impression_size", "clicks_per_impression"):
        assert set(ref[key]) == set(tr[key])
        for q, v in ref[key].items():
            assert tr[key][q] == pytest.approx(v, abs=1e-3), (key, q)
    for key in ("impressions", "distinct_users"):
        assert tr[key] == ref[key]
    assert tr["empty_history_fraction"] == pytest.approx(ref["empty_history_fraction"], abs=1e-4)
    assert tr["click_through_rate"] == pytest.approx(ref["click_through_rate"], abs=1e-4)
    for key in ("clicked_news", "history_news"):
        for k, v in ref[key].items():
            assert tr[key][k] == pytest.approx(v, abs=1e-4), (key, k)
    for key in ("title_words", "abstract_words"):
        for q, v in ref[key].items():
            assert got[key][q] == pytest.approx(v, abs=1e-3), (key, q)
    assert got["subcategories"] == ref["subcategories"]
    assert got["empty_abstract_fraction"] == pytest.approx(ref["empty_abstract_fraction"])
    for cat, share in ref["category_share"].items():
        assert got["category_share"][cat] == pytest.approx(share, abs=1e-4)


def test_info_rich_and_validate_on_real_rows(real_mind, tmp_path):
    cache = str(tmp_path / "cache")
    result = runner.invoke(app, ["data", "info", str(real_mind / "small-head"), "--unknown-news", "drop",
                                 "--cache-dir", cache])
    assert result.exit_code == 0, result.output
    for word in ("impressions", "CTR", "history length p50", "unseen in train", "lifestyle"):
        assert word in result.stdout
    result = runner.invoke(app, ["data", "validate", str(real_mind / "small-head"), "--unknown-news", "drop",
                                 "--cache-dir", cache])
    assert result.exit_code == 0 and result.stdout.startswith("ok: ")


def test_validate_exit_codes(tmp_path, monkeypatch, capsys):
    root = write_mind(tmp_path / "ok")
    monkeypatch.setattr(sys, "argv", ["newsbench", "data", "validate", str(root)])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("ok: ") and "train 3 impressions" in out
    write_split(tmp_path / "bad" / "train", TRAIN_NEWS,
                TRAIN_BEH + [behaviors_row(4, "U1", "11/11/2019 9:05:58 AM", ["N1"], ["N404-1"])])
    monkeypatch.setattr(sys, "argv", ["newsbench", "data", "validate", str(tmp_path / "bad")])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "behaviors.tsv:4: unknown news id N404" in err[0]


@pytest.mark.parametrize("command", ["info", "validate", "download"])
def test_help_has_example(command):
    result = runner.invoke(app, ["data", command, "--help"])
    assert result.exit_code == 0 and "Example" in result.stdout
