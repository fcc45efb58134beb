"""The run options, defined once: name, flag, documented range, help. Every command that takes them shares this table.

`newsbench train`, `ablate`, `embed` and `params` build their Typer options from `RUN_OPTIONS` (see
`newsbench.cli.options`), so one option has one spelling, one range and one help text everywhere, and every value
is checked (range, NaN, choice) while the command line is parsed: before any data, feature or training work.
`RunConfig` checks its fields with the same rows (`Spec.check`), so Python refuses what the command line refuses,
with the same message. The table is below the config: newsbench.config imports it (the choices of its fields are
defined here), and nothing here imports the config.

The same table writes the one `newsbench train ...` command that reproduces a run (newsbench.config.train_command),
which every run record stores.
"""

from __future__ import annotations

import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path

from newsbench import plugins
from newsbench.errors import InputError

SEED_MAX = 2**32 - 1          # numpy's and torch's seeding accept 0..2^32-1 everywhere
DEFAULT_HASH_DIM = 384        # `hash` is `hash:384` (newsbench.features.text.DEFAULT_HASH_DIM; a test keeps them equal)
TEXT_FIELDS = ("title", "title+abstract")
GRAPH_MODES = ("clicks", "entities", "both")
ENTITY_VECTORS = ("data", "random")
FROZEN_INITS = ("default", "zero")                 # init of the frozen modalities' projection weights
LR_DECAYS = ("none", "linear", "cosine")
FUSION_INITS = ("default", "mean")
FUSIONS = ("concat", "gate", "attention", "attention-unscaled", "mean")   # the built-in fusions
# Each graph model's default number of passes: LightGCN's 20 over the graph's edges (the seed's), the inductive
# encoder's 3 over the train clicks (newsbench.features.inductive.DEFAULT_EPOCHS; a test keeps them equal).
GRAPH_EPOCHS = {"inductive": 3, "lightgcn": 20}
GRAPH_MODELS = tuple(GRAPH_EPOCHS)


@dataclass(frozen=True)
class Spec:
    """One option: the RunConfig field it sets, its flags (the first is its name), and its type and range."""
    field: str
    flags: tuple[str, ...]
    kind: type                       # int | float | str
    help: str
    lo: float | None = None          # inclusive bounds of a number
    hi: float | None = None
    choices: tuple[str, ...] = ()    # for str options: the accepted values (case-insensitive, stored lower case)
    panel: str | None = None         # the --help group it is listed in (None: typer's "Options")

    @property
    def flag(self) -> str:
        return self.flags[0]

    def range_text(self) -> str:
        if self.choices:
            return " | ".join(self.choices)
        return f"{_num(self.lo)}..{_num(self.hi)}"

    def check(self, value, flag: str | None = None):
        """The value, normalised (choices lower case); InputError naming the option and its range otherwise."""
        flag = flag or self.flag
        if value is None:
            return None
        if self.choices:
            v = str(value).strip().lower()
            if v not in self.choices:
                raise InputError(f"{flag} {value!r}: choose one of {', '.join(self.choices)}")
            return v
        if self.kind in (int, float):
            # a bool is no number here, and an integer option takes no fraction (RunConfig(epochs=2.5) from Python;
            # the command line converts before this check)
            ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
            if self.kind is int and ok and value != int(value):
                ok = False
            if not ok or not (self.lo <= value <= self.hi):
                raise InputError(f"{flag} {value}: must be {'an integer' if self.kind is int else 'a number'} "
                                 f"in {self.range_text()}")
        return value


def _num(x) -> str:
    if isinstance(x, float) and (x < 1e-3 or x >= 1e6):
        return f"{x:g}"
    return f"{x:,}" if isinstance(x, int) else f"{x:g}"


