"""Plug-in fusions (issue 22 items 1, 3, 4): a fusion named by `package.module:ClassName` or by an installed entry
point (`newsbench.fusions`) trains, counts, records and reproduces like a built-in; a bad one is one error line,
exit 2, before any work; its source bytes, import path and distribution are part of its runs' identity.

Plug-ins live in a module written under tmp_path and put on sys.path; entry points in a `*.dist-info` folder beside
it (what an install writes: importlib.metadata reads it from sys.path). The example package (examples/film_fusion)
is really installed, with pip into a folder of its own (`pip install --target`, no network, no build isolation), so
the test environment itself is not changed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from newsbench import digests, inputs, store
from newsbench.data.arrays import sha256_file
from newsbench.config import RunConfig
from newsbench.features import encoders
from newsbench.model import registry
from newsbench.config import train_command
from newsbench.params import count_params, flops_per_news

REPO = Path(__file__).resolve().parents[1]
FAST = ["--epochs", "1", "--batch-size", "64", "--device", "cpu"]

# A module of plug-ins, good and bad. Each bad class breaks the contract in one way.
PLUGMOD = '''
import torch
from torch import nn


class Good(nn.Module):
    """Softmax-weighted sum of the modalities: returns weights, as gate and attention do."""
    def __init__(self, k, dim):
        super().__init__()
        self.score = nn.Linear(dim, 1)

    def forward(self, h):
        w = torch.softmax(self.score(h).squeeze(-1), dim=-1)
        return (w[:, :, None] * h).sum(1), w


class Averages(Good):
    """Good with the contract's optional hook: a zero score layer weighs the modalities alike."""
    def init_as_mean(self):
        self.score.weight.zero_()
        self.score.bias.zero_()


class NotModule:
    def __init__(self, k, dim):
        pass


def a_function(k, dim):
    return None


class WrongShape(nn.Module):
    def __init__(self, k, dim):
        super().__init__()

    def forward(self, h):
        return h.flatten(1), None


class BareTensor(nn.Module):
    def __init__(self, k, dim):
        super().__init__()

    def forward(self, h):
        return h.mean(1)


class BadWeights(nn.Module):
    def __init__(self, k, dim):
        super().__init__()

    def forward(self, h):
        return h.mean(1), torch.ones(h.shape[0], h.shape[1] + 1)


class Raises(nn.Module):
    def __init__(self, k, dim):
        super().__init__()

    def forward(self, h):
        raise RuntimeError("boom in forward")


class NoArgs(nn.Module):
    def __init__(self):
        super().__init__()


class NaNs(nn.Module):
    def __init__(self, k, dim):
        super().__init__()

    def forward(self, h):
        return h.mean(1) * float("nan"), None
