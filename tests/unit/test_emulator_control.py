"""The /_emulator control API, the request log, reset, thread safety, and the package surface."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from emulator_support import APP, TRACK, TestClient, emulator_client, event_id, person_op

import cio_pipeline.devtools.emulator
from cio_pipeline.devtools.emulator import EmulatorConfig, create_app
from cio_pipeline.devtools.emulator.state import EmulatorState
from cio_pipeline.devtools.emulator.track_rules import AcceptedOp


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client() as c:
        yield c


def test_request_log_fields(client: TestClient) -> None:
    eid = event_id()
    client.post(
        "/api/v2/batch",
        json={"batch": [person_op("identify", "a"), person_op("event", "a", name="buy", id=eid)]},
        auth=TRACK,
    )
    client.get("/v1/transactional", headers=APP)
    first, second = client.get("/_emulator/requests").json()
    assert first | {"at": 0} == {
        "seq": 1,
        "method": "POST",
        "path": "/api/v2/batch",
        "surface": "track",
        "status": 200,
        "at": 0,
        "fault": None,
        "ops": 2,
        "body": first["body"],
        "items": [
            {
                "identifier": "a",
                "identifier_type": "id",
                "action": "identify",
                "event_id": None,
                "name": None,
                "result": "applied",
            },
            {
                "identifier": "a",
                "identifier_type": "id",
                "action": "event",
                "event_id": eid,
                "name": "buy",
                "result": "applied",
            },
        ],
    }
    assert second["surface"] == "app" and second["ops"] == 0
    assert second["at"] > first["at"]
    assert [e["seq"] for e in client.get("/_emulator/requests?surface=app").json()] == [2]


def test_operations_are_counted_for_requests_that_never_reach_a_route(
    client: TestClient,
) -> None:
    client.post("/_emulator/faults", json={"track": {"next": [{"count": 2, "status": 503}]}})
    client.post("/api/v2/batch", json={"batch": [person_op("delete")] * 3}, auth=TRACK)
    client.put("/api/v1/customers/1", json={}, auth=TRACK)
    client.post("/api/v2/batch", json={"batch": [person_op("delete")] * 4}, auth=("x", "y"))
    log = client.get("/_emulator/requests").json()
    assert [(e["status"], e["ops"]) for e in log] == [(503, 3), (503, 1), (401, 4)]


def test_control_requests_are_not_logged(client: TestClient) -> None:
    client.get("/_emulator/state")
    client.get("/_emulator/health")
    assert client.get("/_emulator/requests").json() == []


def test_reset_forgets_state_and_log(client: TestClient) -> None:
    client.put("/api/v1/customers/1", json={"a": "b"}, auth=TRACK)
    assert client.post("/_emulator/reset").status_code == 200
    assert client.get("/_emulator/requests").json() == []
    assert client.get("/_emulator/state").json() == {
        "people": {},
        "events": [],
        "devices": {},
        "suppressions": [],
        "merges": [],
        "sends": [],
    }


def test_bodies_are_logged_only_when_asked_for(client: TestClient) -> None:
    client.put("/api/v1/customers/1", json={"a": "b"}, auth=TRACK)
    assert client.get("/_emulator/requests").json()[0]["body"] == {"a": "b"}
    with TestClient(create_app(EmulatorConfig())) as plain:
        plain.put("/api/v1/customers/1", json={"a": "b"}, auth=TRACK)
        assert "body" not in plain.get("/_emulator/requests").json()[0]


def test_state_is_thread_safe() -> None:
    state = EmulatorState()
    ids = [[event_id() for _ in range(200)] for _ in range(8)]

    def work(chunk: list[str]) -> None:
        for eid in chunk:
            state.apply(AcceptedOp("event", "p", "id", name="e", event_id=eid))
            state.apply(AcceptedOp("event", "p", "id", name="e", event_id=ids[0][0]))

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    events = state.snapshot()["events"]
    assert len(events) == 8 * 200
    # ids[0][0] arrived 1 + 8 * 200 times: stored once, every other arrival a duplicate
    assert sum(e["duplicates"] for e in events) == 8 * 200


def test_public_names() -> None:
    assert set(cio_pipeline.devtools.emulator.__all__) == {
        "DEV_API_KEY",
        "DEV_APP_API_KEY",
        "DEV_SITE_ID",
        "EmulatorConfig",
        "FaultPlan",
        "ScriptedFault",
        "SurfaceFaults",
        "create_app",
    }


@pytest.mark.parametrize("bad", [{"region": "ap"}, {"track_rate": -1}, {"api_key": ""}])
def test_invalid_config(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        cio_pipeline.devtools.emulator.EmulatorConfig(**bad)  # type: ignore[arg-type]
