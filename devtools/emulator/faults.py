"""Fault injection: which requests fail, and how.

A :class:`FaultPlan` holds one :class:`SurfaceFaults` per API surface (``track``, ``app``).
Every fault kind is described from the client's point of view:

- ``status``: answer an error status (500 by default, or one of ``error_statuses``);
- ``rate_limit``: answer 429 (with ``Retry-After`` unless the emulator runs without it);
- ``hang``: wait ``hang_s`` seconds before handling the request (past the client's read
  timeout); the request is handled only if the client is still connected then;
- ``reset``: read the request, then drop the connection without answering (not handled);
- ``lost``: handle the request (state changes, a send is recorded), then drop the answer:
  ``lost_mode`` ``reset`` closes the connection, ``hang`` holds it for ``hang_s`` first.

Random faults draw from a seedable :class:`random.Random`, so a seeded run is repeatable.
Scripted faults (``next``) come first and are deterministic: ``{"count": 3, "status": 503}``
fails the next three requests of that surface with 503.

The JSON form (``POST /_emulator/faults``, ``--faults``) mirrors the dataclasses::

    {"seed": 7,
     "track": {"error_rate": 0.1, "error_statuses": [500, 503], "rate_limit_rate": 0.05,
               "latency_ms": 20, "hang_rate": 0, "hang_s": 30, "reset_rate": 0,
               "lost_rate": 0, "lost_mode": "reset", "retry_after_s": 1,
               "next": [{"count": 2, "fault": "status", "status": 503}]},
     "app": {...}}
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

__all__ = [
    "FAULT_KINDS",
    "SURFACES",
    "FaultDecision",
    "FaultInjector",
    "FaultPlan",
    "ScriptedFault",
    "SurfaceFaults",
]

SURFACES = ("track", "app")
FAULT_KINDS = ("status", "rate_limit", "hang", "reset", "lost")


@dataclass(frozen=True)
class ScriptedFault:
    """The next ``count`` requests of a surface get ``fault`` (``status`` uses ``status``)."""

    count: int = 1
    fault: str = "status"
    status: int = 500
    hang_s: float | None = None  # hang/lost: overrides the surface's hang_s
    retry_after_s: float | None = None  # rate_limit: overrides the surface's retry_after_s


@dataclass(frozen=True)
class SurfaceFaults:
    """Fault settings of one API surface; the rates are fractions of requests (0..1)."""

    error_rate: float = 0.0
    error_statuses: tuple[int, ...] = (500,)
    rate_limit_rate: float = 0.0
    latency_ms: float = 0.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    reset_rate: float = 0.0
    lost_rate: float = 0.0
    lost_mode: str = "reset"
    retry_after_s: float = 1.0  # the Retry-After of injected 429s
    next: tuple[ScriptedFault, ...] = ()

    def __post_init__(self) -> None:
        rates = (
            self.error_rate,
            self.rate_limit_rate,
            self.hang_rate,
            self.reset_rate,
            self.lost_rate,
        )
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must each be 0..1 and add up to at most 1")
        if not self.error_statuses or any(not 400 <= s <= 599 for s in self.error_statuses):
            raise ValueError("error_statuses must be HTTP error statuses (400..599)")
        if self.latency_ms < 0 or self.hang_s < 0 or self.retry_after_s < 0:
            raise ValueError("latency_ms, hang_s and retry_after_s must be >= 0")
        if self.lost_mode not in ("reset", "hang"):
            raise ValueError("lost_mode must be reset or hang")
        for item in self.next:
            if item.fault not in FAULT_KINDS or item.count < 1 or not 400 <= item.status <= 599:
                raise ValueError(
                    f"bad scripted fault {asdict(item)}: fault must be one of "
                    f"{', '.join(FAULT_KINDS)}, count >= 1, status 400..599"
                )

    @classmethod
    def from_json(cls, data: object) -> SurfaceFaults:
        """Build from the JSON form; unknown keys and wrong types raise ``ValueError``."""
        if not isinstance(data, dict):
            raise ValueError("surface faults must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for name, value in data.items():
            if name == "error_statuses":
                values[name] = tuple(_int(v, name) for v in _list(value, name))
            elif name == "next":
                values[name] = tuple(_scripted(v) for v in _list(value, name))
            elif name == "lost_mode":
                values[name] = str(value)
            else:
                values[name] = _number(value, name)
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        """The JSON form (what ``GET /_emulator/faults`` shows)."""
        data = asdict(self)
        data["error_statuses"] = list(self.error_statuses)
        data["next"] = [asdict(item) for item in self.next]
        return data


@dataclass(frozen=True)
class FaultPlan:
    """Fault settings for both API surfaces."""

    track: SurfaceFaults = field(default_factory=SurfaceFaults)
    app: SurfaceFaults = field(default_factory=SurfaceFaults)

    def updated(self, data: object) -> FaultPlan:
        """A copy with the surfaces given in ``data`` replaced (others kept); ``seed`` ignored."""
        if not isinstance(data, dict):
            raise ValueError("faults must be a JSON object")
        unknown = sorted(set(data) - {*SURFACES, "seed"})
        if unknown:
            raise ValueError(f"unknown fault keys: {', '.join(unknown)} (use track, app, seed)")
        changes = {s: SurfaceFaults.from_json(data[s]) for s in SURFACES if s in data}
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The JSON form, one object per surface."""
        return {"track": self.track.to_json(), "app": self.app.to_json()}


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one request: ``kind`` None means answer normally (after latency)."""

    kind: str | None = None
    status: int = 0
    hang_s: float = 0.0
    latency_s: float = 0.0
    lost_mode: str = "reset"
    retry_after_s: float = 1.0


class FaultInjector:
    """The live fault plan: decides per request, consumes scripted faults; thread-safe."""

    def __init__(self, plan: FaultPlan, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = plan
        self._rng = random.Random(seed)

    @property
    def plan(self) -> FaultPlan:
        """The current plan (scripted faults show what is left of them)."""
        with self._lock:
            return self._plan

    def configure(self, data: object) -> FaultPlan:
        """Apply the JSON form (see the module docstring); returns the new plan."""
        with self._lock:
            self._plan = self._plan.updated(data)
            if isinstance(data, dict) and data.get("seed") is not None:
                self._rng.seed(_int(data["seed"], "seed"))
            return self._plan

    def replace(self, plan: FaultPlan, seed: int | None) -> None:
        """Start over with ``plan`` and a fresh random source (emulator reset)."""
        with self._lock:
            self._plan = plan
            self._rng = random.Random(seed)

    def decide(self, surface: str) -> FaultDecision:
        """The fault (or none) for the next request on ``surface``."""
        with self._lock:
            faults: SurfaceFaults = getattr(self._plan, surface)
            latency_s = faults.latency_ms / 1000.0
            if faults.next:
                head, *rest = faults.next
                left = (replace(head, count=head.count - 1),) if head.count > 1 else ()
                self._plan = replace(self._plan, **{surface: replace(faults, next=(*left, *rest))})
                hang_s = faults.hang_s if head.hang_s is None else head.hang_s
                retry_after = (
                    faults.retry_after_s if head.retry_after_s is None else head.retry_after_s
                )
                return FaultDecision(
                    head.fault, head.status, hang_s, latency_s, faults.lost_mode, retry_after
                )
            return self._draw(faults, latency_s)

    def _draw(self, faults: SurfaceFaults, latency_s: float) -> FaultDecision:
        bands = (
            ("reset", faults.reset_rate),
            ("lost", faults.lost_rate),
            ("hang", faults.hang_rate),
            ("status", faults.error_rate),
            ("rate_limit", faults.rate_limit_rate),
        )
        if not any(rate for _, rate in bands):
            # no draw at all: enabling faults on one surface must not shift the other's
            return FaultDecision(latency_s=latency_s)
        point = self._rng.random()
        for kind, rate in bands:
            if point < rate:
                status = self._rng.choice(faults.error_statuses) if kind == "status" else 0
                return FaultDecision(
                    kind, status, faults.hang_s, latency_s, faults.lost_mode, faults.retry_after_s
                )
            point -= rate
        return FaultDecision(latency_s=latency_s)


def _list(value: object, name: str) -> list[object]:
    if not isinstance(value, list):
        raise ValueError(f"{name} must be a JSON array")
    return value


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return value


def _number(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _scripted(value: object) -> ScriptedFault:
    if not isinstance(value, dict):
        raise ValueError("each item of next must be a JSON object")
    unknown = sorted(set(value) - {f.name for f in fields(ScriptedFault)})
    if unknown:
        raise ValueError(f"unknown scripted fault keys: {', '.join(unknown)}")
    hang = value.get("hang_s")
    retry_after = value.get("retry_after_s")
    return ScriptedFault(
        count=_int(value.get("count", 1), "count"),
        fault=str(value.get("fault", "status")),
        status=_int(value.get("status", 500), "status"),
        hang_s=None if hang is None else _number(hang, "hang_s"),
        retry_after_s=None if retry_after is None else _number(retry_after, "retry_after_s"),
    )
