"""``cio-pipeline worker``: the command line over
:func:`cio_pipeline.worker.runner.process.run_worker`."""

from __future__ import annotations

import argparse
from typing import Any

from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.process import run_worker

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    return run_worker(settings, burst=args.burst, name=args.name)


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline worker``."""
    parser = subparsers.add_parser(
        "worker",
        help="deliver queued work to Customer.io (an RQ worker)",
        description="Run an RQ worker that delivers the cio-pipeline queues to Customer.io. "
        "Configured by the environment (see config/example.env).",
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="exit when the queues are empty (scheduled retries stay scheduled)",
    )
    parser.add_argument("--name", help="worker name shown in rq-dashboard (default: host-pid)")
    parser.set_defaults(func=_run)
