"""Text encoders by name: the built-in kinds and plug-ins, for the `llm` modality (`--text-encoder`, `-e`).

Built-in kinds (newsbench.features.text): `minilm`, `hash` / `hash:DIM`, `st:NAME_OR_PATH`, `file:PATH`. A plug-in
is named as a fusion plug-in is (newsbench.plugins): an installed package's entry point in the group
`newsbench.text_encoders`, or `package.module:ClassName`. The built-in kinds come first, so a module named like one
(`st`, `file`, `hash`) cannot be a plug-in's.

The contract is `TextEncoder`'s docstring. A plug-in is checked before any work (`check`): it imports, builds with no
argument, and encodes two titles into a finite (2, D) matrix. Its identity (import path, distribution and version,
the sha256 of its source file) names its features in the cache and its runs (newsbench.inputs), so an edited
encoder computes new features and trains new runs.
"""

from __future__ import annotations

import inspect

import numpy as np

from newsbench import plugins
from newsbench.errors import InputError

ENTRY_POINT_GROUP = plugins.TEXT_ENCODERS_GROUP
BUILTIN_KINDS = ("minilm", "hash", "st", "file")
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


def installed() -> dict:
    return plugins.installed(ENTRY_POINT_GROUP)


def is_plugin(spec: str) -> bool:
    """Whether an encoder spec names a plug-in (an installed name or an import path), not a built-in kind."""
    kind = spec.partition(":")[0].strip().lower()
    if kind in BUILTIN_KINDS:
        return False
    return plugins.is_import_path(spec) or spec.lower() in installed()


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
