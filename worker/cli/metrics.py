"""``cio-pipeline metrics``: serve ``/metrics`` for Prometheus (``metrics`` extra).

Listens on 127.0.0.1 unless ``--bind`` says otherwise: the endpoint has no authentication and
each scrape costs Redis about 150 commands, so exposing it is a deliberate choice (bind the
address Prometheus reaches, behind a firewall). Redis is asked once before the socket opens, so
a wrong ``REDIS_URL`` or password exits 2 at once instead of failing every scrape.
"""

from __future__ import annotations

import argparse
import signal
import threading
from typing import Any, Final

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.cli.errors import CannotTell
from cio_pipeline.worker.core.extras import require_extra
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import worker_connection

__all__ = ["DEFAULT_BIND", "DEFAULT_PORT", "LISTENING_PREFIX", "register"]

DEFAULT_BIND: Final = "127.0.0.1"
DEFAULT_PORT: Final = 9464  # Prometheus's registry of default ports: free for exporters
#: The start of the line printed (on stdout) once the socket is bound.
LISTENING_PREFIX: Final = "serving /metrics on "


def _run(args: argparse.Namespace) -> int:
    require_extra("metrics")
    from cio_pipeline.worker.ops.metrics import serve
    from cio_pipeline.worker.ops.stats import snapshot

    settings = WorkerSettings.from_env()
    keys = Keys.of(settings.queue)
    connection = worker_connection(settings)
    connection.ping()  # fail now (exit 2, one line) rather than at every scrape
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())

    def listening(host: str, port: int) -> None:
        where = f"[{host}]" if ":" in host else host
        print(f"{LISTENING_PREFIX}http://{where}:{port}/metrics", flush=True)

    try:
        serve(lambda: snapshot(connection, keys, settings), args.port, args.bind, stop, listening)
    except OSError as exc:  # only the bind can raise it: the scrapes run in their own threads
        raise CannotTell(
            f"cannot listen on {args.bind}:{args.port} ({exc.strerror or exc}): check --bind "
            "and --port"
        ) from None
    return 0


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline metrics``."""
    parser = subparsers.add_parser(
        "metrics",
        help="serve Prometheus /metrics",
        description="Serve the figures of 'cio-pipeline stats' as Prometheus metrics on "
        "http://BIND:PORT/metrics until SIGTERM or Ctrl-C. The endpoint has no "
        "authentication and each scrape reads Redis (about 150 commands): it listens on "
        f"{DEFAULT_BIND} unless --bind names another address (e.g. --bind 0.0.0.0 to expose "
        "it deliberately). Needs the 'metrics' extra.",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument(
        "--bind",
        default=DEFAULT_BIND,
        metavar="ADDRESS",
        help=f"address to listen on (default: {DEFAULT_BIND}, this machine only)",
    )
    parser.set_defaults(func=_run)
