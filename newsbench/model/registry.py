"""Fusions by name: the built-ins, installed plug-ins and any importable class, all through one contract.

A fusion is named on the command line (`--fusion`, `--fusions`, `params --fusions`) in one of three ways:

- a built-in: concat, gate, attention, attention-unscaled, mean (registered below, the same way as plug-ins);
- a name an installed package registers under the entry-point group `newsbench.fusions`
  (pyproject.toml: `[project.entry-points."newsbench.fusions"] film = "film_fusion:FiLMFusion"`);
- `package.module:ClassName`, any class importable here.

The contract is `Fusion`'s docstring. A plug-in is checked before any work (`check`): it imports, is an nn.Module
class, builds from (k, dim), and one forward on two rows gives the contract's shapes; anything else is one
InputError naming the option. A plug-in's identity (`plugin_identity`) is its import path, its distribution and
version when installed, and its source file, whose bytes enter the run id (newsbench.inputs), so an edited plug-in
is a new run and an unchanged one reuses its records.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from newsbench.config import canonical_fusion as canonical
from newsbench.errors import InputError
from newsbench.model.fusion import AttentionFusion, ConcatFusion, GateFusion, MeanFusion

ENTRY_POINT_GROUP = "newsbench.fusions"
PROBE_ROWS = 2          # the check's forward: two news, so a plug-in that squeezes its batch shows it


class Fusion(nn.Module):
    """The fusion contract (subclassing it is optional: any nn.Module class that keeps it is a fusion).

    - Built as `cls(k, dim)`: k >= 2 modalities (id, llm, gnn, rand: those of the run, in that order) and the fused
      width d (`--dim`, 256 by default). The news encoder makes one per run, after seeding, so its init is seeded.
    - `forward(h)` takes h (B, k, d), the k projected modality vectors of B news, and returns `(fused, weights)`:
      fused (B, d); weights (B, k), the per-news modality weights (rows summing to 1: then the report's weights
      table shows them), or None.
    - Optional: `init_as_mean()` makes it start as the mean of its k inputs (for `--fusion-init mean`).
    """

    def __init__(self, k: int, dim: int):
        super().__init__()
        self.k, self.dim = k, dim

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        raise NotImplementedError


@dataclass(frozen=True)
class Entry:
    """One fusion the registry knows: how to build it over k modalities at width dim, and what it is."""
    name: str
    build: Callable[[int, int], nn.Module]
    weights: bool = False               # forward may return per-news modality weights (the report shows them)
    # per-news FLOPs that FlopCounterMode does not see (an elementwise weighted sum), counted by hand (params)
    hand_flops: Callable[[int, int], int] | None = None
    plugin: dict | None = None          # plugin_identity() of a plug-in; None for a built-in


def _weighted_sum_flops(k: int, dim: int) -> int:
    return 2 * k * dim


BUILTINS: dict[str, Entry] = {e.name: e for e in (
    Entry("concat", lambda k, dim: ConcatFusion(k, dim)),
    Entry("gate", lambda k, dim: GateFusion(k, dim), True, _weighted_sum_flops),
    Entry("attention", lambda k, dim: AttentionFusion(dim, scaled=True), True, _weighted_sum_flops),
    Entry("attention-unscaled", lambda k, dim: AttentionFusion(dim, scaled=False), True, _weighted_sum_flops),
    Entry("mean", lambda k, dim: MeanFusion()),
)}

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")
_RESOLVED: dict[str, Entry] = {}                      # name -> Entry, this process
_CHECKED: set[tuple[str, int, int]] = set()           # (name, k, dim) whose probe passed, this process
_INSTALLED: dict | None = None                        # entry point name -> EntryPoint, read once


def is_import_path(name: str) -> bool:
    return ":" in name


def is_plugin(name: str) -> bool:
    return name not in BUILTINS and name != "none"


def installed() -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of the group `newsbench.fusions`, by name. Read once per process (a scan of every installed
    distribution, and RunConfig asks for each plug-in config it builds); `forget` reads them again."""
    global _INSTALLED
    if _INSTALLED is None:
        _INSTALLED = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return _INSTALLED


