"""Grid expansion, claims and the driver loop, with a stand-in for train_run (fast, no torch training)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import signal
import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

from newsbench import atomic, grid, store
from newsbench.config import NO_FUSION, RunConfig
from newsbench.grid import driver
from newsbench.errors import InputError

BASE = RunConfig(epochs=1, text_encoder="hash")


# ---- a stand-in dataset and train_run (module level so spawned pool workers can import them) ----

def fake_load(data_path, cache_dir, unknown_news):
    return SimpleNamespace(name="fake", fingerprint="fp-fake")


def fake_features(dataset, cfg, cache_dir):
    return {m: np.full((3, 2), i, dtype=np.float32) for i, m in enumerate(cfg.modalities) if m != "id"}


def fake_run(dataset, features, cfg, progress=None):
    """Deterministic per-impression metrics from the config alone, like a real run on CPU."""
    assert set(features) == set(cfg.modalities) - {"id"}
    rng = np.random.default_rng(int(cfg.run_id(dataset.fingerprint), 16) % 2**32)
    auc = rng.random(20)
    if progress is not None:
        progress({"event": "step", "epoch": 0, "epochs": 1, "step": 1, "steps": 1, "loss": 0.5})
    record = {"run_id": cfg.run_id(dataset.fingerprint), "config": cfg.to_dict(), "label": cfg.label,
              "group": cfg.group_key, "metrics": {"auc": float(auc.mean())}}
    return record, {"impression_id": np.arange(20), "auc": auc}


class CountingRun:
    def __init__(self, fail_at: int | None = None, exc: type[BaseException] = RuntimeError, delay: float = 0.0):
        self.calls: list[str] = []
        self.fail_at, self.exc, self.delay = fail_at, exc, delay
        self.lock = threading.Lock()

    def __call__(self, dataset, features, cfg, progress=None):
        with self.lock:
            self.calls.append(cfg.run_id(dataset.fingerprint))
            n = len(self.calls)
        if self.fail_at is not None and n == self.fail_at:
            # Leave what a killed writer would: a temporary file and an .npz without its .json.
            rid = cfg.run_id(dataset.fingerprint)
            d = store.runs_dir(self.results)
            (d / f"{atomic.TMP_PREFIX}{rid}.json.abc").write_text("{")
            (d / f"{rid}.npz").write_bytes(b"partial")
            raise self.exc("boom")
        time.sleep(self.delay)
        return fake_run(dataset, features, cfg, progress)


DATA = fake_load(None, None, "error")
FEATS = fake_features(DATA, RunConfig(), None)


def run_local(configs, results, run_fn=fake_run, **kw):
    ex = grid.LocalExecutor(DATA, FEATS, run_fn=run_fn)
    return grid.run_grid(configs, DATA, results, executor=ex, **kw)


def leftovers(results):
    d = store.runs_dir(results)
    return sorted(p.name for p in d.iterdir() if p.name.startswith(atomic.TMP_PREFIX) or p.suffix == ".lock")


def all_arrays(results):
    return {r["run_id"]: store.load_arrays(results, r["run_id"]) for r in store.load_records(results)}


# ---- parsing and expansion ----

# The labels' spelling: ',' between subsets, '+' within one. Each case: value -> the subsets it selects.
SUBSET_SPELLINGS = [
    ("id", [("id",)]),
    ("id+llm+gnn", [("id", "llm", "gnn")]),                     # a label copied from the report: one subset
    ("gnn+ID", [("id", "gnn")]),                                 # canonical order, any case
    ("id,id+llm,id+llm+gnn", [("id",), ("id", "llm"), ("id", "llm", "gnn")]),
    ("id,llm", [("id",), ("llm",)]),                             # valid in both syntaxes: reads the new way
    ("id+llm, id+gnn ,id+llm", [("id", "llm"), ("id", "gnn")]),  # spaces ignored, repeats dropped
    ("llm+gnn,id", [("llm", "gnn"), ("id",)]),                   # order of subsets kept
    ("ALL", [("id",), ("llm",), ("gnn",), ("id", "llm"), ("id", "gnn"), ("llm", "gnn"), ("id", "llm", "gnn")]),
]


@pytest.mark.parametrize("text, subsets", SUBSET_SPELLINGS, ids=[t for t, _ in SUBSET_SPELLINGS])
def test_parse_subsets_reads_the_labels_spelling(text, subsets):
    assert grid.parse_subsets(text) == subsets
    if text.lower() != "all":       # what the report prints is what the option takes
        assert grid.parse_subsets(grid.subsets_text(subsets)) == subsets


# Values valid only in the former syntax ('+' between subsets, ',' within one): refused with the new spelling.
OLD_SPELLINGS = [
    ("id+id,llm+id,llm,gnn", "--subsets id,id+llm,id+llm+gnn"),
    ("id+id,llm", "--subsets id,id+llm"),
    ("llm+llm,gnn", "--subsets llm,llm+gnn"),
    ("ID+id", "--subsets id"),
]


@pytest.mark.parametrize("text, hint", OLD_SPELLINGS, ids=[t for t, _ in OLD_SPELLINGS])
def test_parse_subsets_refuses_the_former_spelling_with_the_new_one(text, hint):
    with pytest.raises(InputError, match="former syntax") as err:
        grid.parse_subsets(text)
    assert str(err.value).endswith(hint) and "\n" not in str(err.value)


@pytest.mark.parametrize("bad", ["", "id,,llm", "id+", "text", "id+id", "+", ",", "id,llm+text", "id+rand+x"])
def test_parse_subsets_errors(bad):
    with pytest.raises(InputError, match="--subsets"):
        grid.parse_subsets(bad)


def test_changed_meaning_flags_values_whose_former_reading_fused_modalities():
    assert grid.changed_meaning("id,llm") == [("id", "llm")]
    assert grid.changed_meaning("id,llm+id,gnn") == [("id", "llm"), ("id", "gnn")]     # former `--subsets` habit
    assert grid.changed_meaning("gnn,llm+id") == [("llm", "gnn"), ("id",)]     # 'llm+id': not a label
    # Not flagged: one reading only, the same grid both ways, or spelled as labels are.
    for same in ("id", "all", "id+llm+gnn", "id,id+llm", "id+llm,id+gnn", "id,llm+gnn", "id+llm,id+llm"):
        assert grid.changed_meaning(same) is None, same


def test_all_is_the_subsets_of_the_real_modalities():
    assert grid.REAL_MODALITIES == ("id", "llm", "gnn")
    assert {m for s in grid.all_subsets() for m in s} == set(grid.REAL_MODALITIES)


def test_one_fused_subset_with_one_fusion_plans_one_run_per_seed():
    cfgs = grid.expand_grid(grid.parse_subsets("id+llm+gnn"), grid.parse_fusions("mean"), [0, 1, 2], BASE)
    assert [(c.label, c.seed) for c in cfgs] == [("id+llm+gnn/mean", s) for s in (0, 1, 2)]


@pytest.mark.parametrize("bad", ["", "sum", "concat,", "none"])
def test_parse_fusions_errors(bad):
    with pytest.raises(InputError):
        grid.parse_fusions(bad)


def test_parse_seeds():
    assert grid.parse_seeds() == [0, 1, 2]
    assert grid.parse_seeds("3,1,3") == [3, 1]
    assert grid.parse_seeds(n_seeds=5) == [0, 1, 2, 3, 4]
    for text, n in [("a", None), ("-1", None), (None, 0), ("1", 2)]:
        with pytest.raises(InputError):
            grid.parse_seeds(text, n)


def test_expand_all_subsets_counts():
    fusions = grid.parse_fusions("concat,gate,attention")
    one = grid.expand_grid(grid.parse_subsets("all"), fusions, [0], BASE)
    assert len(one) == 3 + 4 * 3 == 15
    assert sum(c.fusion == NO_FUSION for c in one) == 3
    three = grid.expand_grid(grid.parse_subsets("all"), fusions, [0, 1, 2], BASE)
    assert len(three) == 45 and len(set(three)) == 45
    assert [c.seed for c in three] == sorted(c.seed for c in three)      # seed-major
    assert three == grid.expand_grid(grid.parse_subsets("all"), fusions, [0, 1, 2], BASE)  # deterministic
    assert all(c.epochs == 1 and c.text_encoder == "hash" for c in three)


def test_expand_dedupes():
    cfgs = grid.expand_grid([("id",), ("id",), ("llm", "id")], ["gate", "gate", "concat"], [0], BASE)
    assert [c.label for c in cfgs] == ["id", "id+llm/gate", "id+llm/concat"]


def test_default_grid_is_the_seed_table():
    cfgs = grid.default_grid(BASE)
    assert len(cfgs) == 7 * 3 and len(set(cfgs)) == 21
    assert [c.label for c in cfgs[:7]] == ["id", "id+llm/concat", "id+gnn/concat", "id+rand/concat",
                                           "id+llm+gnn/concat", "id+llm+gnn/gate", "id+llm+gnn/attention"]
    assert grid.needed_modalities(cfgs) == ("id", "llm", "gnn", "rand")
    assert grid.feature_config(grid.default_grid(BASE)[:1]) is None      # `id` alone needs no features
    # the placebo is drawn per run: the grid's shared features are llm and gnn only, and id+rand needs none
    assert grid.feature_config(cfgs).modalities == ("id", "llm", "gnn")
    assert grid.feature_config([c for c in cfgs if c.label == "id+rand/concat"]) is None


def test_all_subsets_are_the_real_modalities():
    subsets = grid.parse_subsets("all")
    assert len(subsets) == 7 and not any("rand" in s for s in subsets)
    assert grid.parse_subsets("id+rand,id+llm+rand") == [("id", "rand"), ("id", "llm", "rand")]


# ---- running, resuming, claims ----

def test_run_then_resume_skips_everything(tmp_path):
    cfgs = grid.expand_grid([("id",), ("id", "llm")], ["concat", "gate"], [0, 1], BASE)
    counter = CountingRun()
    res = run_local(cfgs, tmp_path, counter)
    assert res.total == 6 and len(res.ran) == 6 and len(counter.calls) == 6
    assert len(store.load_records(tmp_path)) == 6 and leftovers(tmp_path) == []
    again = CountingRun()
    res2 = run_local(cfgs, tmp_path, again)
    assert again.calls == [] and res2.done_before == 6 and res2.done == 6


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_crash_inside_a_run_then_resume_gives_the_same_records(tmp_path, exc):
    cfgs = grid.expand_grid([("id",), ("id", "gnn")], ["concat"], [0, 1], BASE)
    clean = tmp_path / "clean"
    run_local(cfgs, clean)
    crashed = tmp_path / "crashed"
    counter = CountingRun(fail_at=3, exc=exc)
    counter.results = crashed
    with pytest.raises(exc):
        run_local(cfgs, crashed, counter)
    assert len(store.load_records(crashed)) == 2
    # The failing run's leftovers and its claim are gone; nothing half-written is a record.
    assert leftovers(crashed) == []
    assert not (store.runs_dir(crashed) / f"{counter.calls[2]}.npz").exists()
    # A crash that left files behind without cleaning (SIGKILL): rerun cleans and finishes.
    rid = cfgs[3].run_id(DATA.fingerprint)
    (store.runs_dir(crashed) / f"{atomic.TMP_PREFIX}{rid}.npz.xyz").write_bytes(b"junk")
    (store.runs_dir(crashed) / f"{rid}.npz").write_bytes(b"junk")
    res = run_local(cfgs, crashed)
    assert res.done_before == 2 and len(res.ran) == 2
    assert leftovers(crashed) == []
    a, b = all_arrays(clean), all_arrays(crashed)
    assert a.keys() == b.keys() and len(a) == 4
    for rid in a:
        np.testing.assert_array_equal(a[rid]["auc"], b[rid]["auc"])


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _write_lock(results, run_id, pid, host=None, age=0.0):
    path = grid.lock_path(results, run_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname()}))
    if age:
        t = time.time() - age
        os.utime(path, (t, t))
    return path


def test_claims_live_stale_and_done(tmp_path):
    claims = grid.Claims(tmp_path)
    assert claims.claim("a") == "claimed" and grid.lock_path(tmp_path, "a").exists()
    assert grid.Claims(tmp_path).claim("a") == "locked"            # held by a live process (us)
    claims.release("a")
    assert not grid.lock_path(tmp_path, "a").exists()
    _write_lock(tmp_path, "b", os.getppid())
    assert claims.claim("b") == "locked" and grid.run_status(tmp_path, "b") == "locked"
    _write_lock(tmp_path, "c", _dead_pid())
    assert grid.run_status(tmp_path, "c") == "pending"
    assert claims.claim("c") == "claimed"                           # stale: reclaimed
    assert json.loads(grid.lock_path(tmp_path, "c").read_text())["pid"] == os.getpid()
    _write_lock(tmp_path, "d", 1, host="elsewhere")                  # other host, fresh heartbeat
    assert claims.claim("d") == "locked"
    _write_lock(tmp_path, "e", 1, host="elsewhere", age=grid.LOCK_STALE_SECONDS + 60)
    assert claims.claim("e") == "claimed"
    grid.lock_path(tmp_path, "f").write_text("")                    # creator died before writing its owner
    assert claims.claim("f") == "claimed"
    _write_lock(tmp_path, "g", os.getppid(), age=grid.LOCK_STALE_SECONDS + 60)   # live pid, no heartbeat: reused
    assert claims.claim("g") == "claimed"
    claims.release_all()
    assert sorted(p.name for p in store.runs_dir(tmp_path).glob("*.lock")) == ["b.lock", "d.lock"]


def test_clean_stale_files_spares_live_claims(tmp_path):
    d = store.runs_dir(tmp_path)
    _write_lock(tmp_path, "live", os.getppid())
    (d / f"{atomic.TMP_PREFIX}live.json.1").write_text("x")
    _write_lock(tmp_path, "dead", _dead_pid())
    (d / f"{atomic.TMP_PREFIX}dead.json.1").write_text("x")
    (d / "orphan.npz").write_bytes(b"x")
    grid.clean_stale_files(tmp_path)
    assert sorted(p.name for p in d.iterdir() if not p.name.startswith(".claims")) == \
        [f"{atomic.TMP_PREFIX}live.json.1", "live.lock"]


def test_waits_for_runs_claimed_by_others_and_takes_over_when_they_go(tmp_path):
    cfgs = grid.expand_grid([("id",)], ["concat"], [0, 1], BASE)
    held = cfgs[0].run_id(DATA.fingerprint)
    lock = _write_lock(tmp_path, held, os.getppid())
    seen = []

    class Events(grid.GridEvents):
        def waiting(self, locked):
            seen.append([rid for _, rid, _ in locked])
            # The other process gives up without recording, once we wait for it: not after a fixed delay, which a
            # loaded machine could outlast with our own run still going (then we would never wait).
            lock.unlink(missing_ok=True)

    counter = CountingRun()
    res = run_local(cfgs, tmp_path, counter, events=Events(), poll=0.1)
    assert counter.calls == [cfgs[1].run_id(DATA.fingerprint), held]   # ours first, the held one after
    assert seen and seen[0] == [held] and res.done == 2


def test_two_drivers_on_one_folder_record_each_run_once(tmp_path):
    cfgs = grid.expand_grid(grid.parse_subsets("all"), ["concat", "gate"], [0], BASE)
    counters = [CountingRun(delay=0.02), CountingRun(delay=0.02)]
    threads = [threading.Thread(target=run_local, args=(cfgs, tmp_path, c), kwargs={"poll": 0.05})
               for c in counters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls = counters[0].calls + counters[1].calls
    assert sorted(calls) == sorted(c.run_id(DATA.fingerprint) for c in cfgs)   # each once, none twice
    assert len(store.load_records(tmp_path)) == len(cfgs) and leftovers(tmp_path) == []


@pytest.mark.slow
def test_process_pool_matches_sequential(tmp_path):
    cfgs = grid.expand_grid([("id",), ("id", "llm", "gnn")], ["gate"], [0, 1], BASE)
    run_local(cfgs, tmp_path / "seq")
    spec = grid.WorkerSpec(data_path=None, cache_dir=None, run_fn=fake_run, load_fn=fake_load,
                           features_fn=fake_features)
    res = grid.run_grid(cfgs, DATA, tmp_path / "pool", executor=grid.PoolExecutor(2, spec))
    assert len(res.ran) == 4
    a, b = all_arrays(tmp_path / "seq"), all_arrays(tmp_path / "pool")
    assert a.keys() == b.keys()
    for rid in a:
        np.testing.assert_array_equal(a[rid]["auc"], b[rid]["auc"])


def test_ray_missing_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(InputError, match=r"pip install 'newsbench\[ray\]'"):
        grid._import_ray()


def test_parse_modalities_is_one_canonical_subset_and_names_the_option():
    assert grid.parse_modalities("LLM+ id") == ("id", "llm")
    for bad, why in (("id+text", "unknown modality 'text'"), ("id++llm", "empty modality"), ("id+id", "repeated"),
                     ("id,llm", "join modalities with '\\+'.*: --modalities id\\+llm$")):
        with pytest.raises(InputError, match=why) as err:
            grid.parse_modalities(bad)
        assert str(err.value).startswith("--modalities")


def test_the_test_pause_hook_waits_for_its_release_file_and_lets_signals_through(tmp_path, monkeypatch):
    release = tmp_path / "release"
    monkeypatch.setenv(grid.TRACE_ENV, "1")
    monkeypatch.setenv(grid.PAUSE_ENV, f"progress step:{release}")
    grid.trace("run-start x")                          # another event: no wait
    threading.Timer(0.3, release.touch).start()
    started = time.monotonic()
    grid.trace("progress step epoch=0 step=1")
    assert release.exists() and time.monotonic() - started < 60
    # A KeyboardInterrupt raised while paused (what SIGINT's handler does) leaves the pause at once.
    if threading.current_thread() is not threading.main_thread():
        return                                          # signal handlers run in the main thread only
    release.unlink()
    monkeypatch.setattr(driver, "PAUSE_LIMIT", 30.0)    # bounded even if the signal were lost

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    try:
        threading.Timer(0.2, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            grid.trace("progress step epoch=0 step=2")
        assert time.monotonic() - started < 10
    finally:
        signal.signal(signal.SIGINT, previous)


# ---- Ray without a cluster: the address, the resources check and the lost-cluster check, with stand-ins ----

def test_ray_endpoint_reads_the_address_forms():
    assert grid.ray_endpoint("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert grid.ray_endpoint("ray://head:10001") == ("head", 10001)
    assert grid.ray_endpoint("[::1]:6379") == ("::1", 6379)
    assert grid.ray_endpoint(None) is None and grid.ray_endpoint("auto") is None
    with pytest.raises(InputError, match="--ray-address head: expected host:port"):
        grid.ray_endpoint("head")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # nothing listens once it is closed


def test_probe_says_why_nothing_answers():
    assert grid.probe(("127.0.0.1", _closed_port()), 2.0) == "nothing listens there (connection refused)"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert grid.probe(server.getsockname(), 2.0) is None


class FakeRay:
    def __init__(self, *nodes):
        self._nodes = [{"Alive": True, "Resources": n} for n in nodes] + [{"Alive": False, "Resources": {"GPU": 8}}]

    def nodes(self):
        return self._nodes


def test_cluster_resources_must_fit_one_run_on_one_node():
    ray = FakeRay({"CPU": 4.0}, {"CPU": 2.0, "GPU": 1.0})
    grid.check_cluster_resources(ray, 2, 1)                  # the second node
    grid.check_cluster_resources(ray, 4, 0)                  # the first
    with pytest.raises(InputError, match=r"^--cpus-per-run 4 --gpus-per-run 1: no node of the Ray cluster at "
                       r"h:1 has that much \(2 nodes; the largest has 2 CPU, 1 GPU\)$"):
        grid.check_cluster_resources(ray, 4, 1, "h:1")       # 6 CPUs and a GPU in all, but not on one node
    with pytest.raises(InputError, match=r"--cpus-per-run 8: no node"):
        grid.check_cluster_resources(ray, 8, 0)              # the dead node's resources do not count


def test_a_head_silent_for_lost_after_seconds_is_a_lost_cluster():
    from newsbench.grid.executors import RayExecutor

    ex = object.__new__(RayExecutor)
    ex.address, ex.gcs, ex.lost_after, ex.lost = "h:1", ("127.0.0.1", _closed_port()), 0.2, None
    since = ex._check_alive(None)
    assert since is not None and ex.lost is None             # silent, not yet for long
    time.sleep(0.25)
    with pytest.raises(grid.ClusterLost, match=r"lost the Ray cluster at h:1 \(its head has not answered"):
        ex._check_alive(since)
    assert ex.lost
