"""One run's hyper-parameters as a plain dataclass, and the run id derived from it.

A run is a pure function of (dataset, features, RunConfig) on CPU. The run id hashes the dataset fingerprint and the
config fields that can change the result (`newsbench.options.identity_fields`: options of a modality the run does not
use are left out, and spellings are canonical), so a results folder can tell at a glance what is already done, and
two spellings of one run are one run. What a run reads beyond the dataset (a `file:` vector file, an `st:` model
folder) enters by the digest of its bytes, not its path (`newsbench.inputs`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shlex
from dataclasses import dataclass

from newsbench.errors import InputError
# The choices of a few fields are defined with their options (the option table checks every field, below).
from newsbench.options import (FROZEN_INITS, FUSION_INITS, FUSIONS, GRAPH_EPOCHS, LR_DECAYS,  # noqa: F401
                               RUN_OPTIONS, canonical_text_encoder, identity_fields)

MODALITIES = ("id", "llm", "gnn", "rand")          # canonical order, used everywhere
# `rand` is the placebo: seeded random vectors per news (newsbench.features.placebo), a control rather than a signal.
# It is opt-in: `--subsets all` and the parameter table enumerate the real modalities only.
PLACEBO = "rand"
REAL_MODALITIES = tuple(m for m in MODALITIES if m != PLACEBO)
NO_FUSION = "none"                                 # the fusion of a single-modality run

# The record's format (newsbench/store.py); part of the run id, so old records stop matching when it changes.
RECORD_SCHEMA = 1
# A run's result depends on code as well as on its config. TRAIN_VERSION changes when training's or evaluation's
# arithmetic does (2: concat folds its projections into its first layer); with the feature versions of the
# modalities a run uses (code_versions) it is part of the run id, so a results folder made by an older newsbench is
# retrained rather than silently reused or mixed with new records. (Baselines hold their feature cache key.)
TRAIN_VERSION = 2


@dataclass(frozen=True)
class RunConfig:
    modalities: tuple[str, ...] = ("id", "llm", "gnn")
    fusion: str = "attention"
    seed: int = 0
    epochs: int = 3
    batch_size: int = 256
    lr: float = 3e-3                   # measured on `id` and `llm` runs: see DOCS-NOTES-i14m.md
    negatives: int = 4                 # K non-clicked candidates per click
    history_len: int = 50              # most recent clicks seen by the user encoder
    id_dim: int = 128
    dim: int = 256                     # every modality is projected to this
    user_hidden: int = 200             # additive-attention hidden size of the user encoder
    # ID dropout: share of training slots (history and candidates) encoded with the 'unknown' ID row 0, the row of
    # every news unseen in train, so that row learns what an unseen news is worth instead of keeping its random init
    id_dropout: float = 0.1            # measured on `id` runs: see DOCS-NOTES-i14m.md
    # Training controls of the frozen modalities (llm, gnn, rand) and of the news vectors (issue #27 item 6: a placebo
    # must not pull a model below `id`). frozen_init "zero": the weights of each frozen modality's projection start
    # at zero (bias kept), so the model starts as a function of its learned inputs only and a frozen input's
    # contribution grows only as far as the training signal drives it. frozen_lr: learning-rate multiplier of those
    # projections. news_dropout: dropout on every encoded news vector in training (NRMS uses 0.2).
    frozen_init: str = "default"       # default | zero
    frozen_lr: float = 1.0
    # learning-rate multiplier of every dense parameter (projections, fusion, user encoder; not the ID table, whose
    # rows move only when a batch touches them)
    dense_lr: float = 1.0
    news_dropout: float = 0.0
    # learning-rate schedule over all training steps: a linear warm-up from ~0 over the first `warmup` share of the
    # steps, then `lr_decay` (none: constant; linear or cosine: down to ~0 at the last step)
    warmup: float = 0.0
    # fusion_init "mean": every fusion starts as the mean of its projections (newsbench.model.fusion.init_as_mean)
    fusion_init: str = "default"       # default | mean
    lr_decay: str = "none"             # none | linear | cosine
    # features (frozen inputs); part of the identity because they change what is measured
    text_encoder: str = "minilm"       # minilm | hash | st:NAME | file:PATH
    text_fields: str = "title"         # title | title+abstract
    graph: str = "both"                # clicks | entities | both
    # the graph network: `inductive` (news vector = a function of its entities, warm and cold alike) or the seed's
    # transductive `lightgcn` (kept to reproduce the seed; it cannot place cold news, docs/features.md)
    graph_model: str = "inductive"
    entity_vectors: str = "data"       # inductive: entity rows start from the data's entity vectors | random
    graph_dim: int = 128
    graph_layers: int = 3              # lightgcn only
    graph_epochs: int | None = None    # None: the graph model's own default (GRAPH_EPOCHS)
    graph_seed: int = 0                # features are shared by every run of a grid, so not the run's seed
    # the placebo's width: the graph's by default, so `id+rand` is shaped like `id+gnn`. Its vectors are drawn from
    # the run's seed (not a feature seed): made per run, never shared or cached
    rand_dim: int = 128
    device: str = "cpu"                # resolved: cpu | cuda | cuda:N (never "auto")
    # torch CPU threads of a run. Part of its identity: the thread count changes the summation order of matmuls, so
    # two thread counts give (slightly) different metrics. Fixed rather than "all cores" so a run means the same on
    # every machine and under every executor (sequential, --workers, Ray).
    cpu_threads: int = 1
    amp: bool = False

    def __post_init__(self):
        mods = tuple(m for m in MODALITIES if m in set(self.modalities))
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not mods:
            raise ValueError(f"modalities must be a non-empty subset of {','.join(MODALITIES)}: {self.modalities}")
        object.__setattr__(self, "modalities", mods)
        # Every field with a row in the option table is checked by that row, as the command line checks it: one
        # range, one NaN rule, one set of choices and one message, whether the value came from a flag or from Python.
        # Choices come back in one spelling, so the run id does not depend on how they were typed (HASH -> hash).
        try:
            for spec in RUN_OPTIONS:
                value = getattr(self, spec.field)
                if spec.field == "text_encoder":
                    value = canonical_text_encoder(value)       # hash:384 -> hash
                object.__setattr__(self, spec.field, spec.check(value))
        except InputError as err:
            raise ValueError(str(err)) from None
        object.__setattr__(self, "fusion", canonical_fusion(self.fusion))
        if self.graph_epochs is None:
            object.__setattr__(self, "graph_epochs", GRAPH_EPOCHS[self.graph_model])
        if len(mods) == 1:
            object.__setattr__(self, "fusion", NO_FUSION)
        elif self.fusion not in FUSIONS:
            # a plug-in (newsbench.model.registry): its name is checked here, its import and shapes by the commands
            from newsbench import plugins

            if not plugins.known(self.fusion, plugins.FUSIONS_GROUP, FUSIONS):
                raise ValueError(f"fusion must be one of {plugins.choices_text(plugins.FUSIONS_GROUP, FUSIONS)}: "
                                 f"{self.fusion!r}")

    @property
    def label(self) -> str:
        """Short human name, e.g. 'id+llm+gnn/attention' or 'id'."""
        mods = "+".join(self.modalities)
        return mods if self.fusion == NO_FUSION else f"{mods}/{self.fusion}"

    @property
    def group_key(self) -> str:
        """Identity of the config without its seed: runs that differ only by seed form one group."""
        return self.group_id()

    def group_id(self, inputs: dict | None = None) -> str:
        """`group_key` with the run's inputs given (newsbench.inputs.run_inputs) rather than read from disk."""
        d = self.identity(inputs)
        d.pop("seed")
        return _digest(d)

    def identity(self, inputs: dict | None = None) -> dict:
        """The fields that can change this run's result (see newsbench.options.identity_fields), with what it reads
        beyond the dataset named by content: a `file:` or `st:` encoder's path gives way to the sha256 of the bytes
        it reads (newsbench.inputs.content_identity). `inputs` None: described from disk now (digests memoised)."""
        from newsbench.inputs import content_identity, run_inputs

        return content_identity(identity_fields(self.to_dict()), run_inputs(self) if inputs is None else inputs)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["modalities"] = list(self.modalities)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        d = dict(d)
        d["modalities"] = tuple(d["modalities"])
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def run_id(self, dataset_fingerprint: str, inputs: dict | None = None) -> str:
        """The run's id: a hash of the dataset fingerprint, `identity(inputs)` and the code versions. Train, ablate,
        its dry run, every executor and the Python API all come here, so one run has one id."""
        return _digest({"schema": RECORD_SCHEMA, "config": self.identity(inputs), "dataset": dataset_fingerprint,
                        "code": code_versions(self.modalities)})


