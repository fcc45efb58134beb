"""One seeded run from options to record, as library steps: `make_run_config` checks the options (the device, which
imports torch, last), `train_one` loads the data, reuses a recorded run or trains it with its features and writes its
record. `newsbench train` (newsbench.cli.train) prints around these steps; the Python API (newsbench.api.train) calls
them too, so a run has one id and one record whichever way it was asked for. Training itself is newsbench.train.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Optional

from newsbench import store
from newsbench.config import RunConfig, make_config
from newsbench.errors import InputError, warn
from newsbench.grid.expand import parse_modalities
from newsbench.options import check_device
from newsbench.paths import check_writable_dir


@dataclass
class Outcome:
    """What `train_one` did: the run's record, and whether it was already recorded (then not trained again)."""
    record: dict
    reused: bool


def make_run_config(*, results, modalities="id+llm+gnn", fusion: str = "attention", device: str = "auto",
                    amp: bool = False, **options) -> RunConfig:
    """The checked RunConfig of one run on its resolved device. `modalities`: 'id+llm' or a sequence of names;
    `options`: RunConfig's other fields, checked by the option table as the command line checks them."""
    mods = parse_modalities(modalities if isinstance(modalities, str) else "+".join(modalities))
    device = check_device(device)
    if amp and not device.startswith("cuda") and device != "auto":
        raise InputError("--amp needs a CUDA device (see --device)")
    check_writable_dir(results, "--results")
    cfg = make_config(modalities=mods, fusion=fusion, device="cpu", amp=amp, **options)
    check_plugins([cfg], "--fusion")
    from newsbench.train import resolve_device      # here: it imports torch

    dev = resolve_device(device)
    if amp and not dev.startswith("cuda"):
        raise InputError("--amp needs a CUDA device (see --device)")
    return dataclasses.replace(cfg, device=dev)


def check_plugins(configs, fusion_flag: str) -> None:
    """The plug-ins of some RunConfigs tried before any work: each fusion built and run once on two rows
    (newsbench.model.registry.check_configs), each text encoder of an llm run built and run on two titles
    (newsbench.features.encoders.check). One line naming the option otherwise."""
    from newsbench.features import encoders
    from newsbench.model import registry

    registry.check_configs(configs, fusion_flag)
    for spec in dict.fromkeys(c.text_encoder for c in configs if "llm" in c.modalities):
        encoders.check(spec, "--text-encoder")


def train_one(cfg: RunConfig, results, *, data=None, cache_dir=None, unknown_news: str = "error",
              force: bool = False, progress: bool = False, on_event: Optional[Callable[[dict], None]] = None,
              say: Callable[[str], None] = lambda line: None) -> Outcome:
    """Load the data (`data` None: the embedded demo), then return the run's record: read back when the run is
    recorded already (unless `force`), else trained and written to `results`. `say` hears one line per earlier
    record of these options over inputs with other bytes; `progress`: the features' progress bars; `on_event`:
    newsbench.train's per-step callback."""
    from newsbench import train as training         # looked up at call time: tests replace run_and_save
    from newsbench.data.load import load_training_data
    from newsbench.inputs import change_line, run_inputs, stale_records

    dataset = load_training_data(data, cache_dir, unknown_news)
    inputs = run_inputs(cfg, cache_dir=cache_dir)
    run_id = cfg.run_id(dataset.fingerprint, inputs)
    state = store.record_state(results, run_id)
    if state != "done" and inputs:         # a rerun over changed bytes: say so, as the new run starts
        for _, old_id, diff in stale_records(results, [cfg], dataset.fingerprint, lambda _: inputs):
            say(change_line(cfg, old_id, diff))
    if state == "done" and not force:
        return Outcome(store.load_record(results, run_id), reused=True)
    if state == "damaged":
        warn(f"the record of run {run_id} in {store.runs_dir(results)} is damaged "
             f"({store.damage(results, run_id)}); training it again")
    features, info = {}, {}
    if {"llm", "gnn"} & set(cfg.modalities):
        from newsbench.features import feature_info, load_features

        features = load_features(dataset, cfg, cache_dir=cache_dir, progress=progress)
        info = feature_info(dataset, cfg, cache_dir=cache_dir)
    kw = {"progress": on_event} if on_event is not None else {}
    record = training.run_and_save(dataset, features, cfg, results, features_info=info, **kw)
    return Outcome(record, reused=False)
