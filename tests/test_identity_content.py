"""Identity by content (issue 28 item 1): what a run reads beyond its dataset names the run by its bytes.

A `file:` vector file (and its ids) or an `st:` model folder enters the run id, the group and the feature cache key
by its sha256, not its path; records store each input; a rerun over changed bytes says so and trains a new run;
reproduce commands hold absolute paths; `ablate --dry-run` makes the real run's input checks and lists its ids.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from newsbench import digests, inputs, store
from newsbench.config import RunConfig
from newsbench.data import arrays
from newsbench.data.arrays import sha256_file
from newsbench.data.load import load_dataset
from newsbench.errors import InputError
from newsbench.features import text

REPO = Path(__file__).resolve().parents[1]
RUN_ID = re.compile(r"\b[0-9a-f]{16}\b")
FAST = ["--epochs", "1", "--batch-size", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def news_ids(tiny_dir) -> list[str]:
    return [str(n) for n in load_dataset(tiny_dir, progress=False).news.ids]


def write_vectors(folder: Path, ids: list[str], seed: int, name: str = "emb.npy", rows: int | None = None) -> Path:
    """An .npy vector file with its ids sidecar, seeded vectors for the first `rows` ids (all by default)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = ids[:rows] if rows is not None else ids
    path = folder / name
    np.save(path, np.random.default_rng(seed).normal(size=(len(ids), 8)).astype(np.float32))
    (folder / (name + ".ids")).write_text("\n".join(ids) + "\n")
    return path


@pytest.fixture
def train(cli):
    def run(tiny_dir, results, encoder="file:emb.npy", *extra):
        return cli("train", "-d", tiny_dir, "-m", "llm", "-e", encoder, *FAST, "-r", results, "--no-progress", *extra)

    return run


# ------------------------------------------------------------------------------------------------ the case
def test_editing_a_vector_file_is_a_new_run_and_the_rerun_says_why(train, cli, tiny_dir, news_ids, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)                       # `-e file:emb.npy` relative, as the issue typed it
    emb = write_vectors(tmp_path, news_ids, seed=0)
    first = train(tiny_dir, tmp_path / "r")
    assert first.exit_code == 0, first.output
    old = store.load_records(tmp_path / "r")[0]
    old_sha = sha256_file(emb)

    write_vectors(tmp_path, news_ids, seed=1)         # other vectors, same path, same ids, same size
    again = train(tiny_dir, tmp_path / "r")
    assert again.exit_code == 0, again.output
    assert "already done" not in again.output
    new_sha = sha256_file(emb)
    line = (f"llm seed 0: emb.npy changed since the recorded run {old['run_id']} "
            f"(sha256 {old_sha[:8]}.. -> {new_sha[:8]}..): training a new run")
    assert line in again.output.splitlines()
    recs = {r["run_id"]: r for r in store.load_records(tmp_path / "r")}
    assert len(recs) == 2 and old["run_id"] in recs
    new = next(r for rid, r in recs.items() if rid != old["run_id"])
    assert new["group"] != old["group"]               # a report does not pool the two contents into one row
    assert new["metrics"]["auc"] != old["metrics"]["auc"]
    # the new bytes are now recorded: a third run is done, and says nothing about a change
    third = train(tiny_dir, tmp_path / "r")
    assert third.exit_code == 0 and "already done" in third.output and "changed since" not in third.output
    # the report tells the two contents apart by the file that differs and its digest, not by group hashes
    report = cli("report", "-r", tmp_path / "r", "-d", tiny_dir, "--markdown")
    assert report.exit_code == 0, report.output
    assert f"llm [emb.npy {old_sha[:8]}]" in report.stdout and f"llm [emb.npy {new_sha[:8]}]" in report.stdout
    assert "emb.npy.ids" not in report.stdout          # the ids file did not change, so it names no row


def test_a_record_stores_each_input_with_its_absolute_path_size_and_digest(train, tiny_dir, news_ids, tmp_path,
                                                                          monkeypatch):
    monkeypatch.chdir(tmp_path)
    emb = write_vectors(tmp_path / "vec", news_ids, seed=3)
    res = train(tiny_dir, tmp_path / "r", "file:vec/emb.npy")
    assert res.exit_code == 0, res.output
    rec = store.load_records(tmp_path / "r")[0]
    ids = emb.with_name("emb.npy.ids")
    assert rec["inputs"] == {
        "text vectors": {"path": str(emb.resolve()), "size": emb.stat().st_size, "sha256": sha256_file(emb)},
        "text ids": {"path": str(ids.resolve()), "size": ids.stat().st_size, "sha256": sha256_file(ids)}}
    assert rec["config"]["text_encoder"] == f"file:{emb.resolve()}"
    assert rec["features"]["llm"]["inputs"] == rec["inputs"]
    # runs that read nothing beyond the dataset record an empty description
    plain = train(tiny_dir, tmp_path / "r", "hash")
    assert plain.exit_code == 0, plain.output
    assert [r["inputs"] for r in store.load_records(tmp_path / "r") if r["run_id"] != rec["run_id"]] == [{}]


