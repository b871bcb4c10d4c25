"""The ``cio-pipeline`` command.

Each sub-command lives in its own module and registers itself through a ``register(subparsers)``
function; this module only wires them together so that importing the CLI stays cheap. Every
command runs behind one error boundary (:mod:`cio_pipeline.worker.cli.errors`): commands raise,
the boundary prints one line and picks the exit code (``docs/exit-codes.md``). A
registering module imports only the core dependencies: a command that needs a pip extra
(``emulator``, ``demo``) imports it when it runs, after
:func:`cio_pipeline.worker.core.extras.require_extra`, so a core install runs every other command
and a missing extra costs one line, not a traceback.

Modules: ``errors`` (the exit codes and the boundary), one per command (``worker``, ``dlq``,
``check``, ``import_cmd``, ``stats``, ``health``, ``metrics``, ``webhooks``,
``suppressions``, ``sends``: one transactional send by its idempotency key, ``erase``: a
person everywhere in the pipeline, docs/privacy.md), ``__main__`` (``python -m``).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from cio_pipeline.worker.cli.errors import run_command

__all__ = ["main"]

#: Modules that provide sub-commands, each with ``register(subparsers) -> None``; the parser
#: they add sets ``func`` (``func(args) -> int``, the exit code).
_COMMAND_MODULES = (
    "cio_pipeline.worker.cli.worker",
    "cio_pipeline.worker.cli.dlq",
    "cio_pipeline.worker.cli.check",
    "cio_pipeline.devtools.emulator.cli",
    "cio_pipeline.devtools.demo.cli",
    "cio_pipeline.worker.cli.import_cmd",
    "cio_pipeline.worker.cli.stats",
    "cio_pipeline.worker.cli.health",
    "cio_pipeline.worker.cli.metrics",
    "cio_pipeline.worker.cli.webhooks",
    "cio_pipeline.worker.cli.suppressions",
    "cio_pipeline.worker.cli.sends",
    "cio_pipeline.worker.cli.erase",
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


def _command_name(args: argparse.Namespace) -> str:
    """``dlq list``, ``stats``: the words a message starts with."""
    action = getattr(args, f"{args.command}_command", None)
    return f"{args.command} {action}" if action else str(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code (the contract is in
    :mod:`cio_pipeline.worker.cli.errors`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return run_command(_command_name(args), args.func, args)
