"""Fusions by name: the built-ins, installed plug-ins and any importable class, all through one contract.

A fusion is named on the command line (`--fusion`, `--fusions`, `params --fusions`) in one of three ways:

- a built-in: concat, gate, attention, attention-unscaled, mean (registered below, the same way as plug-ins);
- a name an installed package registers under the entry-point group `newsbench.fusions`
  (pyproject.toml: `[project.entry-points."newsbench.fusions"] film = "film_fusion:FiLMFusion"`);
- `package.module:ClassName`, any class importable here.

The contract is `Fusion`'s docstring. A plug-in is checked before any work (`check`): it imports, is an nn.Module
class, builds from (k, dim), and one forward on two rows gives the contract's shapes; anything else is one
InputError naming the option. A plug-in's identity (`plugin_identity`, newsbench.plugins) is its import path, its
distribution and version when installed, and its source file, whose bytes enter the run id (newsbench.inputs), so
an edited plug-in is a new run and an unchanged one reuses its records.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from newsbench import plugins
from newsbench.errors import InputError
from newsbench.model.fusion import AttentionFusion, ConcatFusion, GateFusion, MeanFusion

ENTRY_POINT_GROUP = plugins.FUSIONS_GROUP
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

_RESOLVED: dict[str, Entry] = {}                      # name -> Entry, this process
_CHECKED: set[tuple[str, int, int]] = set()           # (name, k, dim) whose probe passed, this process


def installed() -> dict:
    """The entry points of the group `newsbench.fusions`, by name (newsbench.plugins.installed)."""
    return plugins.installed(ENTRY_POINT_GROUP)


def known_name(name: str) -> bool:
    """Whether `name` can name a fusion without importing anything: a built-in, an import path, an installed name.
    `resolve` and `check` make the real checks."""
    return plugins.known(name, ENTRY_POINT_GROUP, BUILTINS)


def choices_text() -> str:
    return plugins.choices_text(ENTRY_POINT_GROUP, BUILTINS)


def forget() -> None:
    """Drop what this process resolved, checked and read of the entry points (tests that edit or install one)."""
    _RESOLVED.clear()
    _CHECKED.clear()
    plugins.forget()


# -------------------------------------------------------------------------------------------------- resolving
def resolve(name: str, flag: str = "--fusion") -> Entry:
    """The Entry of a fusion name; InputError (naming `flag`) when it is unknown, cannot be imported, is no
    nn.Module class, or an installed name clashes with a built-in."""
    name = plugins.canonical(name)
    where = f"{flag} {name}"
    if name in BUILTINS:
        clash = plugins.clash(ENTRY_POINT_GROUP, name, "fusion")
        if clash:
            raise InputError(f"{where}: {clash}")
        return BUILTINS[name]
    if name not in _RESOLVED:
        if not known_name(name):
            raise InputError(f"{where}: unknown fusion; choose {choices_text()}")
        cls, target, dist = plugins.load(name, ENTRY_POINT_GROUP, where)
        if not (inspect.isclass(cls) and issubclass(cls, nn.Module)):
            raise InputError(f"{where}: {target} is {plugins.what(cls)}, not a torch.nn.Module class "
                             f"(see docs/plugins.md)")
        _RESOLVED[name] = Entry(name, lambda k, dim: cls(k, dim), weights=True,
                                plugin=plugins.identity(cls, target, dist, where))
    return _RESOLVED[name]


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
            raise InputError(f"{where}: building it with (k={k}, dim={dim}) raised {plugins.reason(err)}") from None
        if not isinstance(module, nn.Module):
            raise InputError(f"{where}: building it gave {plugins.what(module)}, not a torch.nn.Module")
        if mean_init and not callable(getattr(module, "init_as_mean", None)):
            raise InputError(f"{where}: --fusion-init mean needs the plug-in's init_as_mean() method, which it "
                             f"does not have")
        h = torch.randn(PROBE_ROWS, k, dim)
        try:
            with torch.no_grad():
                out = module(h)
        except Exception as err:
            raise InputError(f"{where}: its forward on ({PROBE_ROWS}, {k}, {dim}) raised "
                             f"{plugins.reason(err)}") from None
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
