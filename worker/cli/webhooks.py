"""``cio-pipeline webhooks``: serve the reporting-webhook receiver
(:mod:`cio_pipeline.worker.webhooks`).

Needs the ``webhooks`` extra (Starlette, uvicorn), imported only when the command runs.
Once the socket listens it prints one line, ``webhooks listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
from typing import Any

from cio_pipeline.worker.core.extras import require_extra
from cio_pipeline.worker.core.logs import configure_logging
from cio_pipeline.worker.core.settings import WorkerSettings

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    require_extra("webhooks")
    settings = WorkerSettings.from_env()
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
            "Requests are verified with CUSTOMERIO_WEBHOOK_SIGNING_KEY and enqueued for the "
            "workers; answers come at once whether or not a worker runs."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026, help="0 = any free port")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.set_defaults(func=_run)