def known_name(name: str) -> bool:
    """Whether `name` can name a fusion without importing anything: a built-in, an import path, an installed name.
    RunConfig's check; `resolve` and `check` make the real ones."""
    return name in BUILTINS or bool(_IMPORT_PATH.match(name)) or name in installed()


def choices_text() -> str:
    names = list(BUILTINS) + sorted(n for n in installed() if n not in BUILTINS)
    return f"{', '.join(names)} or package.module:ClassName"


def forget() -> None:
    """Drop what this process resolved and checked (tests that edit or install a plug-in)."""
    global _INSTALLED
    _RESOLVED.clear()
    _CHECKED.clear()
    _INSTALLED = None


# -------------------------------------------------------------------------------------------------- resolving
def resolve(name: str, flag: str = "--fusion") -> Entry:
    """The Entry of a fusion name; InputError (naming `flag`) when it cannot be imported, is no nn.Module class, or
    an installed name clashes with a built-in."""
    name = canonical(name)
    clash = _clash(name)
    if clash:
        raise InputError(f"{flag} {name}: {clash}")
    if name in BUILTINS:
        return BUILTINS[name]
    if name not in _RESOLVED:
        _RESOLVED[name] = _resolve_plugin(name, flag)
    return _RESOLVED[name]


def _clash(name: str) -> str | None:
    """Why an installed entry point makes `name` ambiguous (it reuses a built-in's name), else None."""
    if name not in BUILTINS:
        return None
    ep = installed().get(name)
    if ep is None:
        return None
    return (f"the installed entry point {ep.name} = {ep.value}{_of(ep)} clashes with the built-in fusion {name}; "
            f"rename the plug-in's entry point")


