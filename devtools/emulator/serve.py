"""Serve the emulator app with uvicorn (needs the ``emulator`` extra).

Imported only by ``cio-pipeline emulator`` when it runs, never when the command is registered.
"""

from __future__ import annotations

from cio_pipeline.devtools.emulator.app import create_app
from cio_pipeline.devtools.emulator.cli import LISTENING_PREFIX
from cio_pipeline.devtools.emulator.config import EmulatorConfig
from cio_pipeline.worker.core.serving import serve_announced

__all__ = ["serve"]


def serve(config: EmulatorConfig, *, host: str, port: int, access_log: bool) -> int:
    """Serve ``config``'s emulator on ``host:port`` until SIGINT/SIGTERM; the exit code."""
    return serve_announced(
        create_app(config),
        LISTENING_PREFIX,
        host=host,
        port=port,
        http="h11",
        access_log=access_log,
        # hanging requests must not hold up a stop for long
        timeout_graceful_shutdown=1,
    )
