"""Fault injection: the plan's JSON form, seeded dice, scripted faults, and each fault
mode as seen by an in-process client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_support import APP, TRACK, TestClient, emulator_client

from cio_pipeline.devtools.emulator import FaultPlan, ScriptedFault, SurfaceFaults
from cio_pipeline.devtools.emulator.faults import FaultInjector
from cio_pipeline.devtools.emulator.middleware import ConnectionDropped

EMAIL = {"transactional_message_id": 1, "to": "a@b.co", "identifiers": {"id": "1"}}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client() as c:
        yield c


def faults(client: TestClient, body: dict[str, Any]) -> Any:
    response = client.post("/_emulator/faults", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def identify(client: TestClient) -> Any:
    return client.put("/api/v1/customers/42", json={"a": "b"}, auth=TRACK)


# ---- the plan --------------------------------------------------------------------------
def test_plan_json_round_trip() -> None:
    data = {
        "error_rate": 0.1,
        "error_statuses": [500, 503],
        "rate_limit_rate": 0.2,
        "latency_ms": 5,
        "hang_rate": 0.1,
        "hang_s": 2,
        "reset_rate": 0.1,
        "lost_rate": 0.1,
        "lost_mode": "hang",
        "next": [{"count": 2, "fault": "status", "status": 503, "hang_s": None}],
    }
    surface = SurfaceFaults.from_json(data)
    assert surface.next == (ScriptedFault(2, "status", 503),)
    assert SurfaceFaults.from_json(surface.to_json()) == surface
    plan = FaultPlan().updated({"app": data})
    assert plan.track == SurfaceFaults() and plan.app == surface


@pytest.mark.parametrize(
    "bad",
    [
        {"track": {"error_rat": 0.1}},
        {"track": {"error_rate": 1.5}},
        {"track": {"error_rate": 0.6, "reset_rate": 0.6}},
        {"track": {"error_statuses": [200]}},
        {"track": {"error_statuses": 500}},
        {"track": {"latency_ms": "fast"}},
        {"track": {"lost_mode": "explode"}},
        {"track": {"next": [{"fault": "melt"}]}},
        {"track": {"next": [{"count": 0}]}},
        {"track": {"next": [{"count": 1, "stauts": 503}]}},
        {"tracks": {}},
        [],
    ],
)
def test_invalid_plans_are_rejected(bad: Any) -> None:
    with pytest.raises(ValueError):
        FaultPlan().updated(bad)


def test_same_seed_same_faults() -> None:
    plan = FaultPlan().updated(
        {"track": {"error_rate": 0.3, "error_statuses": [500, 503], "rate_limit_rate": 0.2}}
    )

    def run(seed: int) -> list[tuple[str | None, int]]:
        injector = FaultInjector(plan, seed)
        return [(d.kind, d.status) for d in (injector.decide("track") for _ in range(200))]

    first = run(7)
    assert first == run(7) and first != run(8)
    kinds = [k for k, _ in first]
    assert 30 < kinds.count("status") < 90 and 15 < kinds.count("rate_limit") < 65
    assert {s for k, s in first if k == "status"} == {500, 503}


def test_faults_on_one_surface_do_not_shift_the_other() -> None:
    plan = FaultPlan().updated({"track": {"error_rate": 0.5}})
    alone, mixed = FaultInjector(plan, 1), FaultInjector(plan, 1)
    expected = [alone.decide("track").kind for _ in range(50)]
    got = []
    for _ in range(50):
        mixed.decide("app")
        got.append(mixed.decide("track").kind)
    assert got == expected


def test_scripted_faults_run_in_order_then_stop() -> None:
    plan = FaultPlan().updated({"app": {"next": [{"count": 2, "status": 503}, {"fault": "reset"}]}})
    injector = FaultInjector(plan)
    decisions = [injector.decide("app") for _ in range(4)]
    assert [(d.kind, d.status) for d in decisions] == [
        ("status", 503),
        ("status", 503),
        ("reset", 500),
        (None, 0),
    ]
    assert injector.plan.app.next == ()


# ---- over HTTP -------------------------------------------------------------------------
def test_fail_next_with_status(client: TestClient) -> None:
    faults(client, {"track": {"next": [{"count": 2, "status": 503}]}})
    assert [identify(client).status_code for _ in range(3)] == [503, 503, 200]
    log = client.get("/_emulator/requests").json()
    assert [(e["status"], e["fault"]) for e in log] == [
        (503, "status"),
        (503, "status"),
        (200, None),
    ]
    # the failed attempts changed nothing; only the third identify counted
    assert client.get("/_emulator/state").json()["people"]["42"]["attributes"] == {"a": "b"}


def test_random_errors_from_a_status_list(client: TestClient) -> None:
    faults(client, {"seed": 3, "track": {"error_rate": 1.0, "error_statuses": [502, 503]}})
    assert {identify(client).status_code for _ in range(30)} == {502, 503}
    assert client.get("/v1/transactional", headers=APP).status_code == 200


def test_rate_limit_fault_has_retry_after(client: TestClient) -> None:
    faults(client, {"app": {"rate_limit_rate": 1.0}})
    response = client.post("/v1/send/email", json=EMAIL, headers=APP)
    assert (response.status_code, response.headers["retry-after"]) == (429, "1")


def test_rate_limit_fault_without_retry_after() -> None:
    with emulator_client(send_retry_after=False) as client:
        faults(client, {"track": {"next": [{"fault": "rate_limit"}]}})
        response = identify(client)
    assert response.status_code == 429 and "retry-after" not in response.headers


def test_reset_drops_the_connection_and_does_nothing(client: TestClient) -> None:
    faults(client, {"app": {"next": [{"fault": "reset"}]}})
    with pytest.raises(ConnectionDropped):
        client.post("/v1/send/email", json=EMAIL, headers=APP)
    assert client.get("/_emulator/state").json()["sends"] == []
    (entry,) = client.get("/_emulator/requests").json()
    assert (entry["status"], entry["fault"]) == (None, "reset")


def test_lost_answer_records_the_send_then_drops(client: TestClient) -> None:
    faults(client, {"app": {"next": [{"fault": "lost"}]}})
    with pytest.raises(ConnectionDropped):
        client.post("/v1/send/email", json=EMAIL, headers=APP)
    (sent,) = client.get("/_emulator/state").json()["sends"]
    assert sent["request"] == EMAIL
    (entry,) = client.get("/_emulator/requests").json()
    assert (entry["status"], entry["fault"]) == (200, "lost")


def test_lost_answer_in_hang_mode_holds_then_drops(client: TestClient) -> None:
    faults(client, {"app": {"lost_mode": "hang", "next": [{"fault": "lost", "hang_s": 0.2}]}})
    started = time.monotonic()
    with pytest.raises(ConnectionDropped):
        client.post("/v1/send/email", json=EMAIL, headers=APP)
    assert time.monotonic() - started >= 0.2
    assert len(client.get("/_emulator/state").json()["sends"]) == 1


def test_hang_delays_the_answer(client: TestClient) -> None:
    faults(client, {"track": {"hang_s": 0.3, "next": [{"fault": "hang"}]}})
    started = time.monotonic()
    assert identify(client).status_code == 200
    assert time.monotonic() - started >= 0.3
    assert client.get("/_emulator/requests").json()[0]["fault"] == "hang"


def test_latency_is_added(client: TestClient) -> None:
    faults(client, {"track": {"latency_ms": 150}})
    started = time.monotonic()
    identify(client)
    assert time.monotonic() - started >= 0.15


def test_faults_can_be_read_replaced_and_cleared(client: TestClient) -> None:
    shown = faults(client, {"track": {"error_rate": 0.5}, "app": {"latency_ms": 3}})
    assert shown["track"]["error_rate"] == 0.5 and shown["app"]["latency_ms"] == 3
    faults(client, {"track": {"reset_rate": 0.1}})  # replaces track, keeps app
    current = client.get("/_emulator/faults").json()
    assert current["track"]["error_rate"] == 0 and current["track"]["reset_rate"] == 0.1
    assert current["app"]["latency_ms"] == 3
    assert client.delete("/_emulator/faults").json() == FaultPlan().to_json()


def test_invalid_fault_update_is_400_and_changes_nothing(client: TestClient) -> None:
    response = client.post("/_emulator/faults", json={"track": {"error_rate": 2}})
    assert response.status_code == 400 and "error" in response.json()
    assert client.post("/_emulator/faults", content=b"{").status_code == 400
    assert client.get("/_emulator/faults").json() == FaultPlan().to_json()


def test_reset_restores_start_up_faults() -> None:
    start = FaultPlan().updated({"track": {"next": [{"count": 1, "status": 502}]}})
    with emulator_client(faults=start) as client:
        assert identify(client).status_code == 502
        assert identify(client).status_code == 200
        client.post("/_emulator/faults", json={"app": {"error_rate": 1.0}})
        client.post("/_emulator/reset")
        assert identify(client).status_code == 502
        assert client.get("/v1/transactional", headers=APP).status_code == 200