'''


def write_site(folder: Path, name: str = "plugmod", source: str = PLUGMOD, entry_points: dict | None = None,
               dist: str = "plug-dist") -> Path:
    """A folder that looks installed: module `name`.py and, with `entry_points`, a dist-info declaring them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.py").write_text(textwrap.dedent(source))
    if entry_points:
        info = folder / f"{dist.replace('-', '_')}-0.3.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
        (info / "top_level.txt").write_text(f"{name}\n")
        lines = "".join(f"{k} = {v}\n" for k, v in entry_points.items())
        (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}")
    return folder


@pytest.fixture
def site(tmp_path, monkeypatch):
    """Put a site folder on sys.path, forgetting its modules and the registry's memo before and after."""
    def install(**kw) -> Path:
        folder = write_site(tmp_path / "site", **kw)
        monkeypatch.syspath_prepend(str(folder))
        _purge()
        return folder

    yield install
    _purge()


def _purge() -> None:
    for mod in [m for m in sys.modules if m in ("plugmod", "brokenmod", "textmod", "film_fusion")
                or m.startswith("film_fusion.")]:
        del sys.modules[mod]
    registry.forget()
    encoders.forget()
    digests._MEMO.clear()


# ------------------------------------------------------------------------------------------------- bad plug-ins
BAD = {
    "missing module": ("nosuchmod_zz:Fusion", "cannot import nosuchmod_zz: ModuleNotFoundError"),
    "module raises on import": ("brokenmod:Fusion", "cannot import brokenmod: RuntimeError: broken at import"),
    "missing class": ("plugmod:Nope", "module plugmod has no Nope"),
    "not a Module": ("plugmod:NotModule", "plugmod:NotModule is the class NotModule, not a torch.nn.Module class"),
    "a function": ("plugmod:a_function", "plugmod:a_function is a function, not a torch.nn.Module class"),
    "wrong output shape": ("plugmod:WrongShape", "fused is a tensor of shape (2, 8)"),
    "bare tensor": ("plugmod:BareTensor", "it returned a tensor of shape (2, 4)"),
    "wrong weights shape": ("plugmod:BadWeights", "weights are a tensor of shape (2, 3)"),
    "raises in forward": ("plugmod:Raises", "its forward on (2, 2, 4) raised RuntimeError: boom in forward"),
    "wrong constructor": ("plugmod:NoArgs", "building it with (k=2, dim=4) raised TypeError"),
    "non-finite output": ("plugmod:NaNs", "fused is not finite floating point"),
    "broken entry point": ("broken", "the entry point broken = nosuch_pkg_zz:Thing (distribution plug-dist 0.3) "
                                     "cannot be loaded: ModuleNotFoundError"),
    "name clash": ("concat", "the installed entry point concat = plugmod:Good (distribution plug-dist 0.3) clashes "
                             "with the built-in fusion concat"),
    "unknown name": ("film2", "unknown fusion; choose concat, gate, attention, attention-unscaled, mean, broken, "
                              "good or package.module:ClassName"),
}


def _bad_site(site) -> Path:
    folder = site(entry_points={"broken": "nosuch_pkg_zz:Thing", "concat": "plugmod:Good", "good": "plugmod:Good"})
    (folder / "brokenmod.py").write_text("raise RuntimeError('broken at import')\n")
    return folder


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_plugin_is_one_line_exit_2_and_nothing_written(cli, site, tiny_dir, tmp_path, case):
    _bad_site(site)
    name, reason = BAD[case]
    res = cli("train", "-d", tiny_dir, "-m", "id+llm", "-e", "hash", "--fusion", name, "--dim", "4", *FAST,
              "-r", tmp_path / "r", "--no-progress")
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"newsbench: error: --fusion {name}"), res.stderr
    assert reason in lines[0], lines[0]
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("case", ["missing class", "wrong output shape", "raises in forward", "broken entry point",
                                  "name clash"])
def test_ablate_and_its_dry_run_check_plugins_before_any_work(cli, site, tiny_dir, tmp_path, case):
    _bad_site(site)
    name, reason = BAD[case]
    fusions = name if name == "concat" else f"mean,{name}"
    for dry in (["--dry-run"], []):
        res = cli("ablate", "-d", tiny_dir, "--subsets", "id+llm", "--fusions", fusions, "-e", "hash", "--dim", "4",
                  "--n-seeds", "1", *FAST, "-r", tmp_path / "r", *dry)
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("newsbench: error: --fusions"), res.stderr
        assert reason in lines[0], lines[0]
        assert not (tmp_path / "r").exists()


def test_params_checks_plugins_too(cli, site):
    _bad_site(site)
    res = cli("params", "--fusions", "gate,plugmod:Raises")
    assert res.exit_code == 2
    assert res.stderr.strip() == ("newsbench: error: --fusions plugmod:Raises: its forward on (2, 2, 256) raised "
                                  "RuntimeError: boom in forward")


def test_mean_init_needs_the_plugins_own(cli, site, tiny_dir, tmp_path):
    site()
    res = cli("train", "-d", tiny_dir, "-m", "id+llm", "-e", "hash", "--fusion", "plugmod:Good", "--fusion-init",
              "mean", *FAST, "-r", tmp_path / "r")
    assert res.exit_code == 2
    assert "--fusion-init mean needs the plug-in's init_as_mean() method" in res.stderr


def test_mean_init_calls_the_plugins_hook_as_it_does_the_builtins(site):
    site()
    from newsbench.model import NewsEncoder

    h = torch.randn(5, 3, 8)
    for fusion in ("plugmod:Averages", "concat", "gate", "attention", "mean"):
        enc = NewsEncoder(("id", "llm", "gnn"), fusion, 2, llm_dim=4, gnn_dim=4, id_dim=4, dim=8, fusion_init="mean")
        fused, _ = enc.fusion(h)
        assert torch.allclose(fused, h.mean(1), atol=1e-6), fusion
    registry.check("plugmod:Averages", 3, 8, mean_init=True)        # passes: it has the hook


def test_a_good_plugin_passes_and_its_check_leaves_the_random_state_alone(site):
    site()
    torch.manual_seed(5)
    registry.check("plugmod:Good", 3, 8)
    after = torch.rand(1)
    torch.manual_seed(5)
    assert torch.equal(after, torch.rand(1))
    assert registry.make_fusion("plugmod:Good", 1, 8) is None


# ------------------------------------------------------------------------------------------------------ identity
def _cfg(fusion: str, **kw) -> RunConfig:
    return RunConfig(modalities=("id", "llm"), fusion=fusion, text_encoder="hash", **kw)


def test_builtins_read_nothing_so_their_ids_stay():
    for fusion in ("concat", "gate", "attention", "attention-unscaled", "mean"):
        cfg = _cfg(fusion)
        assert inputs.run_inputs(cfg) == {}
        assert cfg.identity() == cfg.identity({}) and "plugins" not in cfg.identity()


def test_the_run_id_holds_the_plugins_source_import_path_and_distribution(site):
    folder = site(entry_points={"Good": "plugmod:Good"})
    by_path, by_name = _cfg("plugmod:Good"), _cfg("GOOD")             # entry point names are case-insensitive
    found = inputs.run_inputs(by_name)["fusion"]
    assert found["path"] == str((folder / "plugmod.py").resolve())
    assert found["import"] == "plugmod:Good" and found["distribution"] == "plug-dist 0.3"
    assert found["sha256"] == sha256_file(folder / "plugmod.py")
    ident = by_name.identity()
    assert ident["inputs"] == {"fusion": found["sha256"]}
    assert ident["plugins"] == {"fusion": {"import": "plugmod:Good", "distribution": "plug-dist 0.3"}}
    assert by_path.run_id("fp") != by_name.run_id("fp")        # two names: two fusions
    # the text encoder's spelling is kept: only file: and st: give way to their bytes
    assert _cfg("good", ).identity()["text_encoder"] == "hash"
    assert RunConfig(modalities=("id", "llm"), fusion="good", text_encoder="hash:128").identity()["text_encoder"] \
        == "hash:128"
    # one modality: no fusion, nothing read
    assert inputs.run_inputs(RunConfig(modalities=("id",), fusion="good")) == {}


def test_editing_the_plugin_changes_its_run_ids_and_an_unchanged_one_keeps_them(site):
    folder = site()
    cfg = _cfg("plugmod:Good")
    first = cfg.run_id("fp")
    _purge()
    assert cfg.run_id("fp") == first                          # same bytes, read again: same run
    src = folder / "plugmod.py"
    src.write_text(src.read_text().replace("self.score = nn.Linear(dim, 1)", "self.score = nn.Linear(dim, 1)  # v2"))
    _purge()
    assert cfg.run_id("fp") != first
    assert cfg.group_key != RunConfig(modalities=("id", "llm"), fusion="concat", text_encoder="hash").group_key


def test_the_reproduce_command_spells_the_plugin_as_given():
    cmd = train_command(_cfg("plugmod:Good").to_dict())
    argv = shlex.split(cmd)
    assert argv[argv.index("--fusion") + 1] == "plugmod:Good"
    assert RunConfig(modalities=("id", "llm"), fusion=" plugmod:Good ").fusion == "plugmod:Good"   # case kept
    assert RunConfig(modalities=("id", "llm"), fusion="GATE").fusion == "gate"


def test_train_records_a_plugin_reuses_it_and_retrains_after_an_edit(cli, site, tiny_dir, tmp_path):
    folder = site()
    args = ["train", "-d", tiny_dir, "-m", "id+llm", "-e", "hash", "--fusion", "plugmod:Good", *FAST,
            "-r", tmp_path / "r", "--no-progress"]
    first = cli(*args)
    assert first.exit_code == 0, first.output
    rec = store.load_records(tmp_path / "r")[0]
    assert rec["config"]["fusion"] == "plugmod:Good"
    assert rec["inputs"]["fusion"]["import"] == "plugmod:Good"
    assert rec["weights"] is not None and len(rec["weights"]["mean"]) == 2     # its weights are recorded
    assert abs(sum(rec["weights"]["mean"]) - 1) < 1e-6
    # the report's weights table (Table 3) shows the weights a plug-in returns, as it does gate's
    report = cli("report", "-r", tmp_path / "r", "-d", tiny_dir, "--markdown")
    assert report.exit_code == 0, report.output
    weights = report.stdout[report.stdout.index("Modality weights by news category"):]
    assert "id+llm/plugmod:Good" in weights.split("\n\n\n")[0]
    again = cli(*args)
    assert again.exit_code == 0 and "already done" in again.output
    src = folder / "plugmod.py"
    old_sha = rec["inputs"]["fusion"]["sha256"]
    src.write_text(src.read_text() + "\n# edited\n")
    _purge()
    edited = cli(*args)
    assert edited.exit_code == 0, edited.output
    new_sha = sha256_file(src)
    assert (f"id+llm/plugmod:Good seed 0: plugmod.py changed since the recorded run {rec['run_id']} "
            f"(sha256 {old_sha[:8]}.. -> {new_sha[:8]}..): training a new run") in edited.output.splitlines()
    assert len(store.load_records(tmp_path / "r")) == 2


# --------------------------------------------------------------------------------------------------------- params
def test_params_counts_a_plugin_from_its_module_and_its_flops_by_the_counter(site):
    site()
    cfg = RunConfig(modalities=("id", "llm", "gnn"), fusion="plugmod:Good")
    assert count_params(cfg)["fusion"] == 256 + 1                    # Linear(256, 1)
    # the counter sees the score layer (2 x 256 per modality vector); the weighted sum is elementwise, unseen,
    # as mean's is: the difference to mean is exactly the plug-in's matmul
    mean = RunConfig(modalities=("id", "llm", "gnn"), fusion="mean")
    assert flops_per_news(cfg) - flops_per_news(mean) == 3 * 2 * 256
    builtin = {f: count_params(RunConfig(modalities=("id", "llm", "gnn"), fusion=f))["fusion"]
               for f in ("concat", "gate", "attention")}
    assert builtin == {"concat": 525_056, "gate": 2_307, "attention": 66_048}


# ----------------------------------------------------------------------------------------- the example package
@pytest.fixture(scope="module")
def film_site(tmp_path_factory) -> Path:
    """examples/film_fusion installed with pip into a folder of its own (no network, no build isolation), built
    from a copy so the build leaves nothing in the repository."""
    target = tmp_path_factory.mktemp("film-site")
    source = shutil.copytree(REPO / "examples" / "film_fusion", tmp_path_factory.mktemp("film-src") / "film_fusion")
    res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(target), str(source)],
                         capture_output=True, text=True, timeout=300)
    if res.returncode != 0:
        pytest.fail(f"pip could not install examples/film_fusion: {res.stderr[-2000:]}")
    return target


def test_the_example_plugin_runs_end_to_end_and_its_command_reproduces(cli, site, film_site, tiny_dir, tmp_path,
                                                                       monkeypatch):
    monkeypatch.syspath_prepend(str(film_site))
    _purge()
    assert "film" in registry.installed()
    results = tmp_path / "r"
    res = cli("ablate", "-d", tiny_dir, "--fusions", "concat,film", "--subsets", "id+llm", "-e", "hash",
              "--epochs", "1", "--n-seeds", "1", "-r", results, "--device", "cpu")
    assert res.exit_code == 0, res.output
    recs = {r["config"]["fusion"]: r for r in store.load_records(results)}
    assert set(recs) == {"concat", "film"}
    film = recs["film"]
    assert film["inputs"]["fusion"]["import"] == "film_fusion.film:FiLMFusion"
    assert film["inputs"]["fusion"]["distribution"] == "newsbench-film 0.1.0"
    assert film["inputs"]["fusion"]["path"] == str((film_site / "film_fusion" / "film.py").resolve())
    assert film["params"]["fusion"] == 256 * 512 + 512                # Linear(256, 2(k-1)256), k=2
    assert film["weights"] is None                                    # FiLM computes none
    assert film["attribution"]["modalities"] == ["id", "llm"]         # attribution runs through its forward
    assert film["attribution"]["all"] != recs["concat"]["attribution"]["all"]
    assert "concat" not in film["command"] and "--fusion film" in film["command"]
    assert "(b) film" in res.stdout                                   # the report's fusion table names it
    # the stored command, run into another folder, gives the same metrics
    argv = shlex.split(film["command"])
    again = cli(*argv[1:], "-r", tmp_path / "again", "--no-progress")
    assert again.exit_code == 0, again.output
    rerun = store.load_records(tmp_path / "again")[0]
    assert rerun["run_id"] == film["run_id"]
    assert rerun["metrics"] == film["metrics"]


# --------------------------------------------------------------------------------------- text encoder plug-ins
TEXTMOD = '''
import numpy as np
import torch