# ------------------------------------------------------------------------------------------- content, not path
def test_the_same_bytes_at_another_path_are_the_same_run_and_other_bytes_another(news_ids, tmp_path):
    a = write_vectors(tmp_path / "a", news_ids, seed=0)
    b = write_vectors(tmp_path / "b", news_ids, seed=0, name="copy.npy")
    c = write_vectors(tmp_path / "c", news_ids, seed=1)
    cfg = {p: RunConfig(modalities=("id", "llm"), fusion="concat", text_encoder=f"file:{p}") for p in (a, b, c)}
    assert cfg[a].run_id("fp") == cfg[b].run_id("fp") != cfg[c].run_id("fp")
    assert cfg[a].group_key == cfg[b].group_key != cfg[c].group_key
    # the run id does not read the path's spelling either: a relative path is made absolute once
    rel = os.path.relpath(a)
    assert RunConfig(text_encoder=f"file:{rel}").text_encoder == f"file:{a}"
    assert RunConfig(text_encoder="st:sentence-transformers/some-model").text_encoder == \
        "st:sentence-transformers/some-model"                                  # a Hugging Face name stays a name


def test_the_feature_cache_entry_and_text_baseline_follow_the_content(tiny_dir, news_ids, tmp_path):
    from newsbench import baselines as bl

    ds = load_dataset(tiny_dir, progress=False)
    a = write_vectors(tmp_path / "a", news_ids, seed=0)
    b = write_vectors(tmp_path / "b", news_ids, seed=0, name="other.npy")
    keys, ids, labels = {}, {}, {}
    for name, path in (("a", a), ("b", b), ("a2", None)):
        if path is None:                              # `a` rewritten with other vectors
            path = write_vectors(tmp_path / "a", news_ids, seed=5)
        cfg = RunConfig(text_encoder=f"file:{path}")
        keys[name] = text.text_key(ds, cfg.text_encoder, "title", cache_dir=tmp_path / "c")[0]
        feats, info = bl.baseline_features(ds, cfg, ["text"], cache_dir=tmp_path / "c")
        record, arrays_ = bl.compute_baselines(ds, feats, info, ["text"])[0]
        bl.save_baseline(tmp_path / "r", record, arrays_)
        ids[name] = record["baseline_id"]
        labels[name] = record["label"]
    assert keys["a"] == keys["b"] != keys["a2"]
    # the label names the file and the head of its digest, not its absolute path: two contents, two labels
    assert labels["a"].startswith("text centroid (file:emb.npy ") and "/" not in labels["a"]
    assert labels["a2"] != labels["a"] and labels["b"].startswith("text centroid (file:other.npy ")
    assert ids["a"] == ids["b"] != ids["a2"]
    # one baseline per content: two paths of one content wrote one record, the new content a second
    assert sorted(r["baseline_id"] for r in bl.load_baselines(tmp_path / "r")) == sorted({ids["a"], ids["a2"]})


def test_a_model_folder_digest_changes_with_any_file_and_not_with_its_path(tmp_path):
    def model(folder: Path, weights: bytes = b"\x00\x01weights") -> Path:
        (folder / "sub").mkdir(parents=True)
        (folder / "config.json").write_text('{"dim": 8}')
        (folder / "model.safetensors").write_bytes(weights)
        (folder / "sub" / "tokenizer.json").write_text('{"vocab": ["a", "b"]}')
        (folder / ".git").mkdir()
        (folder / ".git" / "HEAD").write_text("ref: main")
        return folder

    one, two = model(tmp_path / "one"), model(tmp_path / "two")
    digest, size = digests.folder_digest(one)
    assert size == sum(p.stat().st_size for p in one.rglob("*") if p.is_file() and ".git" not in p.parts)
    assert digests.folder_digest(two)[0] == digest                     # same files elsewhere: same digest
    run = {f: RunConfig(modalities=("llm",), text_encoder=f"st:{f}").run_id("fp") for f in (one, two)}
    assert run[one] == run[two]
    (two / ".git" / "HEAD").write_text("ref: other")                  # hidden files are not the model
    assert digests.folder_digest(two)[0] == digest
    (two / "sub" / "tokenizer.json").write_text('{"vocab": ["a", "c"]}')  # a tokenizer file, not a weight
    assert digests.folder_digest(two)[0] != digest
    assert RunConfig(modalities=("llm",), text_encoder=f"st:{two}").run_id("fp") != run[one]
    (one / "config.json").rename(one / "config2.json")                # names count too
    assert digests.folder_digest(one)[0] != digest


