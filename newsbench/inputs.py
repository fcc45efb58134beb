"""The inputs a run reads beyond its dataset, named by their bytes.

A run reads its dataset (named by the dataset fingerprint: the content hashes of its files, entity_embedding.vec and
relation_embedding.vec included, so the entity vectors of the inductive graph are in it already) and, with the `llm`
modality, what its text encoder names:

- `file:PATH`: the vector file, and for an `.npy` its ids file (`PATH.ids` or `STEM.ids.txt`);
- `st:NAME_OR_PATH`: the model folder (a local folder, or a name's snapshot in the Hugging Face cache).

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

import hashlib
import json
from pathlib import Path

from newsbench.config import FUSIONS as BUILTIN_FUSIONS
from newsbench.data import arrays
from newsbench.paths import cache_dir as resolve_cache_dir

_MEMO: dict[tuple[str, int, int], str] = {}     # (absolute path, size, mtime_ns) -> sha256, this process


# -------------------------------------------------------------------------------------------------------- digests
def file_digests(files: dict[str, Path], cache_dir=None) -> dict[str, str]:
    """sha256 per file (keys kept), memoised by absolute path, size and mtime in this process and in the cache.

    Raises InputError (missing, a folder, unreadable) as the dataset reader does."""
    out: dict[str, str] = {}
    todo: dict[str, Path] = {}
    stamps: dict[str, tuple[str, int, int]] = {}
    for key, path in files.items():
        st = arrays.stat_file(Path(path))
        stamps[key] = (str(Path(path).resolve()), st.st_size, st.st_mtime_ns)
        if stamps[key] in _MEMO:
            out[key] = _MEMO[stamps[key]]
        else:
            todo[key] = Path(path)
    if todo:
        root = resolve_cache_dir(cache_dir)
        hashes, fresh = arrays.file_hashes(todo, root)
        arrays.remember_hashes(root, fresh)
        for key in todo:
            _MEMO[stamps[key]] = out[key] = hashes[key]
    return out


def folder_files(folder: Path) -> dict[str, Path]:
    """The files of a folder by relative name (POSIX), sorted; hidden files and folders (.git, .cache) left out."""
    files = {}
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not any(part.startswith(".") for part in rel.parts):
            files[rel.as_posix()] = p
    return files


def folder_digest(folder: Path, cache_dir=None) -> tuple[str, int]:
    """(sha256, total bytes) of a folder: a hash over each file's relative name and content hash, in name order."""
    files = folder_files(folder)
    digests = file_digests(files, cache_dir)
    h = hashlib.sha256()
    for rel in files:
        h.update(f"{rel}\0{digests[rel]}\n".encode())
    return h.hexdigest(), sum(p.stat().st_size for p in files.values())


# ---------------------------------------------------------------------------------------------- what a run reads
def reads(text_encoder: str) -> dict[str, Path]:
    """{role: absolute path} of what a text encoder reads beyond the dataset. InputError when a vector file, its
    ids or a model folder is missing, with the line the run itself would stop with."""
    from newsbench.features import text

    kind, arg = text.parse_encoder(text_encoder)
    if kind == "file":
        path = text.vector_file(arg)
        out = {"text vectors": path}
        if path.suffix == ".npy":
            out["text ids"] = text.ids_sidecar(path)
        return out
    if kind == "st":
        return {"text model": text.st_model_path(arg)}
    if kind == "plugin":
        return {"text encoder": Path(_plugin_of(text_encoder)["source"])}
    return {}


def _plugin_of(text_encoder: str) -> dict:
    from newsbench.features import encoders

    return encoders.resolve(text_encoder)[1]


def encoder_inputs(text_encoder: str, cache_dir=None) -> dict[str, dict]:
    """{role: {"path", "size", "sha256"}} of what a text encoder reads beyond the dataset ({} for minilm, hash)."""
    paths = reads(text_encoder)
    files = {role: p for role, p in paths.items() if not p.is_dir()}
    digests = file_digests(files, cache_dir)
    out = {}
    for role, p in paths.items():
        if p.is_dir():
            sha, size = folder_digest(p, cache_dir)
        else:
            sha, size = digests[role], p.stat().st_size
        out[role] = {"path": str(p), "size": size, "sha256": sha}
    if "text encoder" in out:                   # a plug-in: named by its code (newsbench.plugins.identity)
        plugin = _plugin_of(text_encoder)
        out["text encoder"].update(plugin_fields(plugin))
    return out


def plugin_fields(plugin: dict) -> dict:
    """What a plug-in input's description adds to path, size and sha256: its import path and distribution."""
    return {"import": plugin["import"], "distribution": plugin["distribution"]}


def plugin_inputs(cfg, cache_dir=None) -> dict[str, dict]:
    """{"fusion": {"path", "size", "sha256", "import", "distribution"}} when a plug-in fuses the run's modalities,
    else {}. InputError when the plug-in cannot be imported."""
    if len(cfg.modalities) < 2 or cfg.fusion in BUILTIN_FUSIONS:
        return {}
    from newsbench.model.registry import plugin_identity

    plugin = plugin_identity(cfg.fusion)
    path = Path(plugin["source"])
    sha = file_digests({"fusion": path}, cache_dir)["fusion"]
    return {"fusion": {"path": str(path), "size": path.stat().st_size, "sha256": sha, **plugin_fields(plugin)}}


def run_inputs(cfg, cache_dir=None) -> dict[str, dict]:
    """The inputs of a RunConfig beyond its dataset (see the module docstring): {} unless it uses `llm` with a
    `file:` or `st:` encoder, or a plug-in fusion."""
    out = encoder_inputs(cfg.text_encoder, cache_dir) if "llm" in cfg.modalities else {}
    return {**out, **plugin_inputs(cfg, cache_dir)}


def digests(inputs: dict[str, dict]) -> dict[str, str]:
    """{role: sha256}: what a run id holds of its inputs."""
    return {role: d["sha256"] for role, d in sorted(inputs.items())}


def combined_digest(inputs: dict[str, dict]) -> str:
    """One sha256 for all the inputs (the text feature cache key's `weights`)."""
    return hashlib.sha256(json.dumps(digests(inputs), sort_keys=True).encode()).hexdigest()


def content_identity(identity: dict, inputs: dict[str, dict]) -> dict:
    """A config identity (newsbench.options.identity_fields) with its inputs named by content: a `file:` or `st:`
    encoder's path gives way to its kind (and a vector file's format, which decides how its bytes are read),
    "inputs" holds the digests, and "plugins" a plug-in's import path and distribution. Unchanged without inputs, so
    runs that read none keep their ids."""
    if not inputs:
        return identity
    out = dict(identity)
    kind, _, arg = str(out.get("text_encoder", "")).partition(":")
    if kind in ("file", "st"):
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