class Letters:
    """Counts of the letters a..h in each text: an 8-d encoder with no model."""
    def encode(self, texts, device="cpu"):
        return np.array([[t.lower().count(c) for c in "abcdefgh"] for t in texts], dtype=np.float32)


class AsTensor(Letters):
    def encode(self, texts, device="cpu"):
        return torch.from_numpy(super().encode(texts, device))


class OneRow:
    def encode(self, texts, device="cpu"):
        return np.zeros((1, 8))


class Raises:
    def encode(self, texts, device="cpu"):
        raise ValueError("no model here")


class NaNs:
    def encode(self, texts, device="cpu"):
        return np.full((len(texts), 4), np.nan)


class NoEncode:
    pass
'''


def _text_site(site) -> Path:
    folder = site(entry_points={"letters": "textmod:Letters"})
    (folder / "textmod.py").write_text(textwrap.dedent(TEXTMOD))
    info = next(folder.glob("*.dist-info"))
    (info / "entry_points.txt").write_text("[newsbench.text_encoders]\nletters = textmod:Letters\n"
                                           "hash = textmod:Letters\n")
    return folder


TEXT_BAD = {
    "missing module": ("nosuchtext_zz:Enc", "cannot import nosuchtext_zz"),
    "missing class": ("textmod:Nope", "module textmod has no Nope"),
    "no encode method": ("textmod:NoEncode", "textmod:NoEncode is the class NoEncode, not a class with an "
                                            "encode(texts, device) method"),
    "wrong shape": ("textmod:OneRow", "encode must return a finite float matrix (2, D); it returned shape (1, 8)"),
    "raises": ("textmod:Raises", "encoding 2 texts raised ValueError: no model here"),
    "non-finite": ("textmod:NaNs", "it has NaN or infinite values"),
    "name clash": ("hash", "the installed entry point hash = textmod:Letters (distribution plug-dist 0.3) clashes "
                           "with the built-in text encoder hash"),
}


@pytest.mark.parametrize("case", list(TEXT_BAD))
def test_a_bad_text_encoder_plugin_is_one_line_exit_2_and_nothing_written(cli, site, tiny_dir, tmp_path, case):
    _text_site(site)
    spec, reason = TEXT_BAD[case]
    for args in (["train", "-m", "id+llm"], ["ablate", "--subsets", "id,id+llm", "--n-seeds", "1", "--dry-run"]):
        res = cli(*args, "-d", tiny_dir, "-e", spec, *FAST, "-r", tmp_path / "r")
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"newsbench: error: --text-encoder {spec}"), res.stderr
        assert reason in lines[0], lines[0]
        assert not (tmp_path / "r").exists()


def test_a_text_encoder_plugin_makes_features_named_by_its_code(cli, site, tiny_dir, tmp_path):
    folder = _text_site(site)
    args = ["train", "-d", tiny_dir, "-m", "llm", "-e", "letters", *FAST, "-r", tmp_path / "r", "--no-progress"]
    first = cli(*args)
    assert first.exit_code == 0, first.output
    rec = store.load_records(tmp_path / "r")[0]
    assert rec["config"]["text_encoder"] == "letters"
    found = rec["inputs"]["text encoder"]
    assert found["import"] == "textmod:Letters" and found["distribution"] == "plug-dist 0.3"
    assert found["sha256"] == sha256_file(folder / "textmod.py")
    assert rec["features"]["llm"]["dim"] == 8
    assert rec["features"]["llm"]["identity"] == "text encoder plug-in textmod:Letters (plug-dist 0.3)"
    # a tensor-returning spelling of the same function gives the same features, named by its own import path
    cfg = RunConfig(modalities=("llm",), text_encoder="textmod:AsTensor")
    assert cfg.identity()["text_encoder"] == "textmod:AsTensor"
    texts = ["a bad cafe", "hedge"]
    assert np.array_equal(encoders.encode("textmod:AsTensor", texts), encoders.encode("letters", texts))
    assert encoders.encode("letters", texts)[0].tolist() == [3, 1, 1, 1, 1, 1, 0, 0]
    assert cli(*args).exit_code == 0 and len(store.load_records(tmp_path / "r")) == 1   # unchanged: reused
    src = folder / "textmod.py"
    src.write_text(src.read_text().replace('"abcdefgh"', '"abcdefgz"'))
    _purge()
    edited = cli(*args)
    assert edited.exit_code == 0, edited.output
    assert "textmod.py changed since the recorded run" in edited.output
    recs = store.load_records(tmp_path / "r")
    assert len(recs) == 2
    assert len({r["features"]["llm"]["weights_sha256"] for r in recs}) == 2     # new features, not the cached ones


def test_embed_and_params_take_a_text_encoder_plugin(cli, site, tiny_dir, tmp_path):
    _text_site(site)
    res = cli("embed", "text", "-d", tiny_dir, "-e", "letters", "--cache-dir", tmp_path / "c")
    assert res.exit_code == 0, res.output
    assert "letters" in res.stdout and " x 8 float32" in res.stdout
    # params: the llm projection is sized by the plug-in's width, measured on two titles
    res = cli("params", "-e", "textmod:Letters", "--markdown")
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if line.startswith("| llm |"))
    assert [c.strip() for c in row.strip("|").split("|")][2] == f"{8 * 256 + 256:,}"     # Linear(8, 256)


def test_spawned_workers_and_params_see_an_installed_plugin(cli, site, film_site, tiny_dir, tmp_path,
                                                             monkeypatch):
    """--workers runs in spawned processes, which import the plug-in themselves (multiprocessing hands them this
    process's sys.path); `params` counts it from its module, FLOPs by the counter."""
    monkeypatch.syspath_prepend(str(film_site))
    _purge()
    one = cli("ablate", "-d", tiny_dir, "--fusions", "film", "--subsets", "id+llm", "-e", "hash", "--epochs", "1",
              "--seeds", "0,1", "-r", tmp_path / "one", "--device", "cpu", "--no-report")
    two = cli("ablate", "-d", tiny_dir, "--fusions", "film", "--subsets", "id+llm", "-e", "hash", "--epochs", "1",
              "--seeds", "0,1", "-r", tmp_path / "two", "--device", "cpu", "--no-report", "--workers", "2")
    assert one.exit_code == 0 and two.exit_code == 0, one.output + two.output
    by = {d: {r["run_id"]: r["metrics"] for r in store.load_records(tmp_path / d)} for d in ("one", "two")}
    assert len(by["one"]) == 2 and by["one"] == by["two"]
    res = cli("params", "--fusions", "film", "--markdown")
    assert res.exit_code == 0, res.output
    row = next(line for line in res.stdout.splitlines() if line.startswith("| id+llm+gnn/film |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[3] == f"{256 * 4 * 256 + 4 * 256:,}"               # Linear(256, 2(k-1)256), k=3
    assert int(cells[6].replace(",", "")) == flops_per_news(RunConfig(fusion="film"))