def test_digests_are_memoised_by_path_size_and_mtime(news_ids, tmp_path, monkeypatch):
    emb = write_vectors(tmp_path, news_ids, seed=0)
    calls = []
    real = arrays.sha256_file
    monkeypatch.setattr(arrays, "sha256_file", lambda p: calls.append(Path(p).name) or real(p))
    monkeypatch.setattr(digests, "_MEMO", {})
    spec = f"file:{emb}"
    first = inputs.encoder_inputs(spec, tmp_path / "c")
    assert sorted(calls) == ["emb.npy", "emb.npy.ids"]
    calls.clear()
    assert inputs.encoder_inputs(spec, tmp_path / "c") == first and calls == []      # this process's memo
    monkeypatch.setattr(digests, "_MEMO", {})                                        # a new process: the cache's
    assert inputs.encoder_inputs(spec, tmp_path / "c") == first and calls == []
    monkeypatch.setattr(digests, "_MEMO", {})
    st = emb.stat()
    os.utime(emb, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))             # touched: hashed again
    assert inputs.encoder_inputs(spec, tmp_path / "c")["text vectors"]["sha256"] == first["text vectors"]["sha256"]
    assert calls == ["emb.npy"]


def test_runs_that_read_nothing_beyond_the_dataset_keep_their_ids():
    """The committed example records (minilm, hash-free) recompute to their own run ids and groups."""
    recs = [json.loads(p.read_text()) for p in sorted((REPO / "results" / "example" / "runs").glob("*.json"))]
    assert recs
    for rec in recs:
        cfg = RunConfig.from_dict(rec["config"])
        assert cfg.run_id(rec["dataset"]["fingerprint"]) == rec["run_id"]
        assert cfg.group_key == rec["group"]
    assert RunConfig(modalities=("id", "llm"), fusion="concat", text_encoder="hash").identity() == \
        RunConfig(modalities=("id", "llm"), fusion="concat", text_encoder="hash").identity({})


