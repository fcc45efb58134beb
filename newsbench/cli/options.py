"""Typer options built from the one table of run options (newsbench.options), so every command spells, documents and
checks an option the same way. Each option checks its value while the command line is parsed (a Click callback):
a bad value ends as one `newsbench: error:` line before the command does any work, --dry-run included."""

from __future__ import annotations

import dataclasses
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
