"""``cio-pipeline health``: exit 0 (healthy), 1 (unhealthy) or 2 (Redis cannot be asked), with
one line (:func:`cio_pipeline.worker.ops.health.check_health`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ops.health import check_health
from cio_pipeline.worker.runner.context import worker_connection

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    connection = worker_connection(settings)
    # Redis not answering is "cannot tell" (exit 2, naming the address and the setting, from
    # the error boundary), not "unhealthy": a probe fails either way, a person knows which.
    connection.ping()
    report = check_health(
        connection,
        Keys.of(settings.queue),
        max_lag_s=args.max_lag_s,
        worker=args.worker,
        this_host=args.this_host,
    )
    if report.problem is not None:
        print(f"unhealthy: {report.problem}", file=sys.stderr)
    elif not args.quiet:
        print(f"healthy: {report.summary}")
    return report.exit_code


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline health``."""
    parser = subparsers.add_parser(
        "health",
        help="exit 0 when Redis and a worker are alive",
        description="A probe for process managers and Kubernetes: exit 0 when Redis answers "
        "and at least one worker has a live heartbeat (and, with --max-lag-s, no queue's "
        "oldest job waited longer); 1 with one line saying what is wrong; 2 when Redis "
        "cannot be reached or the settings are wrong.",
    )
    parser.add_argument(
        "--max-lag-s",
        type=float,
        metavar="SECONDS",
        help="also fail when a queue's oldest job has waited longer than this (default: no limit)",
    )
    parser.add_argument(
        "--worker", metavar="NAME", help="only this worker must be alive (default: any)"
    )
    parser.add_argument("--this-host", action="store_true", help="only this host's workers count")
    parser.add_argument("--quiet", action="store_true", help="print nothing when healthy")
    parser.set_defaults(func=_run)
