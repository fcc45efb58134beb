"""The search space of `newsbench tune`: which run options a trial draws, over which ranges, declared here once.

Every parameter is a RunConfig field with a row in the option table (newsbench.options), and every range lies within
that row's range, so a trial's settings are settings `newsbench train` accepts. The default space holds the
hyper-parameters newsbench has: the learning rate, the news-vector dropout, the ID dropout (only where the run has
the `id` modality) and the user encoder's attention width. It has no weight decay and no fusion width: newsbench has
no such option (Adam without decay; the fusions' widths follow --dim). A TOML file (`--space FILE`,
docs/tuning.md) replaces the ranges of the parameters it names, adds other numeric training or model options, or
drops one with `NAME = false`; every mistake in it is one error line naming the file, before any trial.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from newsbench.errors import InputError
from newsbench.options import MODEL, SPECS, TRAINING


@dataclass(frozen=True)
class Param:
    """One searched option: RunConfig field `name`, drawn in [low, high] (log-uniform when `log`)."""
    name: str
    low: float
    high: float
    log: bool = False

    @property
    def kind(self) -> type:
        return SPECS[self.name].kind

    def applies(self, modalities) -> bool:
        """Whether the option changes a run of these modalities (newsbench.options.ONLY_WITH: id_dropout needs id)."""
        from newsbench.options import ONLY_WITH

        return all(self.name not in fields or m in modalities for m, fields in ONLY_WITH.items())

    def text(self) -> str:
        scale = "log" if self.log else "uniform"
        kind = "int" if self.kind is int else "float"
        return f"{_num(self.low)}..{_num(self.high)} ({kind}, {scale})"


def _num(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


# The declared space. Ranges: the learning rate over two decades around the default 3e-3; dropout up to NRMS's 0.2
# and beyond; the user encoder's width around its default 200. The same space for every configuration: no range is
# chosen to suit one fusion.
DEFAULT_SPACE: tuple[Param, ...] = (
    Param("lr", 1e-4, 1e-2, log=True),
    Param("news_dropout", 0.0, 0.5),
    Param("id_dropout", 0.0, 0.5),
    Param("user_hidden", 32, 512, log=True),
)

# What a file may search: the numeric training and model options. Not the seed (the tuning seed is its own option),
# not feature options (features are computed once for every trial of a configuration), not threads.
SEARCHABLE = tuple(s.field for s in SPECS.values()
                   if s.kind in (int, float) and s.panel in (TRAINING, MODEL) and s.field != "seed")
_KEYS = {"low", "high", "log"}


def for_modalities(space, modalities) -> tuple[Param, ...]:
    """The parameters of `space` that change a run of these modalities."""
    return tuple(p for p in space if p.applies(modalities))


def digest(space) -> str:
    """A short hash of a space: part of each study's name, so a changed space starts a new study."""
    text = json.dumps([asdict(p) for p in space], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def load_space(path: str | Path | None) -> tuple[Param, ...]:
    """DEFAULT_SPACE, with the file's changes when `path` is given. InputError (file and reason) for a file that
    cannot be read or parsed, an unknown parameter or key, a range outside the option's, low > high, log with
    low <= 0, a fraction for an integer option."""
    if path is None:
        return DEFAULT_SPACE
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("search-space file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read the search-space file: {err}", file=path) from None
    toml = _toml()
    try:
        doc = toml.loads(text)
    except toml.TOMLDecodeError as err:
        raise InputError(f"not valid TOML: {err}", file=path) from None
    space = {p.name: p for p in DEFAULT_SPACE}
    for name, entry in doc.items():
        if name not in SEARCHABLE:
            raise InputError(f"unknown parameter {name!r}; searchable: {', '.join(SEARCHABLE)}", file=path)
        if entry is False:
            space.pop(name, None)
            continue
        space[name] = _param(name, entry, space.get(name), path)
    if not space:
        raise InputError("the search space is empty: every parameter is set to false", file=path)
    order = [s for s in SPECS]
    return tuple(sorted(space.values(), key=lambda p: order.index(p.name)))


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib

        return tomllib
    try:
        import tomli
    except ImportError:
        raise InputError("--space needs tomli on Python 3.10: pip install 'newsbench[tune]'") from None
    return tomli


def _param(name: str, entry, default: Param | None, path: Path) -> Param:
    spec = SPECS[name]
    if not isinstance(entry, dict):
        raise InputError(f"[{name}]: give a table with low, high and optionally log, or {name} = false", file=path)
    extra = set(entry) - _KEYS
    if extra:
        raise InputError(f"[{name}]: unknown key {sorted(extra)[0]!r}; use low, high, log", file=path)
    if default is None and not {"low", "high"} <= set(entry):
        raise InputError(f"[{name}]: give low and high (it is not in the default space)", file=path)
    low = entry.get("low", default.low if default else None)
    high = entry.get("high", default.high if default else None)
    log = entry.get("log", default.log if default else False)
    if not isinstance(log, bool):
        raise InputError(f"[{name}]: log must be true or false, not {log!r}", file=path)
    for key, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"[{name}]: {key} must be a number, not {v!r}", file=path)
        if spec.kind is int and v != int(v):
            raise InputError(f"[{name}]: {key} {v} must be an integer ({spec.flag} takes integers)", file=path)
        if not spec.lo <= v <= spec.hi:
            raise InputError(f"[{name}]: {key} {v} is outside {spec.flag}'s range {spec.range_text()}", file=path)
    if low > high:
        raise InputError(f"[{name}]: low {low} is above high {high}", file=path)
    if log and low <= 0:
        raise InputError(f"[{name}]: a log scale needs low > 0, not {low}", file=path)
    cast = int if spec.kind is int else float
    return Param(name, cast(low), cast(high), log)


def distributions(space) -> dict:
    """Optuna distributions of a space, by parameter name (imported here: Optuna is the `tune` extra)."""
    from optuna.distributions import FloatDistribution, IntDistribution

    return {p.name: (IntDistribution(int(p.low), int(p.high), log=p.log) if p.kind is int
                     else FloatDistribution(float(p.low), float(p.high), log=p.log)) for p in space}
