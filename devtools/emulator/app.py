"""``create_app(config)``: the emulator as a Starlette application.

Usable in-process (``starlette.testclient.TestClient(create_app())``) or served by uvicorn
(``cio-pipeline emulator``). The app's :class:`~cio_pipeline.devtools.emulator.runtime.Runtime`
(state, faults, limiters) is ``app.state.runtime``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import Receive, Scope, Send

from cio_pipeline.devtools.emulator.app_routes import app_routes
from cio_pipeline.devtools.emulator.config import EmulatorConfig
from cio_pipeline.devtools.emulator.control_routes import control_routes
from cio_pipeline.devtools.emulator.middleware import TRANSPORT_KEY, EmulatorMiddleware
from cio_pipeline.devtools.emulator.runtime import Runtime
from cio_pipeline.devtools.emulator.track_routes import track_routes
from cio_pipeline.devtools.emulator.webhooks import webhook_routes

__all__ = ["EmulatorApp", "create_app"]


class EmulatorApp(Starlette):
    """Starlette plus one trick: it remembers the server's transport for dropped connections.

    uvicorn's ``send`` is a bound method of its request cycle, which holds the transport;
    Starlette wraps ``send`` before any middleware sees it, so this must happen here.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        cycle = getattr(send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            scope[TRANSPORT_KEY] = transport
        await super().__call__(scope, receive, send)


def create_app(config: EmulatorConfig | None = None) -> EmulatorApp:
    """A fresh emulator (its own state) with ``config`` (default: dev credentials, no faults)."""
    runtime = Runtime(config or EmulatorConfig())
    app = EmulatorApp(
        routes=[*track_routes, *app_routes, *control_routes, *webhook_routes],
        middleware=[Middleware(EmulatorMiddleware, runtime=runtime)],
    )
    app.state.runtime = runtime
    return app
