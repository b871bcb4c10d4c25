"""What the emulator has accepted: people, events, devices, sends, and the request log.

Everything is in memory behind one lock (the ASGI app runs on one event loop, but tests read
state from other threads). ``snapshot()`` and ``requests()`` return deep copies in the JSON
shapes that ``GET /_emulator/state`` and ``GET /_emulator/requests`` serve.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass
from typing import Any

from ulid import ULID

from cio_pipeline.devtools.emulator.track_rules import AcceptedOp

__all__ = ["EmulatorState", "RequestRecord"]

_EVENT_ACTIONS = ("event", "page", "screen")


@dataclass
class RequestRecord:
    """One request-log entry, filled in while the request is handled."""

    seq: int
    method: str
    path: str
    surface: str
    at: float
    status: int | None = None
    fault: str | None = None
    ops: int = 0
    items: list[dict[str, Any]] | None = None
    body: Any = None

    def to_json(self, with_body: bool) -> dict[str, Any]:
        """The JSON form; ``body`` only when the emulator records bodies."""
        entry: dict[str, Any] = {
            "seq": self.seq,
            "method": self.method,
            "path": self.path,
            "surface": self.surface,
            "status": self.status,
            "at": self.at,
            "fault": self.fault,
            "ops": self.ops,
        }
        if self.items is not None:
            entry["items"] = self.items
        if with_body:
            entry["body"] = self.body
        return entry


class EmulatorState:
    """The emulated workspace; every public method is thread-safe."""

    def __init__(self, record_bodies: bool = False) -> None:
        self._lock = threading.Lock()
        self.record_bodies = record_bodies
        self._clear()

    def _clear(self) -> None:
        self._people: dict[str, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._events_by_id: dict[str, dict[str, Any]] = {}
        self._devices: dict[str, dict[str, dict[str, Any]]] = {}
        self._suppressed: set[str] = set()
        self._merges: list[dict[str, Any]] = []
        self._sends: list[dict[str, Any]] = []
        self._requests: list[RequestRecord] = []
        self._last_at = 0.0

    def reset(self) -> None:
        """Forget everything, including the request log."""
        with self._lock:
            self._clear()

    # ---- request log ---------------------------------------------------------------------
    def open_request(self, method: str, path: str, surface: str) -> RequestRecord:
        """Log a request on arrival; arrival times strictly increase, so they also order."""
        with self._lock:
            at = max(time.time(), self._last_at + 1e-6)
            self._last_at = at
            record = RequestRecord(len(self._requests) + 1, method, path, surface, at)
            self._requests.append(record)
            return record

    def requests(self, surface: str | None = None) -> list[dict[str, Any]]:
        """The request log in arrival order, optionally of one surface."""
        with self._lock:
            return copy.deepcopy(
                [
                    r.to_json(self.record_bodies)
                    for r in self._requests
                    if surface is None or r.surface == surface
                ]
            )

    # ---- Track ---------------------------------------------------------------------------
    def apply(self, op: AcceptedOp) -> str:
        """Apply an accepted operation: ``applied``, ``duplicate`` or ``ignored``."""
        with self._lock:
            at = time.time()
            if op.action in _EVENT_ACTIONS:
                return self._event(op, at)
            if op.person is None:
                return "ignored"  # object and delivery operations: accepted, not modelled
            handler = _HANDLERS.get(op.action)
            return handler(self, op, op.person, at) if handler else "ignored"

    def _event(self, op: AcceptedOp, at: float) -> str:
        if op.event_id is not None:
            seen = self._events_by_id.get(op.event_id.upper())
            if seen is not None:
                seen["duplicates"] += 1
                return "duplicate"
        event = {
            "person": op.person,
            "anonymous_id": op.anonymous_id,
            "name": op.name,
            "id": op.event_id,
            "type": op.event_type,
            "timestamp": op.timestamp,
            "data": copy.deepcopy(op.data),
            "arrived_at": at,
            "duplicates": 0,
            "api": op.api,
        }
        self._events.append(event)
        if op.event_id is not None:
            self._events_by_id[op.event_id.upper()] = event
        return "applied"

    def _identify(self, op: AcceptedOp, key: str, at: float) -> str:
        if key in self._suppressed:
            return "ignored"  # Customer.io ignores updates to suppressed identifiers
        person = self._people.get(key)
        if person is None:
            if op.data.get("_update") is True:
                return "ignored"  # _update: only ever modify an existing person
            person = {"identifier_type": op.id_type, "attributes": {}, "created_at": at}
            self._people[key] = person
        attributes = person["attributes"]
        for name, value in op.data.items():
            if name == "_update":
                continue
            if value is None:
                attributes.pop(name, None)  # null removes an attribute
            else:
                attributes[name] = copy.deepcopy(value)
        person["updated_at"] = at
        return "applied"

    def _delete(self, op: AcceptedOp, key: str, at: float) -> str:
        self._devices.pop(key, None)
        return "applied" if self._people.pop(key, None) is not None else "ignored"

    def _suppress(self, op: AcceptedOp, key: str, at: float) -> str:
        self._suppressed.add(key)
        self._devices.pop(key, None)
        self._people.pop(key, None)  # suppressing deletes the person
        return "applied"

    def _unsuppress(self, op: AcceptedOp, key: str, at: float) -> str:
        self._suppressed.discard(key)
        return "applied"

    def _add_device(self, op: AcceptedOp, key: str, at: float) -> str:
        if op.device is None:
            return "ignored"
        device = {k: v for k, v in op.device.items() if k != "token"}
        self._devices.setdefault(key, {})[op.device["token"]] = copy.deepcopy(device)
        return "applied"

    def _delete_device(self, op: AcceptedOp, key: str, at: float) -> str:
        devices = self._devices.get(key, {})
        if op.device is None:
            return "ignored"
        return "applied" if devices.pop(op.device["token"], None) is not None else "ignored"

    def _merge(self, op: AcceptedOp, key: str, at: float) -> str:
        primary, secondary = key, op.secondary
        if secondary is None:
            return "ignored"
        self._merges.append({"primary": primary, "secondary": secondary, "at": at})
        if primary == secondary:
            return "ignored"
        gone = self._people.pop(secondary, None)
        if gone is not None:
            target = self._people.setdefault(
                primary, {"identifier_type": op.id_type, "attributes": {}, "created_at": at}
            )
            # the primary's own values win over the secondary's
            target["attributes"] = {**gone["attributes"], **target["attributes"]}
            target["updated_at"] = at
        moved = self._devices.pop(secondary, {})
        if moved:
            self._devices.setdefault(primary, {}).update(moved)
        return "applied"

    # ---- App -----------------------------------------------------------------------------
    def record_send(self, kind: str, request: dict[str, Any]) -> dict[str, Any]:
        """Record a transactional send; every call is a new delivery (no idempotency)."""
        with self._lock:
            at = time.time()
            send = {
                "delivery_id": str(ULID()),
                "kind": kind,
                "queued_at": int(at),
                "arrived_at": at,
                "request": copy.deepcopy(request),
            }
            self._sends.append(send)
            return {"delivery_id": send["delivery_id"], "queued_at": send["queued_at"]}

    def find_send(self, delivery_id: str) -> dict[str, Any] | None:
        """The accepted send that was given ``delivery_id`` (a copy), or None."""
        with self._lock:
            for send in reversed(self._sends):
                if send["delivery_id"] == delivery_id:
                    found: dict[str, Any] = copy.deepcopy(send)
                    return found
        return None

    # ---- reading -------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything but the request log, as JSON-ready data."""
        with self._lock:
            return copy.deepcopy(
                {
                    "people": self._people,
                    "events": self._events,
                    "devices": self._devices,
                    "suppressions": sorted(self._suppressed),
                    "merges": self._merges,
                    "sends": self._sends,
                }
            )


_HANDLERS = {
    "identify": EmulatorState._identify,
    "delete": EmulatorState._delete,
    "suppress": EmulatorState._suppress,
    "unsuppress": EmulatorState._unsuppress,
    "add_device": EmulatorState._add_device,
    "delete_device": EmulatorState._delete_device,
    "merge": EmulatorState._merge,
}
