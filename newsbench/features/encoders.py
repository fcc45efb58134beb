"""Text encoders by name: a registry of kinds for the `llm` modality (`--text-encoder`, `-e`), built-ins and plug-ins.

Every spec names one `Kind`, the registry's entry: what names it (its identity), what it reads beyond the dataset,
how it encodes texts or, when it declares `per_news`, supplies a vector per news id, and what its feature cache key
holds. The built-in kinds `minilm`, `hash` / `hash:DIM`, `st:NAME_OR_PATH` and `file:PATH` are entries that
newsbench.features.text registers (`register`) where their code lives; a plug-in is the entry `PLUGIN`, named as a
fusion plug-in is (newsbench.plugins): an installed package's entry point in the group `newsbench.text_encoders`, or
`package.module:ClassName`. The built-in kinds come first, so a module named like one (`st`, `file`, `hash`) cannot
be a plug-in's, and an installed entry point named like one is refused (`check`).

The plug-in contract is `TextEncoder`'s docstring. A plug-in is checked before any work (`check`): it imports,
builds with no argument, and encodes two titles into a finite (2, D) matrix. Its identity (import path, distribution
and version, the sha256 of its source file) names its features in the cache and its runs (newsbench.inputs), so an
edited encoder computes new features and trains new runs.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Sequence

import numpy as np

from newsbench import plugins
from newsbench.errors import InputError

ENTRY_POINT_GROUP = plugins.TEXT_ENCODERS_GROUP
BUILTIN_KINDS = ("minilm", "hash", "st", "file", "ebnerd")   # the names newsbench.features.text registers, in order
PROBE_TEXTS = ["Markets rally as inflation cools", "Local team wins the championship"]

_RESOLVED: dict[str, tuple[type, dict]] = {}
_CHECKED: set[str] = set()


class TextEncoder:
    """The text encoder contract (subclassing it is optional).

    - Built as `cls()`, with no argument, once per feature computation (features are cached: by the encoder's
      identity, the texts and the text fields).
    - `encode(texts, device)` takes a list of B strings (the news titles, or title + abstract) and the device the
      run asked for (`cpu`, `cuda`, `cuda:N`), and returns a float matrix (B, D): a numpy array or a torch tensor,
      the same D for every call. Its rows are the news' frozen `llm` vectors.
    """

    def encode(self, texts: list[str], device: str = "cpu"):
        raise NotImplementedError


class Kind:
    """One kind of text encoder: what the feature code (newsbench.features.text) asks of a spec `NAME[:ARG]`.

    A built-in subclasses it and is `register`ed once; the plug-in kind (`PLUGIN`) serves every plug-in spec.
    """
    name = ""
    # Supplies one vector per news id (`vectors`), not one per text (`encode`): its features follow the dataset's
    # news ids, not their texts, so the text fields are not part of its cache key.
    per_news = False
    # A model encoder whose batching changes its vectors at float rounding level: the cache key holds the version
    # of that batching (newsbench.features.text.ST_BATCHING_VERSION).
    batched = False

    def parse(self, arg: str | None) -> str | None:
        """The argument after `NAME:` in one spelling (None when the spec has no colon), or None when it is not
        one this kind takes."""
        return "" if arg is None else None

    def reads(self, arg: str) -> dict[str, Path]:
        """{role: absolute path} of the files or folders it reads beyond the dataset (digested into its identity)."""
        return {}

    def annotate(self, arg: str, found: dict[str, dict]) -> None:
        """Add fields to the descriptions of what it reads ({role: {"path", "size", "sha256"}}), in place."""

    def identity(self, arg: str, found: dict[str, dict]) -> dict:
        """{'encoder', 'identity', 'weights_sha256', 'inputs', ...} from what it reads (`found`, described)."""
        raise NotImplementedError

    def encode(self, arg: str, texts: Sequence[str], device: str, batch_size: int | None,
               progress: bool) -> np.ndarray:
        """The float32 (len(texts), D) matrix of a kind that encodes texts; a `per_news` kind keeps this refusal."""
        raise InputError(f"{self.name}: encoders hold vectors per news id, not per text; use text_features")

    def vectors(self, arg: str, news_ids: Sequence[str]) -> np.ndarray:
        """The (len(news_ids), D) matrix of a `per_news` kind, rows in news_ids' order."""
        raise NotImplementedError

    def width(self, arg: str) -> int:
        """The width of its vectors, computing as little as it can (newsbench.params)."""
        raise NotImplementedError


_KINDS: dict[str, Kind] = {}