def canonical_fusion(name: str) -> str:
    """Fusion names lower case; a plug-in's import path (`package.module:ClassName`) as written."""
    from newsbench.plugins import canonical

    return canonical(name)


def make_config(**kw) -> RunConfig:
    """RunConfig(**kw), with its own checks (a modality subset, a fusion, thread count) as one user error line."""
    try:
        return RunConfig(**kw)
    except ValueError as err:
        raise InputError(str(err)) from None


def train_command(config: dict, data_path: str | None = None) -> str:
    """The `newsbench train` command that makes this run again: the options its identity holds, non-default ones
    only. `data_path` None means the embedded demo dataset. Paths are absolute (the data folder here, `file:` and
    `st:` paths by RunConfig's canonical spelling), so the command works from any folder."""
    default = RunConfig().to_dict()
    ident = identity_fields(config)
    parts = ["newsbench", "train"]
    if data_path:
        parts += ["-d", os.path.abspath(data_path)]
    parts += ["--modalities", "+".join(config["modalities"])]     # the label's spelling, as --modalities takes it
    if len(config["modalities"]) > 1:
        parts += ["--fusion", config["fusion"]]
    for s in RUN_OPTIONS:
        if s.field in ident and s.field != "seed" and ident[s.field] != default.get(s.field):
            parts += [s.flag, str(ident[s.field])]
    parts += ["--seed", str(config["seed"])]
    # Fields added to RunConfig later without a row here still reach the command, by their field name.
    known = {s.field for s in RUN_OPTIONS} | {"modalities", "fusion", "seed", "device", "amp"}
    for k, v in ident.items():
        if k not in known and k in default and v != default[k]:
            if isinstance(v, bool):
                parts.append(f"--{k.replace('_', '-')}" if v else f"--no-{k.replace('_', '-')}")
            else:
                parts += [f"--{k.replace('_', '-')}", str(v)]
    device = str(config.get("device", "cpu"))
    if device != "cpu":
        parts += ["--device", device]
    if ident.get("amp"):
        parts.append("--amp")
    return " ".join(shlex.quote(p) for p in parts)


def _digest(obj) -> str:
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def code_versions(modalities) -> dict:
    """{"train": TRAIN_VERSION, "graph": .. if gnn, "text": .. if llm, "rand": .. if rand}: what run_id holds beyond
    the config."""
    from newsbench.features.graph import GRAPH_VERSION
    from newsbench.features.placebo import RAND_VERSION
    from newsbench.features.text import ST_BATCHING_VERSION

    out = {"train": TRAIN_VERSION}
    if "gnn" in modalities:
        out["graph"] = GRAPH_VERSION
    if "llm" in modalities:
        out["text"] = ST_BATCHING_VERSION
    if PLACEBO in modalities:
        out["rand"] = RAND_VERSION
    return out
