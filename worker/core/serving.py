"""Serving an ASGI app with uvicorn for a command (the emulator, the webhook receiver).

Imported only by those commands when they run (uvicorn comes with their extras). The server
prints one line, ``<prefix>http://host:port``, once its sockets accept connections: tests,
the demo and operators wait for that line instead of polling the port.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

__all__ = ["serve_announced"]


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the listening line once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, prefix: str) -> None:
        super().__init__(config)
        self.prefix = prefix

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.servers[0].sockets[0].getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"{self.prefix}http://{shown}:{port}", flush=True)


def serve_announced(app: Any, prefix: str, **config: Any) -> int:
    """Serve ``app`` (``uvicorn.Config`` keywords in ``config``) until SIGINT/SIGTERM, printing
    ``prefix`` and the URL once it listens; the process exit code."""
    server = _AnnouncingServer(
        uvicorn.Config(app, lifespan="off", log_level="warning", **config), prefix
    )
    server.run()
    return 0 if server.started else 1
