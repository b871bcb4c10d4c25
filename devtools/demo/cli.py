"""Registers ``cio-pipeline demo``; imports nothing beyond the core until the command runs."""

from __future__ import annotations

import argparse
from typing import Any

from cio_pipeline.worker.core.extras import require_extra

__all__ = ["register", "run"]

_DESCRIPTION = """\
Run the pipeline end to end on this machine: a Redis (REDIS_URL when a server answers there,
with the CIO_REDIS_* TLS and Sentinel settings, else a private embedded one), the Customer.io
emulator, the webhook receiver, N workers, and a mixed workload produced through the producer
API, with a bounce and a spam complaint that become suppressions and a guarded send that is
skipped; live progress and a summary. Needs the `demo` extra.
Every process it starts is stopped at the end (also on Ctrl-C); its Redis keys use the prefix
`ciodemo` and are deleted at the end unless --keep.
"""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "demo",
        help="run Redis, the emulator, workers and a workload; show what happens",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--operations",
        type=_positive,
        default=2000,
        metavar="N",
        help="operations to produce (at least 40; default 2000)",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=2,
        metavar="N",
        help="worker processes to start (default 2)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="at the end, leave Redis, the emulator and the workers running "
        "(for rq-dashboard) until Ctrl-C",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo; raises :class:`cio_pipeline.worker.core.extras.MissingExtra` without the
    ``demo`` extra."""
    require_extra("demo")
    from cio_pipeline.devtools.demo.run import run_demo

    return run_demo(operations=args.operations, workers=args.workers, keep=args.keep)
