"""Parameter counts equal DESIGN.md's arithmetic; FLOPs per news equal the matmul arithmetic; the CLI shows them."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from newsbench.config import FUSIONS, RunConfig
from newsbench.params import count_params, flops_per_news, params_table, subsets

D = 256


def lin(i: int, o: int) -> int:
    return i * o + o


@pytest.mark.parametrize("fusion,expected", [("concat", 525_056), ("gate", 2_307), ("attention", 66_048),
                                             ("attention-unscaled", 66_048), ("mean", 0)])
def test_three_modality_fusion_counts_match_design(fusion, expected):
    p = count_params(RunConfig(fusion=fusion), llm_dim=384, gnn_dim=128, n_id_rows=1001)
    assert p["fusion"] == expected
    # the design's own decomposition
    assert lin(768, 512) + lin(512, 256) == 525_056 and lin(768, 3) == 2_307 and 256 + lin(256, 256) == 66_048


def test_components_add_up_for_every_subset_and_fusion():
    for mods in subsets():
        for fusion in FUSIONS:
            cfg = RunConfig(modalities=mods, fusion=fusion)
            k = len(cfg.modalities)
            p = count_params(cfg, llm_dim=1536, gnn_dim=128, n_id_rows=501)
            assert p["id_embedding"] == (501 * 128 if "id" in mods else 0)
            dims = {"id": 128, "llm": 1536, "gnn": 128}
            assert p["projections"] == sum(lin(dims[m], D) for m in cfg.modalities)
            for m in cfg.modalities:
                assert p[f"projection_{m}"] == lin(dims[m], D)
            expected_fusion = {"concat": lin(D * k, 512) + lin(512, D), "gate": lin(D * k, k),
                               "attention": D + lin(D, D), "attention-unscaled": D + lin(D, D), "mean": 0}
            assert p["fusion"] == (0 if k == 1 else expected_fusion[cfg.fusion])
            assert p["user_encoder"] == lin(D, 200) + lin(200, 1) + D
            assert p["total"] == p["id_embedding"] + p["projections"] + p["fusion"] + p["user_encoder"]


def test_flops_per_news_equal_the_matmul_arithmetic():
    n = 4096                                    # news per forward (params.NEWS_PER_FORWARD)
    proj = 2 * D * (128 + 384 + 128)
    # concat, folded: per news the (512, 640) first layer and Linear(512, 256); per forward the folded weight
    # W1_m P_m (512 x 256 x in_m each) and bias (W1_m c_m, a (1, 256) x (256, 512) product each)
    fold = 2 * 512 * D * (128 + 384 + 128) + 3 * 2 * D * 512
    assert flops_per_news(RunConfig(fusion="concat")) == (n * 2 * (640 * 512 + 512 * D) + fold) // n
    assert flops_per_news(RunConfig(fusion="concat")) < proj + 2 * (768 * 512 + 512 * D)    # the literal form
    assert flops_per_news(RunConfig(fusion="gate")) == proj + 2 * 768 * 3 + 2 * 3 * D
    # scores h.(W^T q) and alpha^T H per news; the folded key W^T q once per forward
    per_batch = 2 * D * D                       # (the q.b dot is a vector dot FlopCounterMode skips)
    assert flops_per_news(RunConfig(fusion="attention")) == (n * (proj + 2 * 3 * D + 2 * 3 * D) + per_batch) // n
    assert flops_per_news(RunConfig(modalities=("id",))) == 2 * 128 * D


def test_params_table_covers_every_subset_and_fusion():
    rows = params_table(n_id_rows=11)
    assert len(rows) == 3 + 4 * len(FUSIONS)
    assert len({r["label"] for r in rows}) == len(rows)


def test_cli_params_prints_the_design_numbers():
    from newsbench.cli import app

    res = CliRunner().invoke(app, ["params"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    for n in ("525,056", "2,307", "66,048"):
        assert n in res.output
    md = CliRunner().invoke(app, ["params", "--markdown", "--llm-dim", "1536"])
    assert md.exit_code == 0 and "| id+llm+gnn/attention |" in md.output


@pytest.mark.slow      # the full table: every subset x fusion, FLOPs counted (several seconds)
def test_params_piped_fits_80_columns_with_every_count_whole(monkeypatch):
    # Not a terminal and no COLUMNS: rich assumes 80 columns; the table is cut into parts of whole columns instead
    # of truncating counts ("6,564...") or folding them.
    from typer.testing import CliRunner

    from newsbench import params as params_mod
    from newsbench.cli import app

    computed = []
    real = params_mod.params_table
    monkeypatch.setattr(params_mod, "params_table", lambda **kw: computed.append(real(**kw)) or computed[-1])
    res = CliRunner().invoke(app, ["params"], env={"COLUMNS": None, "LINES": None})
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in res.stdout and "..." not in res.stdout and "part 2 of 2" in res.stdout
    for row in computed[0]:
        for key in ("id_embedding", "projections", "fusion", "user_encoder", "total", "flops_per_news"):
            assert any(f"{row[key]:,}" in line.split() for line in lines if line.startswith(row["label"] + " "))
