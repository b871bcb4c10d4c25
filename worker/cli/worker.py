"""``cio-pipeline worker``: the command line over
:func:`cio_pipeline.worker.runner.startup.run_worker`.

Exit codes: 0 stopped (SIGTERM, or ``--burst`` and the queues are empty); 2 could not start
(bad settings, a ``CIO_WEBHOOK_HOOK`` that does not import, credentials Redis refuses, a
Sentinel master nobody knows). A Redis that is away is waited for, not an error.
"""

from __future__ import annotations

import argparse
from typing import Any

from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.startup import run_worker
from cio_pipeline.worker.webhooks.hook import add_import_paths

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    add_import_paths(args.path or ["."])  # where CIO_WEBHOOK_HOOK's module is found
    return run_worker(settings, burst=args.burst, name=args.name)


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline worker``."""
    parser = subparsers.add_parser(
        "worker",
        help="deliver queued work to Customer.io (an RQ worker)",
        description="Run an RQ worker that delivers the cio-pipeline queues to Customer.io "
        "until SIGTERM or Ctrl-C. Configured by the environment (see config/example.env). "
        "Exit 2 when it cannot start: bad settings, credentials Redis refuses, a Sentinel "
        "master nobody knows; a Redis that is away is waited for (and logged).",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="exit when the queues are empty (scheduled retries stay scheduled)",
    )
    parser.add_argument("--name", help="worker name shown in rq-dashboard (default: host-pid)")
    parser.add_argument(
        "--path",
        "-P",
        action="append",
        metavar="DIR",
        help="also import CIO_WEBHOOK_HOOK's module from DIR, as rq worker --path does; "
        "repeatable (default: the current directory)",
    )
    parser.set_defaults(func=_run)
