"""``cio-pipeline health``: exit 0 or 1 with one line
(:func:`cio_pipeline.worker.ops.health.check_health`)."""

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
    report = check_health(
        worker_connection(settings),
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
    parser = subparsers.add_parser("health", help="exit 0 when Redis and a worker are alive")
    parser.add_argument(
        "--max-lag-s",
        type=float,
        help="also fail when a queue's oldest job has waited longer than this",
    )
    parser.add_argument("--worker", metavar="NAME", help="only this worker must be alive")
    parser.add_argument("--this-host", action="store_true", help="only this host's workers count")
    parser.add_argument("--quiet", action="store_true", help="print nothing when healthy")
    parser.set_defaults(func=_run)
