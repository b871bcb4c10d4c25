"""The live parts of one emulator instance, shared by the middleware and the routes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from cio_pipeline.devtools.emulator.config import EmulatorConfig
from cio_pipeline.devtools.emulator.faults import FaultInjector
from cio_pipeline.devtools.emulator.ratelimit import SlidingWindowLimiter
from cio_pipeline.devtools.emulator.state import EmulatorState, RequestRecord
from cio_pipeline.devtools.emulator.webhooks import WebhookSender

__all__ = ["RECORD_KEY", "Runtime", "parse_json", "record_of", "runtime_of"]

#: ASGI scope key under which the middleware hands each request's log entry to the routes.
RECORD_KEY = "cio_emulator.record"


@dataclass
class Runtime:
    """Config, state, fault injector and rate limiters of one emulator."""

    config: EmulatorConfig
    state: EmulatorState = field(init=False)
    faults: FaultInjector = field(init=False)
    limiters: dict[str, SlidingWindowLimiter] = field(init=False)
    #: the reporting-webhook sender (None without ``--webhook-url``)
    webhooks: WebhookSender | None = field(init=False)

    def __post_init__(self) -> None:
        url, key = self.config.webhook_url, self.config.webhook_signing_key
        self.webhooks = WebhookSender(url, key) if url and key else None
        self.state = EmulatorState(record_bodies=self.config.record_bodies)
        self.faults = FaultInjector(self.config.faults, self.config.seed)
        self.limiters = {
            "track": SlidingWindowLimiter(self.config.track_rate),
            "app": SlidingWindowLimiter(self.config.app_rate),
        }

    def reset(self) -> None:
        """Back to how the emulator started: empty state and log, start-up faults."""
        self.state.reset()
        self.faults.replace(self.config.faults, self.config.seed)
        for limiter in self.limiters.values():
            limiter.reset()


def runtime_of(request: Request) -> Runtime:
    """The :class:`Runtime` of the app that serves ``request``."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def record_of(request: Request) -> RequestRecord:
    """The request-log entry of ``request`` (a detached one outside the middleware)."""
    record: RequestRecord | None = request.scope.get(RECORD_KEY)
    return record if record is not None else RequestRecord(0, "", "", "", 0.0)


def parse_json(raw: bytes) -> tuple[bool, Any]:
    """(ok, value) of a JSON body; an empty body is ``(True, None)``."""
    if not raw.strip():
        return True, None
    try:
        return True, json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return False, None
