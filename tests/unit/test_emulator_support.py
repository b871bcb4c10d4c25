"""Helpers shared by the emulator unit tests (imported by them; this module has no tests).

Every emulator built through :func:`emulator_client` records the request bodies it accepted
into :data:`ACCEPTED`; ``test_emulator_wire_contract`` checks them against the official spec.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ulid import ULID

from worker.emulator import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID, EmulatorConfig, create_app

with warnings.catch_warnings():
    # Starlette >= 1.x nudges towards its httpx fork; the project standardises on httpx.
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

__all__ = ["ACCEPTED", "APP", "TRACK", "TestClient", "emulator_client", "event_id", "person_op"]

#: (method, path, body) of every body an emulator accepted in this test session.
ACCEPTED: list[tuple[str, str, Any]] = []

TRACK = (DEV_SITE_ID, DEV_API_KEY)
APP = {"Authorization": f"Bearer {DEV_APP_API_KEY}"}


def event_id() -> str:
    """A fresh ULID event id."""
    return str(ULID())


def person_op(action: str, id_value: str = "42", **fields: Any) -> dict[str, Any]:
    """A v2 person operation identified by ``id``."""
    return {"type": "person", "identifiers": {"id": id_value}, "action": action, **fields}


@contextmanager
def emulator_client(**config: Any) -> Iterator[TestClient]:
    """An in-process emulator (``EmulatorConfig(**config)``) behind a Starlette TestClient."""
    app = create_app(EmulatorConfig(record_bodies=True, **config))
    with TestClient(app) as client:
        yield client
    _collect(app.state.runtime.state.requests())


def _collect(log: list[dict[str, Any]]) -> None:
    for entry in log:
        body, path = entry.get("body"), entry["path"]
        if body is None or entry["fault"] in ("reset", "hang"):
            continue
        if entry["status"] == 200:
            ACCEPTED.append((entry["method"], path, body))
        elif entry["status"] == 207:
            # a partial batch: the items that were not rejected were accepted
            kept = [item for item, seen in zip(body["batch"], entry["items"], strict=True)
                    if seen["result"] != "rejected"]
            ACCEPTED.append((entry["method"], path, {"batch": kept}))
