"""Helpers shared by the emulator unit tests (imported by them; this module has no tests).

Every emulator built through :func:`emulator_client` checks, when it closes, that the Track
request bodies it accepted are valid per Customer.io's official spec (``spec_contract``), so
each test is its own contract test, independent of the others and of their order.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from spec_contract import spec_violations
from ulid import ULID

from cio_pipeline.devtools.emulator import (
    DEV_API_KEY,
    DEV_APP_API_KEY,
    DEV_SITE_ID,
    EmulatorConfig,
    create_app,
)

with warnings.catch_warnings():
    # Starlette >= 1.x nudges towards its httpx fork; the project standardises on httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["APP", "TRACK", "TestClient", "emulator_client", "event_id", "person_op"]

TRACK = (DEV_SITE_ID, DEV_API_KEY)
APP = {"Authorization": f"Bearer {DEV_APP_API_KEY}"}


def event_id() -> str:
    """A fresh ULID event id."""
    return str(ULID())


def person_op(action: str, id_value: str = "42", **fields: Any) -> dict[str, Any]:
    """A v2 person operation identified by ``id``."""
    return {"type": "person", "identifiers": {"id": id_value}, "action": action, **fields}


@contextmanager
def emulator_client(
    accepted: list[tuple[str, str, Any]] | None = None, **config: Any
) -> Iterator[TestClient]:
    """An in-process emulator (``EmulatorConfig(**config)``) behind a Starlette TestClient.

    On close, the Track bodies it accepted (appended to ``accepted`` when given) must be valid
    per the official spec, when the spec is there.
    """
    app = create_app(EmulatorConfig(record_bodies=True, **config))
    with TestClient(app) as client:
        yield client
    bodies = _accepted(app.state.runtime.state.requests())
    if accepted is not None:
        accepted.extend(bodies)
    _, failures = spec_violations(bodies)
    assert not failures, "the emulator accepted bodies the spec refuses:\n" + "\n".join(failures)


def _accepted(log: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    """(method, path, body) of every body the emulator accepted."""
    accepted: list[tuple[str, str, Any]] = []
    for entry in log:
        body, path = entry.get("body"), entry["path"]
        if body is None or entry["fault"] in ("reset", "hang"):
            continue
        if entry["status"] == 200:
            accepted.append((entry["method"], path, body))
        elif entry["status"] == 207:
            # a partial batch: the items that were not rejected were accepted
            kept = [
                item
                for item, seen in zip(body["batch"], entry["items"], strict=True)
                if seen["result"] != "rejected"
            ]
            accepted.append((entry["method"], path, {"batch": kept}))
    return accepted
