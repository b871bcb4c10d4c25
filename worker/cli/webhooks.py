"""``cio-pipeline webhooks``: serve the reporting-webhook receiver
(:mod:`cio_pipeline.worker.webhooks`).

Needs the ``webhooks`` extra (Starlette, uvicorn), imported only when the command runs.
Once the socket listens it prints one line, ``webhooks listening on http://HOST:PORT``.
It refuses to start (exit 2, one line) without ``CUSTOMERIO_WEBHOOK_SIGNING_KEY``, since it
would answer 401 to every request, and when Redis cannot be asked, since it would answer 503.
"""

from __future__ import annotations

import argparse
from typing import Any, Final

from cio_pipeline.producer.redis_endpoint import redis_client
from cio_pipeline.worker.cli.errors import CannotTell
from cio_pipeline.worker.core.extras import require_extra
from cio_pipeline.worker.core.logs import configure_logging
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.webhooks.signature import parse_signing_keys

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "register"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8026


def _run(args: argparse.Namespace) -> int:
    require_extra("webhooks")
    settings = WorkerSettings.from_env()
    if not parse_signing_keys(settings.webhook_signing_key):
        raise CannotTell(
            "CUSTOMERIO_WEBHOOK_SIGNING_KEY is not set: every request would be refused (401); "
            "copy the signing key from the webhook's page in Customer.io"
        )
    client = redis_client(settings.queue, socket_connect_timeout=5)
    try:
        client.ping()  # a wrong REDIS_URL or password: exit 2 now, not 503 to Customer.io
    finally:
        client.close()
    configure_logging(settings.log_format, settings.log_level)
    from cio_pipeline.worker.webhooks.serve import serve

    return serve(settings, host=args.host, port=args.port, access_log=args.access_log)


def register(subparsers: Any) -> None:
    """Add the ``webhooks`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "webhooks",
        help="receive Customer.io reporting webhooks (verify, enqueue on cio-webhooks)",
        description=(
            "Serve POST $CIO_WEBHOOK_PATH (default /webhooks/customerio) and GET /healthz. "
            "Requests are verified with CUSTOMERIO_WEBHOOK_SIGNING_KEY (required) and "
            "enqueued for the workers; answers come at once whether or not a worker runs. "
            f"Listens on {DEFAULT_HOST} unless --host says otherwise (put it behind the "
            "reverse proxy that terminates TLS). Needs the 'webhooks' extra."
        ),
    )
    parser.add_argument(
        "--host",
        default=DEFAULT_HOST,
        metavar="ADDRESS",
        help=f"address to listen on (default: {DEFAULT_HOST}, this machine only)",
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0 = any)"
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.set_defaults(func=_run)
