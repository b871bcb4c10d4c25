"""The ``cio-pipeline`` command.

Each sub-command lives in its own module and registers itself through a ``register(subparsers)``
function; this module only wires them together so that importing the CLI stays cheap. A
registering module imports only the core dependencies: a command that needs a pip extra
(``emulator``, ``demo``) imports it when it runs, after :func:`worker.core.extras.require_extra`, so
a core install runs every other command and a missing extra costs one line, not a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from producer.errors import SettingsError
from worker.core.extras import MissingExtra, extra_for_module

__all__ = ["main"]

#: Modules that provide sub-commands, each with ``register(subparsers) -> None``; the parser
#: they add sets ``func`` (``func(args) -> int``, the exit code).
_COMMAND_MODULES = (
    "worker.cli.worker",
    "worker.cli.dlq",
    "worker.cli.check",
    "worker.emulator.cli",
    "worker.cli.demo",
    "worker.cli.import_cmd",
    "worker.cli.stats",
    "worker.cli.health",
    "worker.cli.metrics",
    "worker.cli.webhooks",
    "worker.cli.suppressions",
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
    except MissingExtra as exc:
        print(f"cio-pipeline {args.command}: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        extra = extra_for_module(exc.name)
        if extra is None:
            raise
        missing = MissingExtra(extra, exc.name or "?")
        print(f"cio-pipeline {args.command}: {missing}", file=sys.stderr)
        return 2
    return code