# The options of one run (RunConfig fields). Ranges are generous for real use and stop absurd values (NaN, 0, a
# negative seed, 10^20) before they reach torch: the product of the largest values still fits a GPU's memory for
# MIND-small, and anything that does not ends as one "out of memory" line, not a traceback.
# Help texts are one short line each (--help must read at 80 columns); docs/cli.md explains each option at length.
MODEL, TRAINING, FEATURES, EXECUTION = "Model", "Training", "Features", "Execution"     # --help panels
RUN_OPTIONS: tuple[Spec, ...] = (
    Spec("seed", ("--seed", "-s"), int, "Seed of the model init and the negative sampling.", 0, SEED_MAX,
         panel=TRAINING),
    Spec("epochs", ("--epochs",), int, "Training epochs.", 1, 1000, panel=TRAINING),
    Spec("batch_size", ("--batch-size",), int, "Clicks per training step.", 1, 65536, panel=TRAINING),
    Spec("lr", ("--lr",), float, "Adam learning rate.", 1e-7, 1.0, panel=TRAINING),
    Spec("negatives", ("--negatives",), int, "Non-clicked candidates per click.", 1, 100, panel=TRAINING),
    Spec("history_len", ("--history-len",), int, "Latest clicks the user encoder sees.", 1, 1000, panel=TRAINING),
    Spec("id_dim", ("--id-dim",), int, "ID embedding width.", 1, 4096, panel=MODEL),
    Spec("dim", ("--dim",), int, "Width every modality is projected to.", 1, 4096, panel=MODEL),
    Spec("user_hidden", ("--user-hidden",), int, "User encoder's attention width.", 1, 4096, panel=MODEL),
    Spec("id_dropout", ("--id-dropout",), float, "Share of train slots given the 'unknown' ID row.", 0.0, 0.95,
         panel=TRAINING),
    Spec("frozen_init", ("--frozen-init",), str, "Init of the llm, gnn and rand projections.",
         choices=FROZEN_INITS, panel=MODEL),
    Spec("frozen_lr", ("--frozen-lr",), float, "LR multiplier of the llm, gnn and rand projections.", 1e-4, 100.0,
         panel=TRAINING),
    Spec("dense_lr", ("--dense-lr",), float, "LR multiplier of all but the ID table.", 1e-4, 100.0,
         panel=TRAINING),
    Spec("news_dropout", ("--news-dropout",), float, "Dropout on the news vectors in training.", 0.0, 0.95,
         panel=TRAINING),
    Spec("warmup", ("--warmup",), float, "Share of the steps of linear LR warm-up.", 0.0, 0.95, panel=TRAINING),
    Spec("lr_decay", ("--lr-decay",), str, "LR decay after the warm-up, to ~0.", choices=LR_DECAYS, panel=TRAINING),
    Spec("fusion_init", ("--fusion-init",), str, "Fusion init (mean: the projections' mean).",
         choices=FUSION_INITS, panel=MODEL),
    Spec("text_encoder", ("--text-encoder", "-e"), str,
         "llm features: minilm | hash | hash:DIM | st:NAME_OR_PATH | file:PATH | a plug-in.", panel=FEATURES),
    Spec("text_fields", ("--text-fields",), str, "Text the llm features embed.", choices=TEXT_FIELDS,
         panel=FEATURES),
    Spec("graph", ("--graph-mode", "--graph"), str, "Edges of the gnn features.", choices=GRAPH_MODES,
         panel=FEATURES),
    Spec("graph_model", ("--graph-model",), str, "Graph network of the gnn features.", choices=GRAPH_MODELS,
         panel=FEATURES),
    Spec("entity_vectors", ("--entity-vectors",), str, "inductive: first entity rows.", choices=ENTITY_VECTORS,
         panel=FEATURES),
    Spec("graph_dim", ("--graph-dim",), int, "gnn features' width.", 1, 4096, panel=FEATURES),
    Spec("graph_layers", ("--graph-layers",), int, "lightgcn: propagation layers.", 0, 16, panel=FEATURES),
    Spec("graph_epochs", ("--graph-epochs",), int, "Graph training passes (default 3 inductive, 20 lightgcn).", 1,
         10000, panel=FEATURES),
    Spec("graph_seed", ("--graph-seed",), int, "Graph model seed.", 0, SEED_MAX, panel=FEATURES),
    Spec("rand_dim", ("--rand-dim",), int, "Width of the rand placebo's vectors.", 1, 4096, panel=FEATURES),
    Spec("cpu_threads", ("--cpu-threads",), int, "torch CPU threads of a run (part of its identity).", 1, 1024,
         panel=EXECUTION),
)
SPECS = {s.field: s for s in RUN_OPTIONS}

