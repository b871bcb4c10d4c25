"""``cio-pipeline metrics --port 9464``: serve ``/metrics`` for Prometheus (``metrics`` extra)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.core.extras import require_extra
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import worker_connection

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    require_extra("metrics")
    from cio_pipeline.worker.ops.metrics import serve
    from cio_pipeline.worker.ops.stats import snapshot

    settings = WorkerSettings.from_env()
    keys = Keys.of(settings.queue)
    connection = worker_connection(settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(f"serving /metrics on {args.bind}:{args.port}", file=sys.stderr, flush=True)
    serve(lambda: snapshot(connection, keys, settings), args.port, args.bind, stop)
    return 0


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline metrics``."""
    parser = subparsers.add_parser("metrics", help="serve Prometheus /metrics")
    parser.add_argument("--port", type=int, default=9464)
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on")
    parser.set_defaults(func=_run)
