"""The documentation against the code: every `newsbench ...` command named in README.md and docs/*.md still parses.

For each distinct command path named in a code block or inline code (`newsbench data info`, `newsbench ablate`,
`newsbench embed text|graph` naming two), `--help` exits 0, and every `--option` written on that command line is in
its help text. An option quoted on its own (`--cold-share`) must belong to some command. Plus the README's size and
its map of docs/: every linked file exists and every docs page is linked.

The help is rendered in-process with typer's CliRunner (no subprocess, no torch work): the checks took 1.8 s on 2
cores at load 7; the rest of the file's time is importing the CLI.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import typer.main
from typer.testing import CliRunner

from newsbench.cli import app

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_CHARS = 10_000

# `newsbench` as a command word: at the start, after a space or a path (`.venv/bin/newsbench`), followed by a blank.
COMMAND = re.compile(r"(?<![\w.-])newsbench(?=[ \t])")
LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
LINK = re.compile(r"\]\(([^)\s]+)\)")


@functools.cache
def click_root():
    return typer.main.get_command(app)


def is_group(cmd) -> bool:
    # Typer vendors its own click, so test for subcommands rather than for click.Group.
    return hasattr(cmd, "commands")


@functools.cache
def help_text(path: tuple[str, ...]) -> str:
    # A wide terminal so that no option name is wrapped or cut in the rich help table.
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0, f"newsbench {' '.join(path)} --help exited {result.exit_code}:\n{result.output}"
    return result.output


def has_option(path: tuple[str, ...], option: str) -> bool:
    """The command declares the option and its help shows it (a mere mention in another option's help is not enough,
    hence the declared names)."""
    if option == "--help":
        return True
    declared = {o for p in command_at(path).params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}
    shown = re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text(path)) is not None
    return option in declared and shown


def code_spans(text: str) -> list[str]:
    """Lines of fenced code blocks, and inline code spans of the prose around them (a span may wrap a line)."""
    spans, fenced, paragraph = [], False, []
    for line in text.splitlines() + [""]:
        if line.lstrip().startswith("```") or not line.strip():
            spans.extend(re.findall(r"`([^`]+)`", " ".join(paragraph)))
            paragraph = []
            if line.strip():
                fenced = not fenced
            continue
        if fenced:
            if spans and spans[-1].endswith("\\"):     # a shell line continued on the next
                spans[-1] = spans[-1][:-1] + " " + line
            else:
                spans.append(line)
        else:
            paragraph.append(line)
    return spans


def parse_command(rest: str) -> tuple[list[tuple[str, ...]], list[str]]:
    """The command paths and long options of a command line, given what follows the word `newsbench`.

    Words after `newsbench` are subcommands while the current command is a group; `a|b` names alternatives. A word
    that is no subcommand of a group is returned as a path of its own, so that its `--help` fails."""
    rest = re.split(r"\s#|`", rest)[0]           # a shell comment or the end of an inline span ends the command
    paths: list[tuple[str, ...]] = [()]
    words = rest.split()
    i = 0
    while i < len(words):
        word = words[i].rstrip(":,.;)")
        groups = [p for p in paths if is_group(command_at(p))]
        if not groups or not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
            break
        paths = [p + (w,) for p in groups for w in word.split("|")]
        i += 1
    return paths, LONG_OPTION.findall(" ".join(words[i:]))


def command_at(path: tuple[str, ...]):
    cmd = click_root()
    for name in path:
        if not is_group(cmd) or name not in cmd.commands:
            return None
        cmd = cmd.commands[name]
    return cmd


def all_commands(cmd=None, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    cmd = cmd or click_root()
    paths = [path]
    if is_group(cmd):
        for name, sub in cmd.commands.items():
            paths += all_commands(sub, path + (name,))
    return paths


def doc_files() -> list[Path]:
    return [README, *DOCS]


def mentions() -> tuple[dict[tuple[str, ...], dict[str, set[str]]], dict[str, set[str]]]:
    """{command path: {option: {where}}} for options written on a command line ("" for the command itself), and
    {option: {where}} for options quoted on their own."""
    commands: dict[tuple[str, ...], dict[str, set[str]]] = {}
    loose: dict[str, set[str]] = {}
    for f in doc_files():
        where = f.relative_to(ROOT).as_posix()
        for span in code_spans(f.read_text(encoding="utf-8")):
            found = list(COMMAND.finditer(span))
            for m in found:
                paths, options = parse_command(span[m.end():])
                for p in paths:
                    opts = commands.setdefault(p, {})
                    for o in ["", *options]:            # "": where the command itself is named
                        opts.setdefault(o, set()).add(where)
            if not found and span.lstrip().startswith("--"):
                for o in LONG_OPTION.findall(span):
                    loose.setdefault(o, set()).add(where)
    return commands, loose


def test_the_parser_reads_command_lines_as_intended():
    assert parse_command(" data info ../MIND --json   # note --not-an-option") == ([("data", "info")], ["--json"])
    assert parse_command(" embed text|graph") == ([("embed", "text"), ("embed", "graph")], [])
    paths, opts = parse_command(" report [--markdown|--latex|--csv] [--out DIR]")
    assert paths == [("report",)] and opts == ["--markdown", "--latex", "--csv", "--out"]
    assert parse_command(" params: exact counts") == ([("params",)], [])
    assert parse_command(" nosuch --x") == ([("nosuch",)], ["--x"])          # fails below: no such command
    spans = code_spans("text `newsbench train --lr 0.1` and `--seed`\n```bash\nnewsbench ablate\n```\n`make`\n"
                       "a `newsbench data\ninfo --json` wrapped\n```\nnewsbench report \\\n  --out X\n```")
    assert spans == ["newsbench train --lr 0.1", "--seed", "newsbench ablate", "make", "newsbench data info --json",
                     "newsbench report    --out X"]


def test_the_docs_name_commands_at_all():
    commands, loose = mentions()
    # A parser that found nothing would pass every check below.
    assert {("ablate",), ("train",), ("report",), ("data", "info"), ("embed", "graph")} <= set(commands)
    assert "--workers" in commands[("ablate",)] and "--cold-share" in loose


def test_every_documented_command_parses_and_has_its_options():
    commands, _ = mentions()
    problems = []
    for path, options in sorted(commands.items()):
        name = " ".join(("newsbench",) + path)
        if command_at(path) is None:
            problems.append(f"{name}: no such command (in {', '.join(sorted(options['']))})")
            continue
        help_text(path)                            # asserts exit status 0
        for option, where in sorted(options.items()):
            if option and not has_option(path, option):
                problems.append(f"{name} {option}: not in its --help (in {', '.join(sorted(where))})")
    assert not problems, "\n".join(problems)


def test_every_option_quoted_alone_belongs_to_some_command():
    _, loose = mentions()
    paths = [p for p in all_commands() if not is_group(command_at(p))]
    problems = [f"{o}: no command has it (in {', '.join(sorted(where))})" for o, where in sorted(loose.items())
                if not any(has_option(p, o) for p in paths)]
    assert not problems, "\n".join(problems)


def test_readme_is_a_front_door():
    text = README.read_text(encoding="utf-8")
    assert len(text) <= README_MAX_CHARS, f"README.md has {len(text):,} characters; move detail to docs/"
    # The set-up contract: both commands are at the top, as .ci/run and new users call them.
    top = text[:2500]
    assert "make demo" in top and "make test" in top


def anchors(page: Path) -> set[str]:
    """GitHub's ids of a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


def test_links_resolve_and_every_docs_page_is_linked():
    problems = []
    for f in doc_files():
        for target in LINK.findall(f.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue                          # web links
            file, _, anchor = target.partition("#")
            path = (f.parent / file).resolve() if file else f
            if not path.exists():
                problems.append(f"{f.relative_to(ROOT)}: link to {target}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in anchors(path):
                problems.append(f"{f.relative_to(ROOT)}: link to {target}: no such heading")
    readme_links = {(ROOT / t.split("#")[0]).resolve() for t in LINK.findall(README.read_text(encoding="utf-8"))}
    problems += [f"docs/{d.name} is not linked from README.md" for d in DOCS if d.resolve() not in readme_links]
    assert DOCS, "docs/ holds no pages"
    assert not problems, "\n".join(problems)