# Other numeric options, shared by name wherever they appear.
OTHER: dict[str, Spec] = {s.field: s for s in (
    Spec("n_seeds", ("--n-seeds",), int, "Seeds 0..N-1 (instead of --seeds).", 1, 1000, panel="Grid"),
    Spec("workers", ("--workers",), int, "Runs in parallel processes (local).", 1, 256, panel=EXECUTION),
    Spec("cpus_per_run", ("--cpus-per-run",), float, "Ray: CPUs reserved per run.", 0.01, 1024.0, panel=EXECUTION),
    Spec("gpus_per_run", ("--gpus-per-run",), float, "Ray: GPUs reserved per run.", 0.0, 64.0, panel=EXECUTION),
    Spec("ray_timeout", ("--ray-timeout",), float, "Ray: seconds to connect before giving up.", 1.0, 3600.0,
         panel=EXECUTION),
    Spec("alpha", ("--alpha",), float, "Significance level, after Holm correction.", 1e-6, 0.5),
    Spec("margin", ("--margin",), float, "Equivalence margin in metric units: a pair is equivalent when TOST puts "
         "the difference within +-margin.", 1e-6, 0.5),
    Spec("resamples", ("--resamples",), int, "Sign flips and bootstrap resamples.", 1, 1_000_000),
    Spec("llm_dim", ("--llm-dim",), int, "llm features' width (default: --text-encoder's).", 1, 16384,
         panel=FEATURES),
    Spec("n_news", ("--n-news",), int, "News seen in train (ID rows: this + 1).", 1, 1_000_000),
    Spec("text_batch_size", ("--batch-size",), int, "Most texts per model call (256 on CPU, 1024 on CUDA).", 1, 65536,
         panel=EXECUTION),
    Spec("graph_batch_size", ("--batch-size",), int, "Edges per BPR step (a third of them).", 1024, 1 << 24,
         panel=EXECUTION),
    Spec("cold_share", ("--cold-share",), float, "Share of dev candidates unseen in train.", 0.0, 0.95),
    Spec("trials", ("--trials",), int, "Trials per configuration (the equal budget).", 1, 10_000, panel="Tuning"),
    Spec("tune_seed", ("--tune-seed",), int, "Seed of the sampler and of every trial's model.", 0, SEED_MAX,
         panel="Tuning"),
    Spec("validation_days", ("--validation-days",), int, "Last train days carved off to score the trials.", 1, 366,
         panel="Tuning"),
)}

SEED_KINDS = ("minilm", "hash", "st", "file", "ebnerd")


