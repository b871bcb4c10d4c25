"""Track API routes: v1 (one operation per call) and v2 (``/entity``, ``/batch``).

Authentication, faults and rate limits are applied before these run (see ``middleware``);
these only validate, apply and answer in Customer.io's shapes: v1 errors are
``{"meta": {"errors": [...]}}`` (merge: ``{"meta": {"error": ...}}``), v2 errors
``{"errors": [{"batch_index"?, "reason", "field", "message"}]}``.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cio_pipeline.devtools.emulator import track_ops
from cio_pipeline.devtools.emulator.config import REGION_URLS
from cio_pipeline.devtools.emulator.runtime import parse_json, record_of, runtime_of
from cio_pipeline.devtools.emulator.schemas import Problem
from cio_pipeline.devtools.emulator.track_rules import AcceptedOp, compact_size

__all__ = ["BATCH_MAX_BYTES", "OPERATION_MAX_BYTES", "track_routes"]

#: Customer.io: a whole /api/v2/batch request < 500 KB, one operation (or /entity) <= 32 KB.
#: Decimal kilobytes: the stricter reading, so what passes here passes there.
BATCH_MAX_BYTES = 500_000
OPERATION_MAX_BYTES = 32_000


def _ok() -> JSONResponse:
    return JSONResponse({})


def _v1_error(problems: list[Problem], single: bool = False) -> JSONResponse:
    texts = [f"{p.field}: {p.message}" for p in problems]
    meta = {"error": "; ".join(texts)} if single else {"errors": texts}
    return JSONResponse({"meta": meta}, status_code=400)


def _v2_error(problems: list[Problem], status: int = 400) -> JSONResponse:
    errors = [{"reason": p.reason, "field": p.field, "message": p.message} for p in problems]
    return JSONResponse({"errors": errors}, status_code=status)


def _apply(request: Request, ops: list[tuple[int, AcceptedOp | None, Any]]) -> None:
    """Apply accepted operations in order and log every one (rejected ones too)."""
    state = runtime_of(request).state
    items = []
    for _, op, raw in ops:
        if op is None:
            items.append(_rough_item(raw) | {"result": "rejected"})
        else:
            items.append(op.log_item() | {"result": state.apply(op)})
    record = record_of(request)
    record.ops, record.items = len(ops), items


def _rough_item(raw: Any) -> dict[str, Any]:
    """Best-effort log line of a rejected v2 operation."""
    raw = raw if isinstance(raw, dict) else {}
    identifiers = raw.get("identifiers") if isinstance(raw.get("identifiers"), dict) else {}
    first = next(iter(identifiers.items()), (None, None))
    return {
        "identifier": first[1],
        "identifier_type": first[0],
        "action": raw.get("action"),
        "event_id": raw.get("id"),
        "name": raw.get("name"),
    }


async def _v1(request: Request, parsed: track_ops.Parsed, single_error: bool = False) -> Response:
    op, problems = parsed
    if op is None:
        record_of(request).ops = 1
        return _v1_error(problems, single_error)
    _apply(request, [(0, op, None)])
    return _ok()


async def _v1_body(request: Request) -> tuple[bool, Any]:
    ok, body = parse_json(await request.body())
    return ok, body


async def identify(request: Request) -> Response:
    """``PUT /api/v1/customers/{identifier}``."""
    ok, body = await _v1_body(request)
    if not ok:
        return _v1_error([Problem("body", "is not valid JSON")])
    parsed = track_ops.v1_identify(request.path_params["identifier"], {} if body is None else body)
    return await _v1(request, parsed)


async def delete_person(request: Request) -> Response:
    """``DELETE /api/v1/customers/{identifier}``."""
    return await _v1(request, track_ops.v1_path_op(request.path_params["identifier"], "delete"))


async def suppress(request: Request) -> Response:
    """``POST /api/v1/customers/{identifier}/suppress`` and ``/unsuppress``."""
    action = request.url.path.rsplit("/", 1)[1]
    return await _v1(request, track_ops.v1_path_op(request.path_params["identifier"], action))


async def event(request: Request) -> Response:
    """``POST /api/v1/customers/{identifier}/events``."""
    ok, body = await _v1_body(request)
    if not ok:
        return _v1_error([Problem("body", "is not valid JSON")])
    return await _v1(request, track_ops.v1_event(request.path_params["identifier"], body))


async def anonymous_event(request: Request) -> Response:
    """``POST /api/v1/events``."""
    ok, body = await _v1_body(request)
    if not ok:
        return _v1_error([Problem("body", "is not valid JSON")])
    return await _v1(request, track_ops.v1_anonymous_event(body))


async def add_device(request: Request) -> Response:
    """``PUT /api/v1/customers/{identifier}/devices``."""
    ok, body = await _v1_body(request)
    if not ok:
        return _v1_error([Problem("body", "is not valid JSON")])
    return await _v1(request, track_ops.v1_device(request.path_params["identifier"], body))


async def delete_device(request: Request) -> Response:
    """``DELETE /api/v1/customers/{identifier}/devices/{device_id}``."""
    params = request.path_params
    return await _v1(request, track_ops.v1_delete_device(params["identifier"], params["device_id"]))


async def merge(request: Request) -> Response:
    """``POST /api/v1/merge_customers``."""
    ok, body = await _v1_body(request)
    if not ok:
        return _v1_error([Problem("body", "is not valid JSON")], single=True)
    return await _v1(request, track_ops.v1_merge(body), single_error=True)


async def region(request: Request) -> Response:
    """``GET /api/v1/accounts/region``: where this workspace lives."""
    config = runtime_of(request).config
    return JSONResponse(
        {
            "url": REGION_URLS[config.region],
            "region": config.region,
            "environment_id": config.environment_id,
        }
    )


async def entity(request: Request) -> Response:
    """``POST /api/v2/entity``: one operation, under 32 KB."""
    raw = await request.body()
    record_of(request).ops = 1
    if len(raw) > OPERATION_MAX_BYTES:
        return _v2_error(
            [Problem("", f"request larger than {OPERATION_MAX_BYTES} bytes", "too_large")], 413
        )
    ok, body = parse_json(raw)
    if not ok or not isinstance(body, dict):
        return _v2_error([Problem("", "the body must be one JSON object", "invalid_json")])
    op, problems = track_ops.v2_operation(body)
    if op is None:
        _apply(request, [(0, None, body)])
        return _v2_error(problems)
    _apply(request, [(0, op, body)])
    return _ok()


async def batch(request: Request) -> Response:
    """``POST /api/v2/batch``: 200, 207 with the rejected items, 400 or 413."""
    raw = await request.body()
    # Parsing, validating and applying a 1000-item batch takes tens of milliseconds. In a
    # worker thread it leaves the event loop free to accept, and timestamp, the requests that
    # arrive meanwhile: arrival times in the request log stay true to within a few ms.
    return await run_in_threadpool(_batch_response, request, raw)


def _batch_response(request: Request, raw: bytes) -> Response:
    if len(raw) > BATCH_MAX_BYTES:
        return _v2_error(
            [Problem("", f"request larger than {BATCH_MAX_BYTES} bytes", "too_large")], 413
        )
    ok, body = parse_json(raw)
    if not ok:
        return _v2_error([Problem("", "the body is not valid JSON", "invalid_json")])
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        return _v2_error([Problem("batch", 'the body must be {"batch": [...]}', "required")])
    parsed, errors = [], []
    for index, item in enumerate(body["batch"]):
        op, problems = _batch_item(item)
        parsed.append((index, op, item))
        errors += [
            {"batch_index": index, "reason": p.reason, "field": p.field, "message": p.message}
            for p in problems
        ]
    _apply(request, parsed)
    return JSONResponse({"errors": errors}, status_code=207) if errors else _ok()


def _batch_item(item: Any) -> track_ops.Parsed:
    if compact_size(item) > OPERATION_MAX_BYTES:
        return None, [
            Problem("", f"operation larger than {OPERATION_MAX_BYTES} bytes", "too_large")
        ]
    return track_ops.v2_operation(item)


_CUSTOMER = "/api/v1/customers/{identifier:path}"

#: Specific paths first: ``{identifier:path}`` would also swallow ``/devices/...``.
track_routes = [
    Route("/api/v1/accounts/region", region, methods=["GET"]),
    Route("/api/v1/events", anonymous_event, methods=["POST"]),
    Route("/api/v1/merge_customers", merge, methods=["POST"]),
    Route(_CUSTOMER + "/devices/{device_id}", delete_device, methods=["DELETE"]),
    Route(_CUSTOMER + "/devices", add_device, methods=["PUT"]),
    Route(_CUSTOMER + "/events", event, methods=["POST"]),
    Route(_CUSTOMER + "/suppress", suppress, methods=["POST"]),
    Route(_CUSTOMER + "/unsuppress", suppress, methods=["POST"]),
    Route(_CUSTOMER, identify, methods=["PUT"]),
    Route(_CUSTOMER, delete_person, methods=["DELETE"]),
    Route("/api/v2/entity", entity, methods=["POST"]),
    Route("/api/v2/batch", batch, methods=["POST"]),
]
