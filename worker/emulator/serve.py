"""Serve the emulator app with uvicorn (needs the ``emulator`` extra).

Imported only by ``cio-pipeline emulator`` when it runs, never when the command is registered.
"""

from __future__ import annotations

from worker.core.serving import serve_announced
from worker.emulator.app import create_app
from worker.emulator.cli import LISTENING_PREFIX
from worker.emulator.config import EmulatorConfig

__all__ = ["serve"]


def serve(config: EmulatorConfig, *, host: str, port: int, access_log: bool) -> int:
    """Serve ``config``'s emulator on ``host:port`` until SIGINT/SIGTERM; the exit code."""
    return serve_announced(
        create_app(config), LISTENING_PREFIX, host=host, port=port, http="h11",
        access_log=access_log,
        # hanging requests must not hold up a stop for long
        timeout_graceful_shutdown=1,
    )
