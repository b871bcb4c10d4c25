"""Serve the webhook receiver with uvicorn (needs the ``webhooks`` extra).

Imported only by ``cio-pipeline webhooks`` when it runs, never when the command is registered.
"""

from __future__ import annotations

from typing import Final

from cio_pipeline.worker.core.serving import serve_announced
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.webhooks.receiver import create_receiver

__all__ = ["LISTENING_PREFIX", "serve"]

#: The start of the line printed once the receiver accepts connections.
LISTENING_PREFIX: Final = "webhooks listening on "


def serve(settings: WorkerSettings, *, host: str, port: int, access_log: bool) -> int:
    """Serve the receiver on ``host:port`` until SIGINT/SIGTERM; the exit code."""
    return serve_announced(
        create_receiver(settings),
        LISTENING_PREFIX,
        host=host,
        port=port,
        access_log=access_log,
        timeout_graceful_shutdown=5,
        # uvicorn's own logging setup gives its loggers handlers of their own (plain text,
        # multi-line tracebacks); without it they reach the root handler that
        # configure_logging installed, so LOG_FORMAT=json holds for their lines too.
        log_config=None,
    )
