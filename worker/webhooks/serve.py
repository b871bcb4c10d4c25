"""Serve the webhook receiver with uvicorn (needs the ``webhooks`` extra).

Imported only by ``cio-pipeline webhooks`` when it runs, never when the command is registered.
"""

from __future__ import annotations

import socket
from typing import Final

import uvicorn

from worker.core.settings import WorkerSettings
from worker.webhooks.receiver import create_receiver

__all__ = ["LISTENING_PREFIX", "serve"]

#: The start of the line printed once the receiver accepts connections.
LISTENING_PREFIX: Final = "webhooks listening on "


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the listening line once its sockets accept connections."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"{LISTENING_PREFIX}http://{shown}:{port}", flush=True)


def serve(settings: WorkerSettings, *, host: str, port: int, access_log: bool) -> int:
    """Serve the receiver on ``host:port`` until SIGINT/SIGTERM; the exit code."""
    server = _AnnouncingServer(uvicorn.Config(
        create_receiver(settings), host=host, port=port, lifespan="off",
        log_level="warning", access_log=access_log, timeout_graceful_shutdown=5,
    ))
    server.run()
    return 0 if server.started else 1
