"""The ``cio-pipeline`` command.

Each sub-command lives in its own module and registers itself through a ``register(subparsers)``
function; this module only wires them together so that importing the CLI stays cheap.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from producer.errors import SettingsError

__all__ = ["main"]

#: Modules that provide sub-commands, each with ``register(subparsers) -> None``; the parser
#: they add sets ``func`` (``func(args) -> int``, the exit code).
_COMMAND_MODULES = (
    "worker.runner.process",
    "worker.cli.dlq",
    "worker.cli.check",
    "worker.emulator.cli",
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="cio-pipeline",
        description="Deliver Customer.io work from Redis queues: workers, emulator, tools.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in _COMMAND_MODULES:
        module = importlib.import_module(name)
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except SettingsError as exc:
        print(f"cio-pipeline: {exc}", file=sys.stderr)
        return 2
    return code
