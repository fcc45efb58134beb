"""Every bad option ends as one `newsbench: error:` line naming it, exit 2, before any work, nothing written; one run
identity; damaged records are redone.

The table of bad options runs through the real entry point (`newsbench.cli.main`) in ONE subprocess: a small driver
runs each case with its own argv and captured stdout/stderr, so the imports are paid once (each case's error comes
before any work, so the whole table takes a few seconds). A handful of cases also run as their own
`python -m newsbench` process, to show the driver sees what a user sees.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsbench import config, grid, options, store
from newsbench.config import RunConfig

DRIVER = r"""
import contextlib, io, json, sys, traceback
from newsbench.cli import main

out = []
for argv in json.loads(sys.stdin.read()):
    sys.argv = ["newsbench", *argv]
    so, se = io.StringIO(), io.StringIO()
    rc = None
    with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
        try:
            main()
            rc = 0
        except SystemExit as stop:
            rc = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        except BaseException:
            rc = "exception"
            se.write(traceback.format_exc())
    out.append({"rc": rc, "stdout": so.getvalue(), "stderr": se.getvalue()})
print(json.dumps(out))
from newsbench.cli import end_process
end_process(0)          # as the newsbench script ends: no native destructor can abort this process's exit
"""


def bad_cases(tiny: Path, w: Path) -> list[tuple[list[str], str]]:
    """(argv, what the error line must name). `w` is an empty folder that must stay empty."""
    t = str(tiny)
    f = str(tiny / "dataset_card.json")             # an existing file where a folder is expected
    r = ["--results", str(w / "res")]
    train = ["train", "-d", t, *r]
    ablate = ["ablate", "-d", t, *r, "--dry-run"]
    return [
        (train + ["--lr", "nan"], "--lr"),
        (train + ["--lr", "inf"], "--lr"),
        (train + ["--lr", "1e308"], "--lr"),
        (train + ["--lr", "0"], "--lr"),
        (train + ["--seed", "-1"], "--seed"),
        (train + ["--seed", "99999999999999999999"], "--seed"),
        (train + ["--batch-size", "0"], "--batch-size"),
        (train + ["--epochs", "0"], "--epochs"),
        (train + ["--negatives", "0"], "--negatives"),
        (train + ["--history-len", "100000"], "--history-len"),
        (train + ["--dim", "0"], "--dim"),
        (train + ["--id-dim", "-3"], "--id-dim"),
        (train + ["--user-hidden", "0"], "--user-hidden"),
        (train + ["--graph-dim", "0"], "--graph-dim"),
        (train + ["--graph-layers", "99"], "--graph-layers"),
        (train + ["--graph-epochs", "0"], "--graph-epochs"),
        (train + ["--graph-seed", "-1"], "--graph-seed"),
        (train + ["--cpu-threads", "0"], "--cpu-threads"),
        (train + ["--fusion", "nope"], "--fusion"),
        (train + ["--modalities", "id+foo"], "--modalities"),
        (train + ["--modalities", "id,llm"], "--modalities id+llm"),
        (train + ["--text-encoder", "hash:0"], "--text-encoder"),
        (train + ["--text-encoder", "bert"], "--text-encoder"),
        (train + ["--text-fields", "body"], "--text-fields"),
        (train + ["--graph-mode", "friends"], "--graph-mode"),
        (train + ["--device", "tpu"], "--device"),
        (train + ["--unknown-news", "keep"], "--unknown-news"),
        (train + ["--amp", "--device", "cpu"], "--amp"),
        (["train", "-d", t, "--results", f], "--results"),
        (["train", "-d", t, "--results", "/proc/newsbench-nope"], "--results"),
        (train + ["--cache-dir", f], "--cache-dir"),
        (train + ["--seeds", "0,1"], "--seeds"),
        (["train", "-d", str(tiny / "train"), *r], "-d"),
        (ablate + ["--lr", "0"], "--lr"),
        (ablate + ["--seeds", "99999999999999999999"], "--seeds"),
        (ablate + ["--seeds", "-1"], "--seeds"),
        (ablate + ["--seeds", "0,x"], "--seeds"),
        (ablate + ["--n-seeds", "0"], "--n-seeds"),
        (ablate + ["--seeds", "0", "--n-seeds", "2"], "--n-seeds"),
        (ablate + ["--alpha", "2"], "--alpha"),
        (ablate + ["--cpus-per-run", "-1"], "--cpus-per-run"),
        (ablate + ["--gpus-per-run", "-1"], "--gpus-per-run"),
        (ablate + ["--workers", "0"], "--workers"),
        (ablate + ["--subsets", "id+foo"], "--subsets"),
        (ablate + ["--fusions", "gate,nope"], "--fusions"),
        (ablate + ["--executor", "slurm"], "--executor"),
        (ablate + ["--test", "nope"], "--test"),
        (ablate + ["--modalities", "id"], "--subsets"),
        (["ablate", "-d", str(tiny / "train"), *r, "--dry-run"], "-d"),
        (["ablate", "-d", t, "--results", f, "--dry-run"], "--results"),
        (["baselines", "-d", t, "--graph-dim", "0"], "--graph-dim"),
        (["baselines", "-d", t, "--results", f], "--results"),
        (["params", "--llm-dim", "0"], "--llm-dim"),
        (["params", "--gnn-dim", "-5"], "--gnn-dim"),
        (["params", "--n-news", "-10000000"], "--n-news"),
        (["report", "--results", str(w / "nonexistent")], "not found"),
        (["report", "--results", f], "--results"),
        (["report", "--results", t, "--out", f], "--out"),
        (["report", "--results", t, "--alpha", "0"], "--alpha"),
        (["report", "--results", t, "--resamples", "0"], "--resamples"),
        (["report", "--results", t, "--test", "nope"], "--test"),
        (["report", "--results", t, "--metric", "f1"], "--metric"),
        (["embed", "graph", "-d", t, "--batch-size", "5"], "--batch-size"),
        (["embed", "graph", "-d", t, "--graph-epochs", "0"], "--graph-epochs"),
        (["embed", "text", "-d", t, "-e", "hash:0"], "--text-encoder"),
        (["embed", "text", "-d", t, "--device", "tpu"], "--device"),
        (["data", "synth", "--seed", "-1", "--out", str(w / "s")], "--seed"),
        (["data", "synth", "--scale", "huge", "--out", str(w / "s")], "--scale"),
        (["data", "synth", "--cold-share", "1.5", "--out", str(w / "s")], "--cold-share"),
        (["data", "synth", "--out", f], "--out"),
        (["data", "synth", "--out", "/proc/newsbench-x"], "--out"),
        (["data", "download", "mind-demo", "--out", f], "--out"),
        (["data", "download", "mind-demo", "--out", str(w / "d"), "--base-url", "notaurl"], "--base-url"),
    ]


def data_cases(tiny: Path, w: Path, bad: Path) -> list[tuple[list[str], str]]:
    """Bad data and cards, refused with one line naming the file (made by `_bad_folders`)."""
    return [
        (["data", "validate", str(bad / "header")], "header row"),
        (["data", "validate", str(bad / "mixed-ids")], "2 of 1,000 ids are not integers"),
        (["report", "--results", str(bad / "results"), "--card", str(bad / "other" / "dataset_card.json")],
         "--card"),
        (["report", "--results", str(bad / "results"), "--card", str(bad / "copied" / "dataset_card.json")],
         "--card"),
        (["ablate", "-d", str(bad / "valid"), "--results", str(w / "res"), "--dry-run"], "valid/"),
    ]


def _bad_folders(tiny: Path, root: Path) -> Path:
    import shutil

    from newsbench.data.load import load_dataset
    from newsbench.data.synth import generate

    lines = (tiny / "train" / "behaviors.tsv").read_text().splitlines()

    def variant(name: str, new_lines: list[str]) -> None:
        shutil.copytree(tiny, root / name)
        (root / name / "train" / "behaviors.tsv").write_text("\n".join(new_lines) + "\n")

    variant("header", ["impression_id\tuser\ttime\thistory\timpressions"] + lines)
    variant("mixed-ids", ["\t".join(["x" + row.split("\t")[0]] + row.split("\t")[1:]) if i in (3, 7) else row
                          for i, row in enumerate(lines)])
    variant("string-ids", ["\t".join([f"demo-{i}"] + row.split("\t")[1:]) for i, row in enumerate(lines)])
    variant("repeated", lines[:5] + [lines[2]] + lines[5:])
    (root / "valid").mkdir()
    shutil.copytree(tiny / "train", root / "valid" / "train")
    shutil.copytree(tiny / "dev", root / "valid" / "valid")
    # a card of other data: in its own folder (fingerprint check), and copied alone (size check: another scale)
    generate("tiny", 1, root / "other")
    generate("tiny", 0, root / "small", cold_share=0.2)
    (root / "copied").mkdir()
    other = json.loads((root / "small" / "dataset_card.json").read_text())
    other["sizes"]["dev_impressions"] += 1
    (root / "copied" / "dataset_card.json").write_text(json.dumps(other))
    # a results folder with one record of `tiny`
    ds = load_dataset(tiny, progress=False)
    rec = {"run_id": "r0", "label": "id", "config": {"seed": 0},
           "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "n_news": len(ds.news),
                       "n_train_impressions": len(ds.train), "n_dev_impressions": len(ds.dev)}}
    store.runs_dir(root / "results").mkdir(parents=True)
    (store.runs_dir(root / "results") / "r0.json").write_text(json.dumps(rec))
    return root


def _listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


def _run_driver(argvs: list[list[str]]) -> list[dict]:
    proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps(argvs), capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_every_bad_option_is_one_error_line_before_any_work(tiny_dir, tmp_path):
    w = tmp_path / "w"
    w.mkdir()
    bad = _bad_folders(tiny_dir, tmp_path / "bad")
    cases = bad_cases(tiny_dir, w) + data_cases(tiny_dir, w, bad)
    assert len(cases) >= 40
    before = _listing(tiny_dir)
    results = _run_driver([argv for argv, _ in cases])
    problems = []
    for (argv, names), res in zip(cases, results):
        lines = res["stderr"].splitlines()
        ok = (res["rc"] == 2 and len(lines) == 1 and lines[0].startswith("newsbench: error: ")
              and names in lines[0] and "Traceback" not in res["stderr"] + res["stdout"])
        if not ok:
            problems.append(f"{' '.join(argv)} -> rc {res['rc']}: {res['stderr'][-500:]!r}")
    assert not problems, "\n".join(problems)
    assert _listing(w) == [], "a refused command wrote something"
    assert _listing(tiny_dir) == before


@pytest.mark.parametrize("argv,names", [
    (["ablate", "--lr", "nan", "--dry-run"], "--lr"),
    (["params", "--n-news", "-1"], "--n-news"),
    (["train", "--fusion", "x"], "--fusion"),
])
def test_real_process_matches(argv, names):
    proc = subprocess.run([sys.executable, "-m", "newsbench", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("newsbench: error: ") and names in lines[0]
    assert proc.stdout == ""


@pytest.mark.slow
def test_choices_are_case_insensitive_and_duplicates_warned(tiny_dir, tmp_path):
    results = _run_driver([
        ["ablate", "-d", str(tiny_dir), "--results", str(tmp_path / "r"), "--dry-run", "--seeds", "0,0",
         "--subsets", "ID+llm,id+LLM", "--fusions", "GATE", "--test", "TTEST", "-e", "HASH", "--graph-mode", "CLICKS"],
        ["data", "synth", "--scale", "TINY", "--out", str(tmp_path / "s"), "--no-progress"],
    ])
    dry, synth = results
    assert dry["rc"] == 0, dry["stderr"]
    assert "--seeds '0,0': repeated seeds are run once; kept 0" in dry["stderr"]
    assert "--subsets 'ID+llm,id+LLM': repeated subsets are run once; kept id+llm" in dry["stderr"]
    assert "1 run: 0 done, 1 pending" in dry["stdout"]
    assert not (tmp_path / "r").exists()            # a dry run writes nothing
    assert synth["rc"] == 0, synth["stderr"]
    assert (tmp_path / "s" / "dataset_card.json").is_file()


@pytest.mark.slow
def test_data_that_is_read_with_a_warning(tiny_dir, tmp_path):
    bad = _bad_folders(tiny_dir, tmp_path / "bad")
    strid, repeated, valid, card = _run_driver([
        ["data", "validate", str(bad / "string-ids")],
        ["data", "validate", str(bad / "repeated")],
        ["data", "validate", str(bad / "valid")],
        ["report", "--results", str(bad / "results"), "--card", str(tiny_dir / "dataset_card.json"), "--csv"],
    ])
    assert strid["rc"] == 0 and strid["stdout"].startswith("ok: ")
    assert "1,000 of 1,000 impression ids are not integers (line 1: 'demo-0'); impressions are numbered by their " \
           "line" in strid["stderr"]
    assert repeated["rc"] == 0
    assert "1 repeated impression id (line 6 repeats line 3 exactly); every row is kept as its own impression, numbered by its line" in repeated["stderr"]
    assert valid["rc"] == 0 and "no dev split" in valid["stderr"] and "valid: ignored" in valid["stderr"]
    # the right card passes the check (the report then fails later, on the fake record's missing arrays)
    assert "--card" not in card["stderr"]


def test_download_checks_before_making_folders(tmp_path):
    from newsbench.data.download import download_mind
    from newsbench.errors import InputError

    with pytest.raises(InputError, match="--base-url"):
        download_mind("mind-demo", tmp_path / "d", base_url="notaurl", progress=False)
    with pytest.raises(InputError, match="cannot reach"):
        download_mind("mind-demo", tmp_path / "d", base_url="http://127.0.0.1:9/", progress=False, timeout=2)
    assert not (tmp_path / "d").exists()            # a failed first download leaves no empty folders


def test_with_run_options_lists_them_after_the_named_parameter_and_hands_them_over():
    import inspect

    from newsbench.cli.options import with_run_options

    @with_run_options("cpu_threads", after="b")
    @with_run_options("epochs", "lr", after="a")
    def command(a: int = 1, b: int = 2, **run):
        return a, b, run

    assert list(inspect.signature(command).parameters) == ["a", "epochs", "lr", "b", "cpu_threads"]
    assert command(a=1, b=2, epochs=3, lr=0.1, cpu_threads=4) == (1, 2, {"epochs": 3, "lr": 0.1, "cpu_threads": 4})
    with pytest.raises(TypeError, match="kwargs"):
        with_run_options("epochs", after="a")(lambda a=1: a)
    with pytest.raises(TypeError, match="no parameter"):
        with_run_options("epochs", after="z")(command)


# ------------------------------------------------------------------------------------------------ run identity

def test_run_id_depends_only_on_what_can_change_the_run():
    fp = "fp"
    base = RunConfig(modalities=("id", "llm", "gnn"), text_encoder="hash")
    # one encoder, three spellings
    assert RunConfig(text_encoder="HASH").run_id(fp) == RunConfig(text_encoder="hash").run_id(fp) \
        == RunConfig(text_encoder="hash:384").run_id(fp) == RunConfig(text_encoder=" Hash:0384 ").run_id(fp)
    assert RunConfig(text_encoder="hash:64").run_id(fp) != RunConfig(text_encoder="hash").run_id(fp)
    assert RunConfig(text_encoder="st:Some/Model").text_encoder == "st:Some/Model"    # names keep their case
    # options of an absent modality do not count
    id_only = RunConfig(modalities=("id",))
    for change in ({"graph": "clicks"}, {"graph_epochs": 4}, {"graph_model": "lightgcn"}, {"graph_dim": 16}, {"graph_seed": 5},
                   {"graph_layers": 1}, {"text_encoder": "hash"}, {"text_fields": "title+abstract"}):
        assert RunConfig(modalities=("id",), **change).run_id(fp) == id_only.run_id(fp), change
        assert RunConfig(modalities=("id",), **change).group_key == id_only.group_key, change
    assert RunConfig(modalities=("llm", "gnn"), id_dim=8).run_id(fp) == RunConfig(modalities=("llm", "gnn")).run_id(fp)
    assert RunConfig(modalities=("id", "llm"), graph="clicks").run_id(fp) == \
        RunConfig(modalities=("id", "llm")).run_id(fp)
    # ... and those of a present one, or of the training, do
    for change in ({"graph": "clicks"}, {"graph_epochs": 4}, {"graph_model": "lightgcn"}, {"text_encoder": "hash:64"}, {"lr": 0.01},
                   {"seed": 1}, {"dim": 64}, {"id_dim": 64}, {"cpu_threads": 2}):
        import dataclasses

        assert dataclasses.replace(base, **change).run_id(fp) != base.run_id(fp), change
    assert base.run_id("other") != base.run_id(fp)
    # fusion spelling
    assert RunConfig(fusion="GATE").run_id(fp) == RunConfig(fusion="gate").run_id(fp)


def test_hash_default_width_matches_the_encoder():
    from newsbench.features.text import DEFAULT_HASH_DIM

    assert options.DEFAULT_HASH_DIM == DEFAULT_HASH_DIM


def _train_params(command: str) -> dict:
    """The parameters `newsbench train` gets from a command line, through its own option callbacks."""
    import shlex

    import typer.main

    from newsbench.cli import app

    argv = shlex.split(command)
    assert argv[:2] == ["newsbench", "train"]
    cmd = typer.main.get_command(app).commands["train"]
    return cmd.make_context("train", argv[2:]).params


def test_the_stored_train_command_reproduces_any_ablate_config():
    cfg = RunConfig(modalities=("id", "llm", "gnn"), fusion="gate", seed=7, epochs=2, batch_size=64, lr=0.003,
                    negatives=2, history_len=20, id_dim=16, dim=32, user_hidden=24, text_encoder="hash:64",
                    text_fields="title+abstract", graph="clicks", graph_dim=16, graph_layers=2, graph_epochs=5,
                    graph_seed=3, cpu_threads=2)
    command = config.train_command(cfg.to_dict(), "/data/my mind")
    p = _train_params(command)
    assert p["data"] == Path("/data/my mind")
    again = RunConfig(modalities=grid.parse_modalities(p["modalities"]), fusion=p["fusion"], seed=p["seed"],
                      epochs=p["epochs"], batch_size=p["batch_size"], lr=p["lr"], negatives=p["negatives"],
                      history_len=p["history_len"], id_dim=p["id_dim"], dim=p["dim"], user_hidden=p["user_hidden"],
                      text_encoder=p["text_encoder"], text_fields=p["text_fields"], graph=p["graph"],
                      graph_dim=p["graph_dim"], graph_layers=p["graph_layers"], graph_epochs=p["graph_epochs"],
                      graph_seed=p["graph_seed"], cpu_threads=p["cpu_threads"])
    assert again.run_id("fp") == cfg.run_id("fp")
    # defaults and options of absent modalities are left out
    short = config.train_command(RunConfig(modalities=("id",), graph="clicks").to_dict())
    assert short == "newsbench train --modalities id --seed 0"


# ------------------------------------------------------------------------------------------------ damaged records

def _fake_run(dataset, features, cfg, progress=None):
    rid = cfg.run_id(dataset.fingerprint)
    rec = {"run_id": rid, "config": cfg.to_dict(), "label": cfg.label, "group": cfg.group_key}
    return rec, {"impression_id": np.arange(3), "auc": np.full(3, 0.5)}


def test_a_damaged_record_counts_as_pending_and_is_trained_again(tmp_path):
    from types import SimpleNamespace

    data = SimpleNamespace(name="fake", fingerprint="fp-fake")
    configs = grid.expand_grid([("id",)], [], [0, 1, 2], RunConfig(epochs=1))
    ids = [c.run_id(data.fingerprint) for c in configs]

    def run():
        return grid.run_grid(configs, data, tmp_path, executor=grid.LocalExecutor(data, {}, run_fn=_fake_run))

    assert len(run().ran) == 3
    assert all(store.record_state(tmp_path, i) == "done" for i in ids)
    json0, _ = store.record_paths(tmp_path, ids[0])
    json0.write_text(json0.read_text()[:20])                 # truncated JSON
    store.record_paths(tmp_path, ids[1])[1].unlink()         # missing .npz
    assert store.record_state(tmp_path, ids[0]) == "damaged" and "parse" in store.damage(tmp_path, ids[0])
    assert store.record_state(tmp_path, ids[1]) == "damaged" and store.damage(tmp_path, ids[1]) == "no .npz"
    assert [grid.run_status(tmp_path, i) for i in ids] == ["pending", "pending", "done"]
    res = run()
    assert sorted(res.ran) == sorted(ids[:2]) and res.done_before == 1
    assert all(store.record_state(tmp_path, i) == "done" for i in ids)


@pytest.mark.slow
def test_ablate_warns_about_a_damaged_record(tiny_dir, tmp_path):
    """Through the CLI: the dry run says which record is damaged and counts it as pending."""
    from newsbench.data.load import load_dataset

    ds = load_dataset(tiny_dir, progress=False)
    cfg = RunConfig(modalities=("id",), seed=0, device="cpu")
    rid = cfg.run_id(ds.fingerprint)
    runs = store.runs_dir(tmp_path / "r")
    runs.mkdir(parents=True)
    (runs / f"{rid}.json").write_text('{"run_id": "' + rid + '", "trunc')
    [res] = _run_driver([["ablate", "-d", str(tiny_dir), "--results", str(tmp_path / "r"), "--subsets", "id",
                          "--seeds", "0", "--dry-run", "--device", "cpu"]])
    assert res["rc"] == 0, res["stderr"]
    assert f"newsbench: warning: run {rid} (id seed 0) has a damaged record" in res["stderr"]
    assert "1 run: 0 done, 1 pending" in res["stdout"]
