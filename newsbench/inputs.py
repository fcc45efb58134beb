"""The inputs a run reads beyond its dataset, named by their bytes.

A run reads its dataset (named by the dataset fingerprint: the content hashes of its files, entity_embedding.vec and
relation_embedding.vec included, so the entity vectors of the inductive graph are in it already) and, with the `llm`
modality, what its text encoder names:

- `file:PATH`: the vector file, and for an `.npy` its ids file (`PATH.ids` or `STEM.ids.txt`);
- `st:NAME_OR_PATH`: the model folder (a local folder, or a name's snapshot in the Hugging Face cache);
- a text encoder plug-in (newsbench.features.encoders): its source file (role `text encoder`).

`minilm` (the packaged model, named by its package) and `hash` (code) read nothing beyond the dataset. A run of
several modalities fused by a plug-in (newsbench.model.registry) reads its source file too: role `fusion`, whose
description adds the plug-in's import path and its distribution and version when installed.

Each input is described as {"path": absolute path, "size": bytes, "sha256": hex} (a folder: the sum of its files'
sizes, and a SHA-256 over their relative names and contents). The run id holds the digests in place of the paths
(`content_identity`), so the same bytes at another path are the same run and changed bytes at one path a new run;
the record stores the descriptions, so a rerun over changed bytes can say what changed (`stale_records`).

Digests are memoised by (absolute path, size, mtime): in this process, and in the cache's
`datasets/file-hashes.json` beside the dataset files' (newsbench.data.arrays.file_hashes), so a multi-GB vector
file or model folder is read once, not on every command.
"""

from __future__ import annotations

import json
from pathlib import Path

# The digests themselves (memoised sha256 of files and folders) are newsbench.digests; what a text encoder reads is
# newsbench.features.text.encoder_inputs.
from newsbench.digests import digests, file_digests
from newsbench.features.text import encoder_inputs
from newsbench.options import FUSIONS as BUILTIN_FUSIONS
from newsbench import plugins
from newsbench.plugins import plugin_fields


# ---------------------------------------------------------------------------------------------- what a run reads
def plugin_inputs(cfg, cache_dir=None) -> dict[str, dict]:
    """{"fusion": {"path", "size", "sha256", "import", "distribution"}} when a plug-in fuses the run's modalities,
    else {}. InputError when the plug-in cannot be imported."""
    if len(cfg.modalities) < 2 or cfg.fusion in BUILTIN_FUSIONS:
        return {}
    # by newsbench.plugins, not the fusion registry: the model package imports config, whose run ids come here
    plugin = plugins.describe(cfg.fusion, plugins.FUSIONS_GROUP, f"--fusion {cfg.fusion}")
    path = Path(plugin["source"])
    sha = file_digests({"fusion": path}, cache_dir)["fusion"]
    return {"fusion": {"path": str(path), "size": path.stat().st_size, "sha256": sha, **plugin_fields(plugin)}}


def run_inputs(cfg, cache_dir=None) -> dict[str, dict]:
    """The inputs of a RunConfig beyond its dataset (see the module docstring): {} unless it uses `llm` with a
    `file:` or `st:` encoder, or a plug-in fusion."""
    out = encoder_inputs(cfg.text_encoder, cache_dir) if "llm" in cfg.modalities else {}
    return {**out, **plugin_inputs(cfg, cache_dir)}


def content_identity(identity: dict, inputs: dict[str, dict]) -> dict:
    """A config identity (newsbench.options.identity_fields) with its inputs named by content: a `file:` or `st:`
    encoder's path gives way to its kind (and a vector file's format, which decides how its bytes are read),
    "inputs" holds the digests, and "plugins" a plug-in's import path and distribution. Unchanged without inputs, so
    runs that read none keep their ids."""
    if not inputs:
        return identity
    out = dict(identity)
    kind, _, arg = str(out.get("text_encoder", "")).partition(":")
    if kind in ("file", "st", "ebnerd"):       # named by content: the path gives way to the kind
        if kind == "file":
            suffix = Path(arg).suffix.lower()
            kind = f"file{suffix if suffix in ('.npy', '.parquet') else '.vec'}"     # read_vectors' three readers
        out["text_encoder"] = kind
    out["inputs"] = digests(inputs)
    plugins = {role: {k: d.get(k) for k in ("import", "distribution")} for role, d in inputs.items() if "import" in d}
    if plugins:
        out["plugins"] = plugins
    return out


# -------------------------------------------------------------------------------------- reruns over changed bytes
def changes(old: dict[str, dict], new: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(file name, old sha256, new sha256) of each input whose bytes differ between two descriptions."""
    out = []
    for role, now in new.items():
        was = old.get(role)
        if was and was.get("sha256") != now["sha256"]:
            out.append((Path(now["path"]).name, str(was.get("sha256")), now["sha256"]))
    return out


def stale_records(results, configs, fingerprint: str, inputs_of) -> list[tuple[object, str, list]]:
    """[(config, recorded run id, changes)] for each config that has a record in `results` of the same options,
    seed and dataset whose inputs had other bytes: the rerun is a new run, and the user should hear why.
    `inputs_of(cfg)` gives a config's inputs now. Records that do not parse are left to the damage checks."""
    from newsbench import store
    from newsbench.options import identity_fields

    def key(config: dict) -> str:
        return json.dumps(identity_fields(config), sort_keys=True, default=str)

    by_key: dict[str, list[dict]] = {}
    for path in sorted(store.runs_dir(results).glob("*.json")):
        try:
            rec = json.loads(path.read_text())
            if rec.get("inputs") and rec["dataset"]["fingerprint"] == fingerprint:
                by_key.setdefault(key(rec["config"]), []).append(rec)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue
    out = []
    for cfg in configs:
        recs = by_key.get(key(cfg.to_dict()))
        if not recs:
            continue
        latest = max(recs, key=lambda r: str(r.get("created", "")))      # what the user last ran
        diff = changes(latest["inputs"], inputs_of(cfg))
        if diff:
            out.append((cfg, latest["run_id"], diff))
    return out


def change_line(cfg, run_id: str, diff: list[tuple[str, str, str]], then: str = "training a new run") -> str:
    """`llm seed 0: emb.npy changed since the recorded run <id> (sha256 1234abcd.. -> 5678ef01..): training a new
    run`."""
    names = " and ".join(name for name, _, _ in diff)
    shas = "; ".join(f"sha256 {a[:8]}.. -> {b[:8]}.." for _, a, b in diff)
    return f"{cfg.label} seed {cfg.seed}: {names} changed since the recorded run {run_id} ({shas}): {then}"
