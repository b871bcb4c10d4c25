"""App API routes: transactional sends and one harmless read.

A valid send answers ``{"delivery_id", "queued_at"}`` and is recorded in state. There is no
idempotency key: two identical requests are two deliveries, exactly what makes blind retries
of sends dangerous.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cio_pipeline.devtools.emulator.app_rules import SEND_KINDS, send_problem
from cio_pipeline.devtools.emulator.runtime import parse_json, record_of, runtime_of

__all__ = ["app_routes"]


def _error(message: str) -> JSONResponse:
    return JSONResponse({"meta": {"error": message}}, status_code=400)


async def send(request: Request) -> Response:
    """``POST /v1/send/{kind}``."""
    kind = request.path_params["kind"]
    if kind not in SEND_KINDS:
        return JSONResponse({"meta": {"error": "not found"}}, status_code=404)
    record = record_of(request)
    record.ops = 1
    ok, body = parse_json(await request.body())
    if not ok:
        return _error("the request body is not valid JSON")
    problem = send_problem(kind, body)
    if problem is not None:
        return _error(problem)
    runtime = runtime_of(request)
    delivery = runtime.state.record_send(kind, body)
    if runtime.webhooks is not None:
        runtime.webhooks.message_sent(kind, body, str(delivery["delivery_id"]))
    record.items = [{"kind": kind, "delivery_id": delivery["delivery_id"]}]
    return JSONResponse(delivery)


async def transactional_messages(request: Request) -> Response:
    """``GET /v1/transactional``: the App key check of ``cio-pipeline check``."""
    return JSONResponse({"messages": []})


app_routes = [
    Route("/v1/send/{kind:str}", send, methods=["POST"]),
    Route("/v1/transactional", transactional_messages, methods=["GET"]),
]
