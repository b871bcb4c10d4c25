"""MkDocs hook: the CLI and settings reference pages, generated from the code at build time.

The CLI reference walks the ``cio-pipeline`` argument parser (every sub-command, nested
sub-command and option, with its help and default); the settings reference lists the
declared variable table (``cio_pipeline.producer.variables.VARIABLES``) with the explanation
``config/example.env`` gives each variable. Neither page is committed, so neither can drift
from the code; ``tests/unit/test_docs_reference.py`` checks that both cover everything.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CLI_PAGE = "reference/cli.md"
SETTINGS_PAGE = "reference/settings.md"


# ---- CLI ----------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, one-line help, parser) of each sub-command, in registration order."""
    found = []
    for action in parser._actions:  # argparse has no public walk of its tree
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def _default(action: argparse.Action) -> str:
    if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
        return ""
    if isinstance(action.default, list) and not action.default:
        return ""
    return f"`{action.default}`"


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.option_strings:
            name = ", ".join(f"`{o}`" for o in action.option_strings)
            if action.nargs != 0 and action.metavar is not None:
                name += f" `{action.metavar}`"
            elif action.nargs != 0:
                name += f" `{action.dest.upper()}`"
        else:
            name = f"`{action.metavar or action.dest}`"
        text = (action.help or "").replace("%(default)s", str(action.default))
        text = text.replace("|", "\\|").replace("\n", " ")
        choices = ""
        if action.choices and not isinstance(action.choices, dict):
            choices = " One of " + ", ".join(f"`{c}`" for c in action.choices) + "."
        rows.append(f"| {name} | {text}{choices} | {_default(action)} |")
    if not rows:
        return []
    return ["| argument | meaning | default |", "|---|---|---|", *rows, ""]


def _command_section(path: str, help_text: str, parser: argparse.ArgumentParser) -> list[str]:
    level = "#" * min(2 + path.count(" ") - 1, 4)
    lines = [f"{level} `{path}`", ""]
    description = parser.description or help_text
    if description:
        lines += [description.strip(), ""]
    usage = parser.format_usage().strip().removeprefix("usage: ")
    lines += ["```", usage, "```", ""]
    lines += _options_table(parser)
    for name, sub_help, sub in _subcommands(parser):
        lines += _command_section(f"{path} {name}", sub_help, sub)
    return lines


def cli_markdown() -> str:
    """The CLI reference page: every sub-command of ``cio-pipeline`` and its options."""
    from cio_pipeline.worker.cli import build_parser

    os.environ["COLUMNS"] = "100"  # argparse wraps usage lines to the terminal's width

    parser = build_parser()
    lines = [
        "# Command reference",
        "",
        "Generated from the `cio-pipeline` argument parser when the site is built, so it always",
        "matches the installed code. Exit codes: see [exit codes](../exit-codes.md).",
        "",
        "```",
        parser.format_usage().strip().removeprefix("usage: "),
        "```",
        "",
    ]
    for name, help_text, sub in _subcommands(parser):
        lines += _command_section(f"cio-pipeline {name}", help_text, sub)
    return "\n".join(lines) + "\n"


def cli_paths() -> list[str]:
    """Every command path the parser reaches (``cio-pipeline dlq list``, ...)."""
    from cio_pipeline.worker.cli import build_parser

    paths: list[str] = []

    def walk(prefix: str, parser: argparse.ArgumentParser) -> None:
        for name, _help, sub in _subcommands(parser):
            paths.append(f"{prefix} {name}")
            walk(f"{prefix} {name}", sub)

    walk("cio-pipeline", build_parser())
    return paths


# ---- settings -----------------------------------------------------------------------------

_SECTION = re.compile(r"^# ---- (.+?) -+\s*$")
_ASSIGN = re.compile(r"^#? ?([A-Z][A-Z0-9_]+)=(.*)$")


def _example_env() -> tuple[dict[str, str], dict[str, str]]:
    """From config/example.env: each variable's explanation, and its section title.

    A comment block explains the variables that follow it directly (several may share one);
    a blank line or a section header ends it.
    """
    explanation: dict[str, str] = {}
    section_of: dict[str, str] = {}
    section, comment, shared = "", [], ""
    for raw in (ROOT / "config" / "example.env").read_text(encoding="utf-8").splitlines():
        line = raw.rstrip()
        if match := _SECTION.match(line):
            section, comment, shared = match.group(1).strip(), [], ""
        elif match := _ASSIGN.match(line):
            if comment:
                shared, comment = " ".join(comment), []
            section_of[match.group(1)] = section
            explanation[match.group(1)] = shared
        elif line.startswith("#"):
            comment.append(line[1:].strip())
        else:
            comment, shared = [], ""
    return explanation, section_of


def _range(variable: Any) -> str:
    import math

    parts = []
    if variable.kind == "choice":
        return ", ".join(f"`{c}`" for c in variable.choices)
    if variable.kind == "flag":
        return "`1`/`0`"
    if variable.kind in ("int", "number"):
        low = "" if variable.low == -math.inf else f">= {_plain(variable.low)}"
        high = "" if variable.high == math.inf else f"<= {_plain(variable.high)}"
        parts = [p for p in (low, high) if p]
    text = ", ".join(parts)
    if variable.unit:
        text = f"{text} {variable.unit}".strip()
    return text


def _plain(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def settings_markdown() -> str:
    """The settings reference page: every declared environment variable."""
    from cio_pipeline.producer.variables import VARIABLES

    explanation, section_of = _example_env()
    lines = [
        "# Settings reference",
        "",
        "Every environment variable cio-pipeline reads, generated when the site is built from",
        "the code's one declaration of each (`producer/variables.py`), with the explanation",
        "that `config/example.env` (ready to copy) gives it. An unknown `CIO_*` or",
        "`CUSTOMERIO_*` variable is refused by the worker and the commands (with a did-you-mean",
        "hint); the producer warns and goes on.",
        "",
    ]
    current = None
    for variable in VARIABLES:
        section = section_of.get(variable.name, "Other")
        if section != current:
            current = section
            if lines[-1]:
                lines.append("")
            lines += [f"## {section}", "", "| variable | default | range | meaning |"]
            lines += ["|---|---|---|---|"]
        default = "" if variable.default is None else f"`{variable.default}`"
        if variable.kind == "secret":
            default = "(secret, no default)" if variable.default is None else default
        meaning = explanation.get(variable.name) or variable.meaning
        meaning = meaning.replace("|", "\\|")
        lines.append(f"| `{variable.name}` | {default} | {_range(variable)} | {meaning} |")
    return "\n".join(lines) + "\n"


# ---- the MkDocs hook ------------------------------------------------------------------------


def on_files(files: Any, config: Any) -> Any:
    """Add the two generated pages to the site."""
    from mkdocs.structure.files import File

    for path, text in ((CLI_PAGE, cli_markdown()), (SETTINGS_PAGE, settings_markdown())):
        files.append(File.generated(config, path, content=text))
    return files
