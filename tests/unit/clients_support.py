"""Shared pieces of the client unit tests: a recording MockTransport handler, the spec."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_PATHS = (REPO / "devtools" / "emulator" / "track-api.openapi.json",)

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that records requests and answers with ``respond`` (by default
    200 with ``default_body``)."""

    def __init__(
        self, respond: Handler | None = None, default_body: dict[str, Any] | None = None
    ) -> None:
        self.requests: list[httpx.Request] = []
        body = {} if default_body is None else default_body
        self.respond = respond or (lambda _request: httpx.Response(200, json=body))

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.respond(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def load_spec() -> dict[str, Any]:
    """The Track API spec: the copy bundled with the emulator."""
    for path in SPEC_PATHS:
        if path.exists():
            loaded: dict[str, Any] = json.loads(path.read_text())
            return loaded
    pytest.fail(f"the Track API spec is in none of {SPEC_PATHS}")