# ------------------------------------------------------------------------------------------ reproduce commands
def test_the_stored_command_finds_the_run_done_from_another_folder(train, tiny_dir, news_ids, tmp_path,
                                                                     monkeypatch):
    work = tmp_path / "work"
    write_vectors(work, news_ids, seed=0)
    monkeypatch.chdir(work)
    res = train(os.path.relpath(tiny_dir), tmp_path / "r", "file:emb.npy")
    assert res.exit_code == 0, res.output
    rec = store.load_records(tmp_path / "r")[0]
    argv = shlex.split(rec["command"])
    assert argv[argv.index("-d") + 1] == str(Path(tiny_dir).resolve())
    assert argv[argv.index("--text-encoder") + 1] == f"file:{work / 'emb.npy'}"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    again = subprocess.run([sys.executable, "-m", "newsbench", *argv[1:], "-r", str(tmp_path / "r"),
                            "--no-progress"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert f"already done ({tmp_path / 'r' / 'runs' / rec['run_id']}.json)" in " ".join(again.stdout.split())


# ------------------------------------------------------------------------------------------------------ dry run
@pytest.mark.parametrize("case", ["missing file", "unreadable file", "missing ids", "news not covered",
                                  "missing model folder"])
def test_dry_run_makes_the_real_runs_input_checks(cli, tiny_dir, news_ids, tmp_path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    if case == "unreadable file":
        emb = write_vectors(tmp_path, news_ids, seed=0)
        access = os.access        # as root chmod 000 still reads: refuse the permission check for this file only
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: Path(p) != emb and access(p, mode, **kw))
    elif case == "missing ids":
        write_vectors(tmp_path, news_ids, seed=0).with_name("emb.npy.ids").unlink()
    elif case == "news not covered":
        write_vectors(tmp_path, news_ids, seed=0, rows=len(news_ids) - 7)
    spec = {"missing file": "file:nonexist.npy", "missing model folder": "st:./no-model"}.get(case, "file:emb.npy")
    args = ["ablate", "-d", tiny_dir, "-e", spec, "--subsets", "id,id+llm", "--seeds", "0", *FAST,
            "-r", tmp_path / "r", "--no-report"]
    dry = cli(*args, "--dry-run")
    real = cli(*args)
    assert dry.exit_code == 2 and real.exit_code == 2
    expected = {"missing file": f"newsbench: error: {tmp_path / 'nonexist.npy'}: vector file not found",
                "unreadable file": f"newsbench: error: {tmp_path / 'emb.npy'}: unreadable file (permission denied)",
                "missing ids": f"newsbench: error: {tmp_path / 'emb.npy'}: an .npy vector file needs its ids",
                "news not covered": f"newsbench: error: {tmp_path / 'emb.npy'}: 7 of {len(news_ids)} news ids "
                                    f"have no vector",
                "missing model folder": f"newsbench: error: --text-encoder st:{tmp_path / 'no-model'}: no such "
                                        f"model folder"}[case]
    assert len(dry.output.strip().splitlines()) == 1 and dry.output.startswith(expected), dry.output
    assert real.output.strip().splitlines()[-1] == dry.output.strip()
    assert not RUN_ID.search(dry.output) and not (tmp_path / "r" / "runs").exists()


def test_dry_run_lists_the_ids_the_real_run_records_and_the_change(cli, tiny_dir, news_ids, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_vectors(tmp_path, news_ids, seed=0)
    args = ["ablate", "-d", tiny_dir, "-e", "file:emb.npy", "--subsets", "llm,id+llm", "--fusions", "concat",
            "--seeds", "0,1", *FAST, "-r", tmp_path / "r", "--no-report"]
    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    listed = set(RUN_ID.findall(dry.output))
    assert len(listed) == 4
    real = cli(*args)
    assert real.exit_code == 0, real.output
    assert {r["run_id"] for r in store.load_records(tmp_path / "r")} == listed
    # new bytes: the dry run lists four other ids and says which records they replace; the real run records them
    write_vectors(tmp_path, news_ids, seed=9)
    dry2 = cli(*args, "--dry-run")
    assert dry2.exit_code == 0, dry2.output
    listed2 = set(RUN_ID.findall(dry2.output)) - listed
    changed = [line for line in dry2.output.splitlines() if "emb.npy changed since the recorded run" in line]
    assert len(listed2) == 4 and len(changed) == 4 and all(line.endswith(": a new run (pending)") for line in changed)
    real2 = cli(*args)
    assert real2.exit_code == 0, real2.output
    assert sum("training a new run" in line for line in real2.output.splitlines()) == 4
    assert {r["run_id"] for r in store.load_records(tmp_path / "r")} == listed | listed2


def test_a_worker_records_the_inputs_the_driver_described_without_reading_the_files(tiny_dir, news_ids, tmp_path):
    """A Ray task on another node may not see the vector file: train_run takes its inputs from the features' info
    (what the driver digested), and the record's id is the one the driver computed."""
    from newsbench.train import train_run

    ds = load_dataset(tiny_dir, progress=False)
    emb = write_vectors(tmp_path / "driver", news_ids, seed=0)
    here = RunConfig(modalities=("llm",), text_encoder=f"file:{emb}", epochs=1, batch_size=64, dim=16,
                     user_hidden=16, history_len=10)
    described = inputs.run_inputs(here)
    driver_id = here.run_id(ds.fingerprint)
    feats = {"llm": text.text_features(ds, here.text_encoder, cache_dir=tmp_path / "c", progress=False)}
    emb.rename(tmp_path / "gone.npy")                 # the worker's view: no file at that path
    record, _ = train_run(ds, feats, here, features_info={"llm": {"inputs": described}})
    assert record["run_id"] == driver_id and record["inputs"] == described
    with pytest.raises(InputError, match="vector file not found"):
        here.run_id(ds.fingerprint)                   # without the description the id needs the bytes


def test_the_entity_vectors_are_the_datasets_own_and_in_its_fingerprint(tiny_dir, tmp_path):
    """The inductive graph's entity rows start from the data's entity_embedding.vec: a dataset file, so an edit of
    it changes the fingerprint and with it every run id; nothing else to digest."""
    import shutil

    copy = tmp_path / "tiny"
    shutil.copytree(tiny_dir, copy)
    vec = copy / "train" / "entity_embedding.vec"
    first, *rest = vec.read_text().splitlines(keepends=True)
    ident, *values = first.rstrip("\n").split("\t")
    vec.write_text("\t".join([ident, str(float(values[0]) + 1.0), *values[1:]]) + "\n" + "".join(rest))
    before, after = (load_dataset(d, progress=False) for d in (tiny_dir, copy))
    assert before.fingerprint != after.fingerprint
    assert not np.array_equal(before.entity_vectors, after.entity_vectors)
    cfg = RunConfig(modalities=("id", "gnn"), fusion="concat")
    assert inputs.run_inputs(cfg) == {} and cfg.run_id(before.fingerprint) != cfg.run_id(after.fingerprint)
