"""Serve the emulator app with uvicorn (needs the ``emulator`` extra).

Imported only by ``cio-pipeline emulator`` when it runs, never when the command is registered.
"""

from __future__ import annotations

import socket

import uvicorn

from worker.emulator.app import create_app
from worker.emulator.cli import LISTENING_PREFIX
from worker.emulator.config import EmulatorConfig

__all__ = ["serve"]


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the listening line once its sockets accept connections."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"{LISTENING_PREFIX}http://{shown}:{port}", flush=True)


def serve(config: EmulatorConfig, *, host: str, port: int, access_log: bool) -> int:
    """Serve ``config``'s emulator on ``host:port`` until SIGINT/SIGTERM; the exit code."""
    server = _AnnouncingServer(uvicorn.Config(
        create_app(config), host=host, port=port, http="h11", lifespan="off",
        log_level="warning", access_log=access_log,
        # hanging requests must not hold up a stop for long
        timeout_graceful_shutdown=1,
    ))
    server.run()
    return 0 if server.started else 1
