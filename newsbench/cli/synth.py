"""`newsbench data synth`: write a generated MIND-format dataset with planted, known modality signals."""

from __future__ import annotations

from pathlib import Path

import typer

from newsbench.cli.common import OUTPUT, paragraphs
from newsbench.cli.options import choice_option, other_option, run_option
from newsbench.errors import InputError
from newsbench.paths import check_writable_dir


HELP = """Generate MIND-format train/ and dev/ folders plus dataset_card.json, from a known click model (or, with
--format ebnerd, the same world as EB-NeRD's articles.parquet, train/ and validation/).

Clicks mix popularity (ID), topic (title words) and community (entities, co-clicks), weighted per category. The card
lists the weights and the dev metrics of reference scorers: the oracle, the learnable ceiling, training-free centroids
and random ranking. Sizes of each scale: docs/generated-data.md."""


def register(app: typer.Typer) -> None:
    """Add the `synth` command to the `data` group."""

    @app.command(help=paragraphs(HELP), epilog="Example: newsbench data synth --scale small --seed 1 --out "
                 "../synth-small-s1")
    def synth(
        out: Path = typer.Option(..., "--out", "-o", help="Folder to create (new or empty)."),
        scale: str = choice_option(
            "demo", ("--scale",), ("tiny", "demo", "small"),
            help="tiny (300 users), demo (5,000) or small (MIND-small's 50,000).",
        ),
        seed: int = run_option("seed", 0, help="Random seed: one seed, the same bytes.", rich_help_panel=None),
        cold_share: float = other_option("cold_share", 0.4),
        fmt: str = choice_option("mind", ("--format",), ("mind", "ebnerd"),
                                 help="mind (tsv) or ebnerd (EB-NeRD's parquet schema): the same world."),
        progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress spinner.",
                                      rich_help_panel=OUTPUT, show_default=False),
    ):
        import json
        import time

        from newsbench.data.synth import SCALES, generate

        if scale not in SCALES:
            raise InputError(f"--scale {scale!r}: choose one of {', '.join(SCALES)}")
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: is a file; choose a new folder")
        if out.is_dir() and any(out.iterdir()):
            raise InputError(f"--out {out}: folder exists and is not empty; choose a new folder")
        check_writable_dir(out, "--out")
        t0 = time.perf_counter()
        path = generate(scale, seed, out, progress=progress, cold_share=cold_share, fmt=fmt)
        card = json.loads((path / "dataset_card.json").read_text())
        s, ref = card["sizes"], card["reference_dev"]
        lc = ref["learnable_ceiling"]
        print(f"wrote {path} in {time.perf_counter() - t0:.1f} s: {s['news']:,} news, {s['users']:,} users, "
              f"{s['train_impressions']:,} train + {s['dev_impressions']:,} dev impressions, "
              f"{s['dev_cold_candidate_share']:.1%} of dev candidates unseen in train; "
              f"oracle dev AUC {ref['oracle']['overall']['auc']:.4f}, learnable ceiling "
              f"{lc['overall']['auc']:.4f} (cold {lc['cold']['auc']:.4f})")