def canonical_text_encoder(spec: str, flag: str = "--text-encoder") -> str:
    """One spelling per encoder: kinds lower case, `hash:384` -> `hash`, a `file:` PATH absolute, an `st:` argument
    absolute when it is a path (a folder here, or written as one: /, ./, ../, ~), a Hugging Face NAME as written.
    Absolute, so a record's config and reproduce command name the file whatever folder they are run from.

    Raises InputError with the accepted forms for anything else (an empty spec, `hash:0`, `st:` without a name).
    """
    text = (spec or "").strip()
    kind, sep, arg = text.partition(":")
    kind = kind.strip().lower()
    if kind == "minilm" and not sep:
        return "minilm"
    if kind == "hash":
        if not sep:
            return "hash"
        if not arg.strip().isdigit() or not (1 <= int(arg) <= 65536):
            raise InputError(f"{flag} {spec!r}: hash:DIM needs an integer DIM in 1..65,536")
        return "hash" if int(arg) == DEFAULT_HASH_DIM else f"hash:{int(arg)}"
    if kind in ("st", "file", "ebnerd") and sep:
        arg = arg.strip()
        if not arg:
            raise InputError(f"{flag} {spec!r}: {kind}: needs a {'model name or folder' if kind == 'st' else 'path'}")
        if kind != "st" or arg.startswith(("/", "./", "../", "~")) or Path(arg).is_dir():
            arg = os.path.abspath(os.path.expanduser(arg))
        return f"{kind}:{arg}"
    # a text encoder plug-in (newsbench.features.encoders, which checks it before any work): an import path or an
    # installed name; asked of newsbench.plugins, which imports nothing that imports this module
    if plugins.names_plugin(text, plugins.TEXT_ENCODERS_GROUP, SEED_KINDS):
        return plugins.canonical(text)
    raise InputError(f"{flag} {spec!r}: unknown text encoder; use minilm, hash, hash:DIM, st:NAME_OR_PATH, "
                     f"file:PATH, ebnerd:PATH, an installed plug-in's name or package.module:ClassName")


# RunConfig fields that matter only when a modality is present: a run without that modality ignores them, so they
# are not part of its identity (a `--graph-mode clicks` on an id-only run is the same run).
ONLY_WITH = {
    "id": ("id_dim", "id_dropout"),
    "llm": ("text_encoder", "text_fields"),
    "gnn": ("graph", "graph_model", "entity_vectors", "graph_dim", "graph_layers", "graph_epochs", "graph_seed"),
    "rand": ("rand_dim",),
}


# Fields that matter only when some frozen modality (llm, gnn, rand) is present.
ONLY_WITH_FROZEN = ("frozen_init", "frozen_lr")
# Training controls added after records existed (issue #27 item 6), each at the value that leaves training as it
# was: at that value a field is left out of the identity, so the records made before it keep their run ids.
NEUTRAL = {"frozen_init": "default", "frozen_lr": 1.0, "dense_lr": 1.0, "news_dropout": 0.0, "warmup": 0.0,
           "lr_decay": "none", "fusion_init": "default"}


def identity_fields(config: dict) -> dict:
    """The config fields that can change a run's result: those of absent modalities are dropped; `amp` only on
    CUDA (it is refused elsewhere)."""
    mods = set(config.get("modalities") or ())
    out = dict(config)
    for m, fields in ONLY_WITH.items():
        if m not in mods:
            for f in fields:
                out.pop(f, None)
    if "gnn" in mods:       # each graph model's own options only
        out.pop("graph_layers" if out.get("graph_model", "inductive") == "inductive" else "entity_vectors", None)
    if not mods - {"id"}:
        for f in ONLY_WITH_FROZEN:
            out.pop(f, None)
    if len(mods) == 1:
        out.pop("fusion_init", None)                  # one modality: no fusion to initialise
    for f, v in NEUTRAL.items():
        if f in out and out[f] == v:
            del out[f]
    if not str(out.get("device", "cpu")).startswith("cuda"):
        out.pop("amp", None)
    return out


def demo_data_path(path: str | None) -> bool:
    """Whether `path` is the embedded demo dataset's cached folder (then commands need no `-d`)."""
    if not path:
        return True
    p = Path(path)
    return p.parent.name == "synth" and p.name.startswith("demo-s0-v")


def check_device(value: str | None):
    """--device: auto | cpu | cuda | cuda:N, lower case; InputError otherwise."""
    if value is None:
        return None
    v = value.strip().lower()
    if v in ("auto", "cpu", "cuda") or (v.startswith("cuda:") and v[5:].isdigit()):
        return v
    raise InputError(f"--device {value!r}: choose auto, cpu, cuda or cuda:N")
