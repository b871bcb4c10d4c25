"""Track API v2 on the in-process emulator: /entity, /batch, 207 partial failures, limits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_support import TRACK, TestClient, emulator_client, event_id, person_op


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client() as c:
        yield c


def state(client: TestClient) -> dict[str, Any]:
    return client.get("/_emulator/state").json()  # type: ignore[no-any-return]


def batch(client: TestClient, ops: list[Any]) -> Any:
    return client.post("/api/v2/batch", json={"batch": ops}, auth=TRACK)


EVERY_ACTION = [
    person_op(
        "identify", attributes={"plan": "pro", "score": 1.5, "tags": ["a"]}, timestamp=1_700_000_000
    ),
    person_op(
        "event", name="purchase", id=event_id(), timestamp=1_700_000_001, attributes={"price": 9.5}
    ),
    person_op("page", name="https://example.com/", id=event_id()),
    person_op("screen", name="home", id=event_id()),
    person_op("add_device", device={"token": "tok", "platform": "ios", "last_used": 1}),
    person_op("delete_device", device={"token": "tok"}),
    person_op("suppress", "s1"),
    person_op("unsuppress", "s1"),
    {
        "type": "person",
        "identifiers": {"email": "a@b.co"},
        "action": "identify",
        "attributes": {"x": "y"},
    },
    {
        "type": "person",
        "action": "merge",
        "primary": {"id": "42"},
        "secondary": {"email": "a@b.co"},
    },
    {"type": "person", "identifiers": {"cio_id": "abc"}, "action": "identify"},
    {"type": "person", "identifiers": {"phone": "+15555550100"}, "action": "identify"},
    person_op("delete", "gone"),
]


def test_batch_of_every_person_action_is_applied_in_order(client: TestClient) -> None:
    response = batch(client, EVERY_ACTION)
    assert (response.status_code, response.json()) == (200, {})
    snapshot = state(client)
    assert snapshot["people"]["42"]["attributes"] == {
        "plan": "pro",
        "score": 1.5,
        "tags": ["a"],
        "x": "y",
    }
    assert "a@b.co" not in snapshot["people"]  # merged into 42
    assert {"cio_abc", "+15555550100"} <= set(snapshot["people"])
    assert [e["type"] for e in snapshot["events"]] == ["event", "page", "screen"]
    assert snapshot["events"][0]["data"] == {"price": 9.5}
    assert snapshot["devices"] == {"42": {}}
    assert snapshot["suppressions"] == []
    log = client.get("/_emulator/requests").json()[-1]
    assert log["ops"] == len(EVERY_ACTION)
    assert [i["action"] for i in log["items"]] == [op["action"] for op in EVERY_ACTION]
    assert all(i["result"] in ("applied", "ignored") for i in log["items"])


def test_entity_applies_one_operation(client: TestClient) -> None:
    eid = event_id()
    op = person_op("event", name="signup", id=eid)
    assert client.post("/api/v2/entity", json=op, auth=TRACK).json() == {}
    assert [e["id"] for e in state(client)["events"]] == [eid]


def test_entity_rejects_invalid_operation_with_400(client: TestClient) -> None:
    response = client.post("/api/v2/entity", json=person_op("event", timestamp="now"), auth=TRACK)
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"name", "timestamp"} <= fields


def test_entity_of_32_kb_or_more_is_413(client: TestClient) -> None:
    op = person_op("identify", attributes={f"a{i}": "x" * 900 for i in range(40)})
    assert client.post("/api/v2/entity", json=op, auth=TRACK).status_code == 413


def test_partial_batch_is_207_and_applies_the_valid_items(client: TestClient) -> None:
    good_id = event_id()
    ops = [
        person_op("identify", attributes={"a": "b"}),
        person_op("event", name="x", id="nope"),
        person_op("event", name="ok", id=good_id),
        {"type": "person", "identifiers": {"id": "1", "email": "a@b"}, "action": "delete"},
        person_op("event", name="late", timestamp=1.5),
        "not an object",
    ]
    response = batch(client, ops)
    assert response.status_code == 207
    found = {(e["batch_index"], e["field"]) for e in response.json()["errors"]}
    assert found == {(1, "id"), (3, "identifiers"), (4, "timestamp"), (5, "")}
    for error in response.json()["errors"]:
        assert set(error) == {"batch_index", "reason", "field", "message"}
    snapshot = state(client)
    assert [e["id"] for e in snapshot["events"]] == [good_id]
    assert "42" in snapshot["people"]
    results = [i["result"] for i in client.get("/_emulator/requests").json()[-1]["items"]]
    assert results == ["applied", "rejected", "applied", "rejected", "rejected", "rejected"]


@pytest.mark.parametrize(
    ("op", "field"),
    [
        (person_op("event", name="n" * 101), "name"),
        (person_op("event", name="a", attributes=[1]), "attributes"),
        (person_op("identify", "x" * 151), "identifiers.id"),
        (person_op("identify", attributes={"created_at": "2024-01-01"}), "attributes.created_at"),
        (person_op("identify", timestamp=1.0), "timestamp"),
        (
            person_op("add_device", device={"token": "t", "platform": "blackberry"}),
            "device.platform",
        ),
        (person_op("add_device", device={"platform": "ios"}), "device.token"),
        (person_op("fly"), "action"),
        ({"type": "person", "action": "identify"}, "identifiers"),
        (
            {"type": "person", "identifiers": {"anonymous_id": "a"}, "action": "identify"},
            "identifiers",
        ),
        ({"type": "person", "identifiers": {"id": 42}, "action": "identify"}, "identifiers.id"),
        ({"type": "robot", "identifiers": {"id": "1"}, "action": "identify"}, "type"),
        ({"type": "person", "action": "merge", "primary": {"id": "1"}}, "secondary"),
    ],
)
def test_batch_item_rules(client: TestClient, op: dict[str, Any], field: str) -> None:
    response = batch(client, [op])
    assert response.status_code == 207, response.text
    assert field in {e["field"] for e in response.json()["errors"]}


def test_operation_over_32_kb_in_a_batch_is_an_item_error(client: TestClient) -> None:
    big = person_op("event", name="big", attributes={"blob": "x" * 33_000})
    response = batch(client, [person_op("identify"), big])
    assert response.status_code == 207
    assert response.json()["errors"][0]["batch_index"] == 1
    assert response.json()["errors"][0]["reason"] == "too_large"


def test_batch_over_500_kb_is_413_and_changes_nothing(client: TestClient) -> None:
    ops = [person_op("identify", str(i), attributes={"pad": "x" * 990}) for i in range(520)]
    body = json.dumps({"batch": ops}).encode()
    assert len(body) > 500_000
    response = client.post("/api/v2/batch", content=body, auth=TRACK)
    assert response.status_code == 413
    assert state(client)["people"] == {}


def test_batch_just_under_the_limit_is_accepted(client: TestClient) -> None:
    ops = [person_op("identify", str(i), attributes={"pad": "x" * 900}) for i in range(500)]
    body = json.dumps({"batch": ops}).encode()
    assert 450_000 < len(body) <= 500_000
    assert client.post("/api/v2/batch", content=body, auth=TRACK).status_code == 200
    assert len(state(client)["people"]) == 500


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"batch": {}}', b'{"ops": []}', b""])
def test_malformed_batch_is_400(client: TestClient, body: bytes) -> None:
    response = client.post("/api/v2/batch", content=body, auth=TRACK)
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert set(error) == {"reason", "field", "message"}


def test_empty_batch_is_accepted(client: TestClient) -> None:
    assert batch(client, []).status_code == 200


def test_events_are_deduplicated_across_v1_and_v2(client: TestClient) -> None:
    eid = event_id()
    client.post("/api/v1/customers/42/events", json={"name": "a", "id": eid}, auth=TRACK)
    batch(client, [person_op("event", name="a", id=eid), person_op("event", name="a", id=eid)])
    (event,) = state(client)["events"]
    assert event["duplicates"] == 2
    items = client.get("/_emulator/requests").json()[-1]["items"]
    assert [i["result"] for i in items] == ["duplicate", "duplicate"]


def test_request_log_keeps_per_person_order(client: TestClient) -> None:
    ids = [event_id() for _ in range(3)]
    batch(
        client,
        [
            person_op("identify", "a"),
            person_op("event", "b", name="e", id=ids[0]),
            person_op("event", "a", name="e", id=ids[1]),
        ],
    )
    client.post("/api/v2/entity", json=person_op("event", "a", name="f", id=ids[2]), auth=TRACK)
    items = [i for r in client.get("/_emulator/requests?surface=track").json() for i in r["items"]]
    of_a = [(i["action"], i["event_id"]) for i in items if i["identifier"] == "a"]
    assert of_a == [("identify", None), ("event", ids[1]), ("event", ids[2])]


def test_object_operations_are_accepted_but_not_modelled(client: TestClient) -> None:
    op = {
        "type": "object",
        "identifiers": {"object_type_id": "1", "object_id": "acme"},
        "action": "identify",
        "attributes": {"name": "Acme"},
    }
    assert batch(client, [op]).status_code == 200
    assert state(client)["people"] == {}


def test_identify_with_update_flag_never_creates(client: TestClient) -> None:
    batch(client, [person_op("identify", "new", attributes={"_update": True, "a": "b"})])
    assert state(client)["people"] == {}
    batch(
        client,
        [
            person_op("identify", "new", attributes={"a": "b"}),
            person_op("identify", "new", attributes={"_update": True, "a": "c"}),
        ],
    )
    assert state(client)["people"]["new"]["attributes"] == {"a": "c"}


def test_null_attribute_removes_it(client: TestClient) -> None:
    batch(
        client,
        [
            person_op("identify", attributes={"a": "b", "c": "d"}),
            person_op("identify", attributes={"a": None}),
        ],
    )
    assert state(client)["people"]["42"]["attributes"] == {"c": "d"}
