"""Typer options built from the one table of run options (newsbench.options), so every command spells, documents and
checks an option the same way. Each option checks its value while the command line is parsed (a Click callback):
a bad value ends as one `newsbench: error:` line before the command does any work, --dry-run included."""

from __future__ import annotations

import dataclasses
import functools
import inspect
from typing import Any, Callable

import typer

from newsbench.config import RunConfig
from newsbench.errors import InputError
from newsbench.options import EXECUTION, OTHER, SPECS, Spec, canonical_text_encoder, check_device

_CFG_DEFAULT = RunConfig()


class BadOption(typer.BadParameter):
    """A bad option value found while parsing: Click's usage error (exit 2), with our one-line message as is."""

    def format_message(self) -> str:
        return self.message


def checked(fn: Callable) -> Callable:
    """A Click callback from a check that raises InputError."""
    def callback(value):
        try:
            return fn(value)
        except InputError as err:
            raise BadOption(str(err)) from None
    return callback


def _checker(spec: Spec, flag: str) -> Callable:
    def check(value):
        if spec.field == "text_encoder":
            return None if value is None else canonical_text_encoder(value, flag)
        return spec.check(value, flag)
    return checked(check)


def _help(spec: Spec, help: str | None, default: Any = None) -> str:
    """One line: the table's help, then the range or choices and the default, inline. typer's own "[default: x]"
    takes a line of its own in each option's row, which at 80 columns nearly doubles --help."""
    text = help or spec.help
    accepted = None if spec.kind is str and not spec.choices else spec.range_text()
    shown = _default_text(default)
    if accepted and shown is not None:
        return f"{text} {accepted}; default {shown}."
    if accepted:
        return f"{text} {accepted}."
    return text if shown is None else f"{text} Default {shown}."


def _default_text(default: Any) -> str | None:
    if default is None or default is ... or isinstance(default, bool):
        return None
    if isinstance(default, float):
        return f"{default:g}"
    return f"{default:,}" if isinstance(default, int) and abs(default) >= 10_000 else str(default)


def _panel(spec: Spec, kw: dict) -> dict:
    if spec.panel and "rich_help_panel" not in kw:
        kw["rich_help_panel"] = spec.panel
    return kw


def run_option(field: str, default: Any = ..., *, flags: tuple[str, ...] | None = None, help: str | None = None,
               **kw) -> Any:
    """The Typer option of RunConfig field `field` (default: RunConfig's), in the table's --help panel."""
    spec = SPECS[field]
    flags = flags or spec.flags
    if default is ...:
        # the declared default: a field left None (graph_epochs) is resolved by RunConfig from other options
        declared = {f.name: f.default for f in dataclasses.fields(RunConfig)}[field]
        default = None if declared is None else getattr(_CFG_DEFAULT, field)
    return typer.Option(default, *flags, help=_help(spec, help, default), callback=_checker(spec, flags[0]),
                        show_default=False, **_panel(spec, kw))


def _span(first: str, last: str) -> tuple[str, ...]:
    names = tuple(SPECS)
    return names[names.index(first):names.index(last) + 1]


# The groups of run options that several commands take whole, in the table's order (the order of their --help).
TRAINING_OPTIONS = _span("epochs", "fusion_init")           # how the model is built and trained
FEATURE_OPTIONS = _span("text_encoder", "graph_seed")       # how the frozen text and graph features are made


def with_run_options(*fields: str, after: str) -> Callable:
    """Give a command the run options `fields` (run_option's, with the table's defaults), listed in --help right after
    its parameter `after`; the command receives their values in its `**kwargs`, keyed by RunConfig field, to forward
    as they are. One declaration serves every command that takes them. Stack it for options listed elsewhere.

    Typer reads a command's parameters from inspect.signature and typing.get_type_hints, so the wrapper carries both,
    built here; the wrapped function keeps its own."""
    def decorate(fn: Callable) -> Callable:
        if not any(p.kind is p.VAR_KEYWORD for p in inspect.signature(inspect.unwrap(fn)).parameters.values()):
            raise TypeError(f"{fn.__name__} takes no **kwargs to receive the run options in")
        # keyword-only throughout: a signature puts no positional parameter after a keyword-only one, and typer
        # passes every value by name anyway
        params = [p.replace(kind=p.KEYWORD_ONLY) for p in inspect.signature(fn, eval_str=True).parameters.values()
                  if p.kind is not p.VAR_KEYWORD]
        names = [p.name for p in params]
        if after not in names or set(fields) & set(names):
            raise TypeError(f"{fn.__name__}: no parameter {after!r}, or one named as a run option")
        at = names.index(after) + 1
        params[at:at] = [inspect.Parameter(f, inspect.Parameter.KEYWORD_ONLY, default=run_option(f),
                                           annotation=SPECS[f].kind) for f in fields]

        @functools.wraps(fn)
        def command(**kwargs):
            return fn(**kwargs)

        command.__signature__ = inspect.Signature(params)
        command.__annotations__ = {p.name: p.annotation for p in params if p.annotation is not p.empty}
        return command
    return decorate


def other_option(name: str, default: Any, *, flags: tuple[str, ...] | None = None, help: str | None = None,
                 **kw) -> Any:
    """The Typer option of a shared non-run option (`--alpha`, `--workers`, ...)."""
    spec = OTHER[name]
    flags = flags or spec.flags
    return typer.Option(default, *flags, help=_help(spec, help, default), callback=_checker(spec, flags[0]),
                        show_default=False, **_panel(spec, kw))


def choice_option(default: str | None, flags: tuple[str, ...], choices: tuple[str, ...], help: str, **kw) -> Any:
    """A string option with a fixed set of values, accepted in any case and stored lower case. `help` names the
    choices; the default is added to it."""
    spec = Spec(flags[0].lstrip("-").replace("-", "_"), flags, str, help, choices=choices)
    shown = _default_text(default)
    text = help if shown is None else f"{help.rstrip('.')}; default {shown}."
    return typer.Option(default, *flags, help=text, callback=_checker(spec, flags[0]), show_default=False, **kw)


FUSION_HELP = "concat | gate | attention | attention-unscaled | mean | a plug-in (docs/plugins.md); default attention."


def _check_fusion(value: str | None):
    """A fusion name: built-ins as they are, a plug-in imported and checked to be a Module class (its shapes are
    checked once the run's modalities and width are known: newsbench.model.registry.check_configs)."""
    from newsbench.config import FUSIONS, canonical_fusion

    if value is None:
        return None
    name = canonical_fusion(value)
    if name in FUSIONS:
        return name
    from newsbench.model import registry

    registry.resolve(name, "--fusion")
    return name


def fusion_option(**kw) -> Any:
    """`--fusion`: a built-in's name or a plug-in's (newsbench.model.registry), checked while parsing."""
    return typer.Option("attention", "--fusion", "-f", help=FUSION_HELP, callback=checked(_check_fusion),
                        show_default=False, **kw)


DEVICE_HELP = "auto | cpu | cuda | cuda:N; default auto (cuda if torch sees one)."


def device_option(default: str = "auto") -> Any:
    return typer.Option(default, "--device", help=DEVICE_HELP, callback=checked(check_device),
                        rich_help_panel=EXECUTION, show_default=False)