def _of(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f" (distribution {dist.name} {dist.version})" if dist is not None else ""


def _resolve_plugin(name: str, flag: str) -> Entry:
    if is_import_path(name):
        if not _IMPORT_PATH.match(name):
            raise InputError(f"{flag} {name}: not an import path; write package.module:ClassName")
        cls = _import(name, flag)
        target, dist = name, _distribution_of(name.partition(":")[0])
    else:
        ep = installed().get(name)
        if ep is None:
            raise InputError(f"{flag} {name}: unknown fusion; choose {choices_text()}")
        try:
            cls = ep.load()
        except Exception as err:        # a plug-in's import may raise anything: one line, not its traceback
            raise InputError(f"{flag} {name}: the entry point {ep.name} = {ep.value}{_of(ep)} cannot be loaded: "
                             f"{_reason(err)}") from None
        target = ep.value.replace(" ", "")
        dist = f"{ep.dist.name} {ep.dist.version}" if getattr(ep, "dist", None) is not None else None
    if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
        raise InputError(f"{flag} {name}: {target} is {_what(cls)}, not a torch.nn.Module class "
                         f"(see docs/plugins.md)")
    return Entry(name, lambda k, dim: cls(k, dim), weights=True, plugin=_identity(cls, target, dist, flag, name))


def _import(path: str, flag: str):
    module_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as err:
        raise InputError(f"{flag} {path}: cannot import {module_name}: {_reason(err)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{flag} {path}: module {module_name} has no {attr}")
        obj = getattr(obj, part)
    return obj


def _reason(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def _what(obj) -> str:
    if inspect.isclass(obj):
        return f"the class {obj.__name__}"
    return f"a {type(obj).__name__}"


def _distribution_of(module_name: str) -> str | None:
    """'name version' of the installed distribution that provides a module's top-level package, else None."""
    top = module_name.split(".")[0]
    for dist_name in importlib.metadata.packages_distributions().get(top, []):
        try:
            return f"{dist_name} {importlib.metadata.version(dist_name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def _identity(cls, target: str, dist: str | None, flag: str, name: str) -> dict:
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        source = None
    if not source or not Path(source).is_file():
        raise InputError(f"{flag} {name}: {target} has no source file (defined interactively?), so its runs "
                         f"cannot be named by their code; put it in a module")
    return {"import": target, "distribution": dist, "source": str(Path(source).resolve())}


def plugin_identity(name: str) -> dict | None:
    """{"import", "distribution" (or None), "source"} of a plug-in fusion; None for a built-in."""
    return resolve(name).plugin


# ---------------------------------------------------------------------------------------------------- checking
def make_fusion(name: str, k: int, dim: int = 256) -> nn.Module | None:
    """The fusion module for `name` over k modalities; None when k == 1 (no fusion, no parameters)."""
    if k == 1 or name == "none":
        return None
    return resolve(name).build(k, dim)


def has_weights(name: str, k: int) -> bool:
    """Whether the fusion may compute per-news modality weights worth recording (a plug-in: when its forward
    returns them)."""
    return k > 1 and name != "none" and resolve(name).weights


def hand_flops(name: str, k: int, dim: int) -> int:
    """Per-news FLOPs of a fusion that FlopCounterMode does not see (0 for a plug-in: what the counter counts)."""
    if k == 1 or name == "none":
        return 0
    entry = resolve(name)
    return entry.hand_flops(k, dim) if entry.hand_flops else 0


def check(name: str, k: int, dim: int, flag: str = "--fusion", mean_init: bool = False) -> None:
    """Build the fusion over k modalities at width dim and run one forward on two rows: InputError (one line naming
    `flag`) for a plug-in that raises, returns other than (fused (2, dim), weights (2, k) or None), or cannot start
    as the mean when `mean_init`. Built-ins pass without a probe. The caller's random state is left alone."""
    entry = resolve(name, flag)
    if entry.plugin is None or (entry.name, k, dim) in _CHECKED and not mean_init:
        return
    where = f"{flag} {name}"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        try:
            module = entry.build(k, dim)
        except Exception as err:
            raise InputError(f"{where}: building it with (k={k}, dim={dim}) raised {_reason(err)}") from None
        if not isinstance(module, nn.Module):
            raise InputError(f"{where}: building it gave {_what(module)}, not a torch.nn.Module")
        if mean_init and not callable(getattr(module, "init_as_mean", None)):
            raise InputError(f"{where}: --fusion-init mean needs the plug-in's init_as_mean() method, which it "
                             f"does not have")
        h = torch.randn(PROBE_ROWS, k, dim)
        try:
            with torch.no_grad():
                out = module(h)
        except Exception as err:
            raise InputError(f"{where}: its forward on ({PROBE_ROWS}, {k}, {dim}) raised {_reason(err)}") from None
    _check_output(out, k, dim, where)
    _CHECKED.add((entry.name, k, dim))


def _check_output(out, k: int, dim: int, where: str) -> None:
    contract = f"forward must return (fused ({PROBE_ROWS}, {dim}), weights ({PROBE_ROWS}, {k}) or None)"
    if not (isinstance(out, tuple) and len(out) == 2):
        raise InputError(f"{where}: {contract}; it returned {_shape(out)}")
    fused, weights = out
    if not isinstance(fused, torch.Tensor) or tuple(fused.shape) != (PROBE_ROWS, dim):
        raise InputError(f"{where}: {contract}; fused is {_shape(fused)}")
    if not fused.is_floating_point() or not torch.isfinite(fused).all():
        raise InputError(f"{where}: {contract}; fused is not finite floating point ({fused.dtype})")
    if weights is not None and (not isinstance(weights, torch.Tensor) or tuple(weights.shape) != (PROBE_ROWS, k)):
        raise InputError(f"{where}: {contract}; weights are {_shape(weights)}")


def _shape(x) -> str:
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)}"
    if isinstance(x, tuple):
        return f"a tuple of {len(x)}"
    return f"a {type(x).__name__}"


def check_configs(configs, flag: str = "--fusion") -> None:
    """`check` each distinct (fusion, k, dim) of some RunConfigs: before any data, feature or training work."""
    seen = set()
    for cfg in configs:
        key = (cfg.fusion, len(cfg.modalities), cfg.dim, cfg.fusion_init == "mean")
        if len(cfg.modalities) > 1 and key not in seen:
            seen.add(key)
            check(cfg.fusion, len(cfg.modalities), cfg.dim, flag, mean_init=key[3])
