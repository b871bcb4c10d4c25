"""The emulator's own endpoints under ``/_emulator`` (no auth, never faulted or limited).

- ``GET /_emulator/state``: people, events, devices, suppressions, merges, sends;
- ``GET /_emulator/requests[?surface=track|app]``: the request log, in arrival order;
- ``POST /_emulator/reset``: empty state and log; faults back to the start-up plan;
- ``GET /_emulator/faults``, ``POST /_emulator/faults`` (JSON, see ``faults``) and
  ``DELETE /_emulator/faults`` (no faults at all);
- ``GET /_emulator/health``: ``{"ok": true}``.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cio_pipeline.devtools.emulator.faults import FaultPlan
from cio_pipeline.devtools.emulator.runtime import runtime_of

__all__ = ["control_routes"]


async def state(request: Request) -> Response:
    """Everything the emulated workspace holds."""
    return JSONResponse(runtime_of(request).state.snapshot())


async def requests_log(request: Request) -> Response:
    """The request log, optionally filtered by ``?surface=``."""
    surface = request.query_params.get("surface")
    return JSONResponse(runtime_of(request).state.requests(surface))


async def reset(request: Request) -> Response:
    """Forget everything; restore the start-up faults and empty the rate-limit windows."""
    runtime_of(request).reset()
    return JSONResponse({})


async def faults(request: Request) -> Response:
    """Read (GET), change (POST) or clear (DELETE) the fault plan."""
    injector = runtime_of(request).faults
    if request.method == "DELETE":
        injector.replace(FaultPlan(), runtime_of(request).config.seed)
    elif request.method == "POST":
        try:
            injector.configure(json.loads(await request.body() or b"{}"))
        except ValueError as exc:  # json.JSONDecodeError is a ValueError too
            return JSONResponse({"error": str(exc)}, status_code=400)
    return JSONResponse(injector.plan.to_json())


async def health(request: Request) -> Response:
    """Liveness."""
    return JSONResponse({"ok": True})


control_routes = [
    Route("/_emulator/state", state, methods=["GET"]),
    Route("/_emulator/requests", requests_log, methods=["GET"]),
    Route("/_emulator/reset", reset, methods=["POST"]),
    Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
    Route("/_emulator/health", health, methods=["GET"]),
]
