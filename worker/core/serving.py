"""Serving an ASGI app with uvicorn for a command (the emulator, the webhook receiver).

Imported only by those commands when they run (uvicorn comes with their extras). The server
prints one line, ``<prefix>http://host:port``, once its sockets accept connections: tests,
the demo and operators wait for that line instead of polling the port.
"""

from __future__ import annotations

import socket
from types import FrameType
from typing import Any

import uvicorn

__all__ = ["serve_announced"]


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that prints the listening line once its sockets accept connections."""

    def __init__(self, config: uvicorn.Config, prefix: str) -> None:
        super().__init__(config)
        self.prefix = prefix

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Stop gracefully, and then exit 0: uvicorn (0.29+) records the signal and raises it
        again once stopped, so the process would end killed by SIGTERM (-15) although it
        stopped as asked (docs/exit-codes.md: a stopped server exits 0). uvicorn's reach:
        its private ``_captured_signals`` list, emptied here (absent: nothing to empty)."""
        super().handle_exit(sig, frame)
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()

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
