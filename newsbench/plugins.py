"""Plug-ins: classes outside newsbench, named by an import path or by an installed entry point, and their identity.

Two kinds use this: fusions (group `newsbench.fusions`, newsbench.model.registry) and text encoders (group
`newsbench.text_encoders`, newsbench.features.encoders). A plug-in is named

- by an entry point an installed package declares in a group (pyproject.toml: `[project.entry-points."GROUP"]
  NAME = "package.module:ClassName"`), or
- by `package.module:ClassName`, any class importable here.

Loading fails as one InputError naming the option (import error, missing attribute, broken entry point). A loaded
plug-in's identity is its import path, its distribution and version when installed, and its source file (the file
that defines the class), whose bytes newsbench.inputs digests into the run id.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import re
from pathlib import Path

from newsbench.errors import InputError

FUSIONS_GROUP = "newsbench.fusions"
TEXT_ENCODERS_GROUP = "newsbench.text_encoders"
IMPORT_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_INSTALLED: dict[str, dict[str, importlib.metadata.EntryPoint]] = {}      # group -> name -> entry point


def canonical(name: str) -> str:
    """One spelling per name: lower case, except an import path (`package.module:ClassName`), kept as written."""
    text = str(name).strip()
    return text if ":" in text else text.lower()


def is_import_path(name: str) -> bool:
    return bool(IMPORT_PATH.match(name))


def installed(group: str) -> dict[str, importlib.metadata.EntryPoint]:
    """The entry points of a group, by name in lower case (names are case-insensitive, as the built-ins' are). Read
    once per process (a scan of every installed distribution, and RunConfig asks for each plug-in config it
    builds); `forget` reads them again."""
    if group not in _INSTALLED:
        _INSTALLED[group] = {ep.name.lower(): ep for ep in importlib.metadata.entry_points(group=group)}
    return _INSTALLED[group]


def known(name: str, group: str, builtins) -> bool:
    """Whether `name` can name a plug-in of `group` or a built-in without importing anything (a cheap check for
    RunConfig; loading makes the real one)."""
    return name in builtins or is_import_path(name) or name in installed(group)


def names_plugin(spec: str, group: str, builtin_kinds) -> bool:
    """Whether a spec names a plug-in of `group` (an import path or an installed name) rather than one of the
    built-in kinds (`st:NAME`, `hash:DIM`: the kind is the part before the colon)."""
    if spec.partition(":")[0].strip().lower() in builtin_kinds:
        return False
    return is_import_path(spec) or spec.lower() in installed(group)


def choices_text(group: str, builtins) -> str:
    """`concat, gate, ..., film or package.module:ClassName`: the built-ins, the installed names, the import path."""
    names = list(builtins) + sorted(n for n in installed(group) if n not in builtins)
    return f"{', '.join(names)} or package.module:ClassName"


def forget() -> None:
    """Read the entry points again at the next call (tests that install or remove a plug-in)."""
    _INSTALLED.clear()


def clash(group: str, name: str, builtin: str) -> str | None:
    """Why an installed entry point of `group` named `name` is ambiguous (the name of a built-in `builtin`), or
    None when no entry point has that name."""
    ep = installed(group).get(name)
    if ep is None:
        return None
    return (f"the installed entry point {ep.name} = {ep.value}{_of(ep)} clashes with the built-in {builtin} {name}; "
            f"rename the plug-in's entry point")


def _of(ep) -> str:
    dist = getattr(ep, "dist", None)
    return f" (distribution {dist.name} {dist.version})" if dist is not None else ""


def load(name: str, group: str, where: str):
    """(object, import path, 'distribution version' or None) of a plug-in named by import path or entry point.
    `where` starts each error line (`--fusion NAME`). A name that is neither is the caller's to refuse."""
    if is_import_path(name):
        return _import(name, where), name, _distribution_of(name.partition(":")[0])
    ep = installed(group)[name]
    try:
        obj = ep.load()
    except Exception as err:        # a plug-in's import may raise anything: one line, not its traceback
        raise InputError(f"{where}: the entry point {ep.name} = {ep.value}{_of(ep)} cannot be loaded: "
                         f"{reason(err)}") from None
    dist = getattr(ep, "dist", None)
    return obj, ep.value.replace(" ", ""), f"{dist.name} {dist.version}" if dist is not None else None


def _import(path: str, where: str):
    module_name, _, attr = path.partition(":")
    try:
        obj = importlib.import_module(module_name)
    except Exception as err:
        raise InputError(f"{where}: cannot import {module_name}: {reason(err)}") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise InputError(f"{where}: module {module_name} has no {attr}")
        obj = getattr(obj, part)
    return obj


def reason(err: BaseException) -> str:
    """`TypeError: first line of the message`: what a plug-in's exception says, on one line."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}".rstrip(": ")


def what(obj) -> str:
    return f"the class {obj.__name__}" if inspect.isclass(obj) else f"a {type(obj).__name__}"


def _distribution_of(module_name: str) -> str | None:
    """'name version' of the installed distribution that provides a module's top-level package, else None."""
    top = module_name.split(".")[0]
    for dist_name in importlib.metadata.packages_distributions().get(top, []):
        try:
            return f"{dist_name} {importlib.metadata.version(dist_name)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


def identity(cls, target: str, dist: str | None, where: str) -> dict:
    """{"import", "distribution", "source"} of a loaded plug-in class; InputError when it has no source file (then
    its runs could not be named by their code)."""
    try:
        source = inspect.getsourcefile(cls)
    except TypeError:
        source = None
    if not source or not Path(source).is_file():
        raise InputError(f"{where}: {target} has no source file (defined interactively?), so its runs cannot be "
                         f"named by their code; put it in a module")
    return {"import": target, "distribution": dist, "source": str(Path(source).resolve())}


def describe(name: str, group: str, where: str) -> dict:
    """`identity` of the plug-in `name` names, loaded (not checked: the registries check what it is)."""
    return identity(*load(name, group, where), where)


def plugin_fields(plugin: dict) -> dict:
    """What a plug-in input's description (newsbench.inputs) adds to path, size and sha256: its import path and
    distribution."""
    return {"import": plugin["import"], "distribution": plugin["distribution"]}
