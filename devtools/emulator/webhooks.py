"""The emulator sends reporting webhooks, signed, the way Customer.io does.

With ``--webhook-url`` and ``--webhook-signing-key`` every accepted send produces a signed
``sent`` event and then ``delivered``, or what a control call asked for that address:
``bounced`` (instead of ``delivered``), ``spammed`` or ``unsubscribed`` (after it). Events
go out one at a time, in order, from one background task; a non-2xx answer (or no answer)
is retried with backoff and holds the events behind it, as Customer.io does.

Control endpoints (no auth):

- ``POST /_emulator/webhooks/outcomes`` ``{"address": ..., "outcome": "bounced"}``: what
  later sends to that address do (``delivered`` restores the default; ``none`` posts no
  events for them, for a test that posts its own with the next endpoint);
- ``POST /_emulator/webhooks/delivery`` ``{"delivery_id": ..., "metrics": ["delivered",
  "opened"]}``: post these events (now, in order) for one accepted send, with its
  identifiers and recipient, as Customer.io would (a ``bounced`` carries a failure
  message); 404 for a ``delivery_id`` the emulator never gave;
- ``POST /_emulator/webhooks/events`` ``{"events": [...]}``: send these events as given
  (signed now), for tests that need repeats or out-of-order timestamps;
- ``GET /_emulator/webhooks``: counters (queued, delivered, attempts, failed attempts).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from ulid import ULID

from cio_pipeline.worker.webhooks.signature import sign

__all__ = ["OUTCOMES", "WebhookSender", "webhook_routes"]

OUTCOMES: Final = ("delivered", "bounced", "spammed", "unsubscribed", "none")
#: The message metrics ``/_emulator/webhooks/delivery`` posts (reporting-webhooks spec).
DELIVERY_METRICS: Final = (
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "bounced",
    "spammed",
    "unsubscribed",
    "dropped",
    "failed",
)
_FAILURES: Final = {
    "bounced": "mailbox does not exist",
    "dropped": "address suppressed",
    "failed": "could not be delivered",
}
_RETRY_CAP_S: Final = 2.0


@dataclass
class WebhookSender:
    """The queue of events to post to ``url``, signed with ``key``, and its counters."""

    url: str
    key: str
    outcomes: dict[str, str] = field(default_factory=dict)
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    delivered: int = 0
    attempts: int = 0
    failed_attempts: int = 0
    _wake: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    def message_sent(self, kind: str, request: dict[str, Any], delivery_id: str) -> None:
        """Queue the events of one accepted send."""
        address = _address(request)
        outcome = self.outcomes.get(address or "", "delivered")
        if outcome == "none":
            return
        metrics = ["sent", "bounced" if outcome == "bounced" else "delivered"]
        if outcome in ("spammed", "unsubscribed"):
            metrics.append(outcome)
        self.delivery_events(kind, request, delivery_id, metrics)

    def delivery_events(
        self, kind: str, request: dict[str, Any], delivery_id: str, metrics: list[str]
    ) -> None:
        """Queue one event per metric (in order, stamped now) about one accepted send."""
        address = _address(request)
        data = {
            "delivery_id": delivery_id,
            "identifiers": dict(request.get("identifiers", {})),
            "transactional_message_id": request.get("transactional_message_id"),
        }
        if address:
            data["recipient"] = address
        now = int(time.time())
        for metric in metrics:
            extra = {"failure_message": _FAILURES[metric]} if metric in _FAILURES else {}
            self.add(
                {
                    "event_id": str(ULID()),
                    "object_type": kind,
                    "metric": metric,
                    "timestamp": now,
                    "data": {**data, **extra},
                }
            )

    def add(self, event: dict[str, Any]) -> None:
        """Queue one event; starts the sending task on first use."""
        self.pending.append(event)
        if self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())
        assert self._wake is not None
        self._wake.set()

    def counters(self) -> dict[str, int]:
        """What was sent so far."""
        return {
            "queued": len(self.pending),
            "delivered": self.delivered,
            "attempts": self.attempts,
            "failed_attempts": self.failed_attempts,
        }

    async def _run(self) -> None:
        assert self._wake is not None
        async with httpx.AsyncClient(timeout=4.0) as client:  # Customer.io waits 4 s
            while True:
                if not self.pending:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                event, delay = self.pending[0], 0.05
                while not await self._post(client, event):
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, _RETRY_CAP_S)
                self.pending.popleft()
                self.delivered += 1

    async def _post(self, client: httpx.AsyncClient, event: dict[str, Any]) -> bool:
        body = json.dumps(event, separators=(",", ":")).encode()
        stamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-CIO-Timestamp": str(stamp),
            "X-CIO-Signature": sign(body, stamp, self.key),
        }
        self.attempts += 1
        try:
            response = await client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError:
            self.failed_attempts += 1
            return False
        if 200 <= response.status_code < 300:
            return True
        self.failed_attempts += 1
        return False


def _address(request: dict[str, Any]) -> str | None:
    to = request.get("to") if isinstance(request.get("to"), str) else None
    return to.strip().lower() if to else None


def _sender(request: Request) -> WebhookSender | None:
    # the app's Runtime (cio_pipeline.devtools.emulator.runtime imports this module, so not
    # runtime_of)
    sender: WebhookSender | None = request.app.state.runtime.webhooks
    return sender


async def outcomes(request: Request) -> Response:
    """Set what later sends to an address do."""
    sender = _sender(request)
    if sender is None:
        return JSONResponse({"error": "start the emulator with --webhook-url"}, status_code=409)
    body = json.loads(await request.body() or b"{}")
    address, outcome = body.get("address"), body.get("outcome")
    if not isinstance(address, str) or outcome not in OUTCOMES:
        return JSONResponse({"error": f"need address and outcome in {OUTCOMES}"}, status_code=400)
    sender.outcomes[address.strip().lower()] = outcome
    return JSONResponse({"address": address, "outcome": outcome})


async def events(request: Request) -> Response:
    """Send the given events, signed, in order."""
    sender = _sender(request)
    if sender is None:
        return JSONResponse({"error": "start the emulator with --webhook-url"}, status_code=409)
    body = json.loads(await request.body() or b"{}")
    given = body.get("events")
    if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
        return JSONResponse({"error": "events must be a list of objects"}, status_code=400)
    for event in given:
        sender.add(event)
    return JSONResponse({"queued": len(given)})


async def delivery(request: Request) -> Response:
    """Post the given metrics' events for one accepted send (by its ``delivery_id``)."""
    sender = _sender(request)
    if sender is None:
        return JSONResponse({"error": "start the emulator with --webhook-url"}, status_code=409)
    body = json.loads(await request.body() or b"{}")
    delivery_id, metrics = body.get("delivery_id"), body.get("metrics")
    if (
        not isinstance(delivery_id, str)
        or not isinstance(metrics, list)
        or not metrics
        or not all(m in DELIVERY_METRICS for m in metrics)
    ):
        return JSONResponse(
            {"error": f"need delivery_id and metrics, a list of {DELIVERY_METRICS}"},
            status_code=400,
        )
    send = request.app.state.runtime.state.find_send(delivery_id)
    if send is None:
        return JSONResponse({"error": "no send has this delivery_id"}, status_code=404)
    sender.delivery_events(send["kind"], send["request"], delivery_id, metrics)
    return JSONResponse({"queued": len(metrics)})


async def counters(request: Request) -> Response:
    """The sender's counters (all zero without ``--webhook-url``)."""
    sender = _sender(request)
    return JSONResponse(
        sender.counters()
        if sender
        else {"queued": 0, "delivered": 0, "attempts": 0, "failed_attempts": 0}
    )


webhook_routes = [
    Route("/_emulator/webhooks/outcomes", outcomes, methods=["POST"]),
    Route("/_emulator/webhooks/events", events, methods=["POST"]),
    Route("/_emulator/webhooks/delivery", delivery, methods=["POST"]),
    Route("/_emulator/webhooks", counters, methods=["GET"]),
]
