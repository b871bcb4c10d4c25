"""The gate every Track and App request passes: log, faults, auth, rate limit.

Order, per request: read the whole body (a "reset" fault happens *after* the request was
read, which is what makes it ambiguous for the client), log the arrival, apply the fault
decision, check the credential (401 with an empty body), check the rate limit (429), then
hand over to the routes. ``lost`` faults run the routes and then drop the answer.

Dropping a connection needs the socket, which ASGI hides: :class:`EmulatorApp` (in ``app``)
stores uvicorn's transport in the scope. Without one (Starlette's in-process TestClient) a
drop raises :class:`ConnectionDropped`, which the test client re-raises to the caller.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import math
import socket
import struct
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cio_pipeline.devtools.emulator.faults import FaultDecision
from cio_pipeline.devtools.emulator.runtime import RECORD_KEY, Runtime, parse_json
from cio_pipeline.devtools.emulator.state import RequestRecord

__all__ = ["MAX_BODY_BYTES", "TRANSPORT_KEY", "ConnectionDropped", "EmulatorMiddleware"]

#: Scope key of the server's transport (set by ``EmulatorApp`` when the server has one).
TRANSPORT_KEY = "cio_emulator.transport"
#: Nothing we emulate takes more (App attachments are < 2 MB); protects the emulator's memory.
MAX_BODY_BYTES = 5_000_000
_DROP_GRACE_S = 1.0


class ConnectionDropped(Exception):
    """Raised in-process where the emulator would drop the client's connection."""


class EmulatorMiddleware:
    """Pure ASGI middleware; ``runtime`` holds the state, faults and limiters."""

    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        surface = _surface(scope)
        if surface is None:
            await self.app(scope, receive, send)
            return
        record = self.runtime.state.open_request(scope["method"], scope["path"], surface)
        scope[RECORD_KEY] = record
        status_send = _recording_send(send, record)
        body = await _read_body(receive)
        if body is None:
            await _respond(status_send, 413, b'{"meta":{"error":"request body too large"}}')
            return
        parsed = parse_json(body)[1]
        record.ops = _operations(scope, parsed)
        if self.runtime.state.record_bodies:
            record.body = parsed
        replay = _replaying_receive(body, receive)
        decision = self.runtime.faults.decide(surface)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.kind not in (None, "lost"):
            record.fault = decision.kind
            if await self._fault_answered(decision, scope, receive, status_send):
                return
        if not self._authorised(scope, surface):
            await _respond(status_send, 401, b"")
            return
        wait_s = self.runtime.limiters[surface].try_acquire()
        if wait_s is not None:
            await self._too_many(status_send, wait_s)
            return
        if decision.kind == "lost":
            record.fault = "lost"
            await self._lose_answer(decision, scope, receive, replay, record)
            return
        await self.app(scope, replay, status_send)

    async def _fault_answered(
        self, decision: FaultDecision, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Apply a fault that acts before the routes; True when the request is finished.

        ``receive`` is the server's own (the body has been read): it only reports disconnects.
        """
        if decision.kind == "reset":
            await _drop(scope, receive)
            return True
        if decision.kind == "hang":
            # the client gave up: nothing more to do, exactly like a server that never answered
            return await _disconnected_within(receive, decision.hang_s)
        if decision.kind == "status":
            await _respond(send, decision.status, b'{"meta":{"error":"emulated fault"}}')
            return True
        await self._too_many(send, decision.retry_after_s)  # "rate_limit"
        return True

    async def _lose_answer(
        self,
        decision: FaultDecision,
        scope: Scope,
        receive: Receive,
        replay: Receive,
        record: RequestRecord,
    ) -> None:
        """Handle the request for real, keep only the status for the log, then drop."""

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]

        await self.app(scope, replay, swallow)
        if decision.lost_mode == "hang" and await _disconnected_within(receive, decision.hang_s):
            return
        await _drop(scope, receive)

    async def _too_many(self, send: Send, wait_s: float) -> None:
        headers = []
        if self.runtime.config.send_retry_after:
            headers.append((b"retry-after", str(max(1, math.ceil(wait_s))).encode()))
        await _respond(send, 429, b'{"meta":{"error":"rate limit exceeded"}}', headers)

    def _authorised(self, scope: Scope, surface: str) -> bool:
        config = self.runtime.config
        header = _header(scope, b"authorization")
        if surface == "app":
            return _same(header, f"Bearer {config.app_api_key}")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        return _same(decoded, f"{config.site_id}:{config.api_key}")


def _surface(scope: Scope) -> str | None:
    if scope["type"] != "http":
        return None
    path: str = scope["path"]
    if path.startswith("/api/"):
        return "track"
    if path.startswith("/v1/"):
        return "app"
    return None


def _operations(scope: Scope, body: Any) -> int:
    """How many operations a request carries, also for requests never handed to a route."""
    if scope["method"] == "GET":
        return 0
    if scope["path"] == "/api/v2/batch":
        batch = body.get("batch") if isinstance(body, dict) else None
        return len(batch) if isinstance(batch, list) else 0
    return 1


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return ""


async def _read_body(receive: Receive) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying_receive(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _recording_send(send: Send, record: RequestRecord) -> Send:
    async def recording(message: Message) -> None:
        if message["type"] == "http.response.start":
            record.status = message["status"]
        await send(message)

    return recording


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    content_type = [(b"content-type", b"application/json")] if body else []
    all_headers = [*content_type, (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _disconnected_within(receive: Receive, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for the client to go away; True if it did."""
    try:
        async with asyncio.timeout(timeout_s):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return False
    return True


async def _drop(scope: Scope, receive: Receive) -> None:
    """Close the connection without an answer, with a TCP reset where the OS allows."""
    transport: Any = scope.get(TRANSPORT_KEY)
    if transport is None:
        raise ConnectionDropped("the emulator dropped the connection (fault injection)")
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # linger 0: close() sends RST instead of FIN, what a crashed proxy looks like
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    # let the server notice before we return, or it would try to answer 500 itself
    await _disconnected_within(receive, _DROP_GRACE_S)