def register(kind: Kind) -> Kind:
    """Add a built-in kind to the registry (newsbench.features.text registers the four)."""
    if kind.name in _KINDS or kind.name == PLUGIN.name:
        raise ValueError(f"text encoder kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind
    return kind


def builtins() -> dict[str, Kind]:
    """The built-in kinds by name, in registration order."""
    return dict(_KINDS)


def available() -> dict[str, Kind]:
    """Every name a spec can start with: the built-in kinds, then the installed plug-ins' names (entry `PLUGIN`)."""
    return {**_KINDS, **{name: PLUGIN for name in sorted(installed()) if name not in _KINDS}}


def lookup(spec: str) -> tuple[Kind, str]:
    """(kind, argument) of an encoder spec: (minilm, ''), (hash, '384'), (st, NAME), (file, PATH), (PLUGIN, spec).
    InputError with the accepted forms for anything else."""
    spec = (spec or "").strip()
    name, sep, arg = spec.partition(":")
    kind = _KINDS.get(name)
    if kind is not None:
        parsed = kind.parse(arg if sep else None)
        if parsed is not None:
            return kind, parsed
    if is_plugin(spec):
        return PLUGIN, spec
    raise InputError(f"unknown text encoder {spec!r}: use minilm, hash, hash:DIM, st:NAME_OR_PATH, file:PATH, "
                     f"ebnerd:PATH, an installed plug-in's name or package.module:ClassName")


def installed() -> dict:
    return plugins.installed(ENTRY_POINT_GROUP)


def is_plugin(spec: str) -> bool:
    """Whether an encoder spec names a plug-in (an installed name or an import path), not a built-in kind."""
    return plugins.names_plugin(spec, ENTRY_POINT_GROUP, _KINDS)


def canonical(spec: str) -> str:
    """An installed name lower case, an import path as written."""
    return plugins.canonical(spec)


def resolve(spec: str, flag: str = "--text-encoder") -> tuple[type, dict]:
    """(class, identity {"import", "distribution", "source"}) of a plug-in encoder; InputError naming `flag`."""
    spec = canonical(spec.strip())
    where = f"{flag} {spec}"
    if spec not in _RESOLVED:
        cls, target, dist = plugins.load(spec, ENTRY_POINT_GROUP, where)
        if not inspect.isclass(cls) or not callable(getattr(cls, "encode", None)):
            raise InputError(f"{where}: {target} is {plugins.what(cls)}, not a class with an encode(texts, device) "
                             f"method (see docs/plugins.md)")
        _RESOLVED[spec] = (cls, plugins.identity(cls, target, dist, where))
    return _RESOLVED[spec]


def forget() -> None:
    _RESOLVED.clear()
    _CHECKED.clear()
    plugins.forget()


def encode(spec: str, texts: list[str], device: str = "cpu", flag: str = "--text-encoder") -> np.ndarray:
    """The plug-in's (len(texts), D) float32 matrix; InputError when it raises or breaks the contract."""
    cls, _ = resolve(spec, flag)
    where = f"{flag} {canonical(spec)}"
    try:
        out = cls().encode(list(texts), device)
    except Exception as err:
        raise InputError(f"{where}: encoding {len(texts)} texts raised {plugins.reason(err)}") from None
    return _checked_matrix(out, len(texts), where)


def _checked_matrix(out, n: int, where: str) -> np.ndarray:
    contract = f"encode must return a finite float matrix ({n}, D)"
    if hasattr(out, "detach"):                       # a torch tensor
        out = out.detach().float().cpu().numpy()
    try:
        matrix = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{where}: {contract}; it returned a {type(out).__name__}") from None
    if matrix.ndim != 2 or matrix.shape[0] != n or matrix.shape[1] < 1:
        raise InputError(f"{where}: {contract}; it returned shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise InputError(f"{where}: {contract}; it has NaN or infinite values")
    return matrix


def check(spec: str, flag: str = "--text-encoder") -> None:
    """Build a plug-in and encode two titles on the CPU: InputError (one line naming `flag`) on any failure, and
    for a built-in kind when an installed entry point takes its name. Before any data, feature or training work."""
    if not is_plugin(spec):
        kind = spec.partition(":")[0].strip().lower()
        clash = plugins.clash(ENTRY_POINT_GROUP, kind, "text encoder")
        if clash:
            raise InputError(f"{flag} {spec}: {clash}")
        return
    spec = canonical(spec)
    if spec in _CHECKED:
        return
    encode(spec, PROBE_TEXTS, "cpu", flag)
    _CHECKED.add(spec)


class _Plugin(Kind):
    """Every plug-in spec (its argument is the spec itself): named by its code, the source file it reads."""
    name = "plugin"

    def reads(self, arg: str) -> dict[str, Path]:
        return {"text encoder": Path(resolve(arg)[1]["source"])}

    def annotate(self, arg: str, found: dict[str, dict]) -> None:
        found["text encoder"].update(plugins.plugin_fields(resolve(arg)[1]))

    def identity(self, arg: str, found: dict[str, dict]) -> dict:
        # named by its code: the import path and distribution in the identity, the source file's bytes as weights
        src = found["text encoder"]
        dist = f" ({src['distribution']})" if src.get("distribution") else ""
        return {"encoder": arg, "identity": f"text encoder plug-in {src['import']}{dist}",
                "weights_sha256": src["sha256"], "source": src["path"], "inputs": found}

    def encode(self, arg: str, texts: Sequence[str], device: str, batch_size: int | None,
               progress: bool) -> np.ndarray:
        return encode(arg, list(texts), device)

    def width(self, arg: str) -> int:
        return int(encode(arg, PROBE_TEXTS).shape[1])         # on two titles


PLUGIN = _Plugin()
