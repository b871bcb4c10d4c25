"""``cio-pipeline stats [--json] [--watch]``: printing over
:func:`cio_pipeline.worker.ops.stats.snapshot`."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from typing import Any

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.cli.errors import CannotTell
from cio_pipeline.worker.core.extras import require_extra
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.ops.stats import snapshot
from cio_pipeline.worker.ops.view import plain_lines
from cio_pipeline.worker.runner.context import worker_connection

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    keys = Keys.of(settings.queue)
    connection = worker_connection(settings)
    if args.watch:
        if not args.interval_s > 0:
            raise CannotTell(f"--interval-s must be above 0, got {args.interval_s}")
        require_extra("ops")
        from rich.live import Live

        from cio_pipeline.worker.ops.view import rich_view

        stop = threading.Event()

        def screen() -> Any:
            return rich_view(snapshot(connection, keys, settings), live.console.height)

        try:
            # screen=True: the alternate screen, redrawn in place at the terminal's size
            # (the view fits the height it is given; nothing scrolls off or is cut).
            with Live(auto_refresh=False, screen=True, transient=True) as live:
                live.update(screen(), refresh=True)
                while not stop.wait(args.interval_s):
                    live.update(screen(), refresh=True)
        except KeyboardInterrupt:
            pass
        return 0
    figures = snapshot(connection, keys, settings)
    if args.json:
        json.dump(figures, sys.stdout, indent=2)
        print()
    else:
        print("\n".join(plain_lines(figures)))
    return 0


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline stats``."""
    parser = subparsers.add_parser(
        "stats",
        help="queues, partitions, rates, counters, workers",
        description="One snapshot of the pipeline read from Redis: queue depths and oldest "
        "jobs, dead letters, Track partitions and their leases, request rates against the "
        "limits, delivered/retried/dead counts over the last 60 s, 5 min and hour, and the "
        "live workers. --watch redraws it in place (fits an 80x24 terminal).",
    )
    parser.add_argument(
        "--json", action="store_true", help="the stable JSON shape (version 1, docs/operating.md)"
    )
    parser.add_argument(
        "--watch", action="store_true", help="redraw live (needs the 'ops' extra: rich)"
    )
    parser.add_argument(
        "--interval-s",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="--watch redraw period (default: 2.0)",
    )
    parser.set_defaults(func=_run)
