"""Track API v1 on the in-process emulator: each endpoint, its validation, its state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from emulator_support import TRACK, TestClient, emulator_client, event_id


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client() as c:
        yield c


def state(client: TestClient) -> dict[str, Any]:
    return client.get("/_emulator/state").json()  # type: ignore[no-any-return]


def errors(response: Any) -> str:
    assert response.status_code == 400, response.text
    return " ".join(response.json()["meta"]["errors"])


# ---- identify / delete ---------------------------------------------------------------------
def test_identify_merges_attributes_over_calls(client: TestClient) -> None:
    response = client.put("/api/v1/customers/42", json={"plan": "free", "n": 1}, auth=TRACK)
    assert response.json() == {}
    client.put(
        "/api/v1/customers/42", json={"plan": "pro", "created_at": 1_700_000_000}, auth=TRACK
    )
    person = state(client)["people"]["42"]
    assert person["identifier_type"] == "id"
    assert person["attributes"] == {"plan": "pro", "n": 1, "created_at": 1_700_000_000}


@pytest.mark.parametrize(
    ("path", "key", "kind"),
    [
        ("/api/v1/customers/jane%40example.com", "jane@example.com", "email"),
        ("/api/v1/customers/cio_03000001", "cio_03000001", "cio_id"),
        ("/api/v1/customers/user%201", "user 1", "id"),
        ("/api/v1/customers/a%2Fb", "a/b", "id"),
    ],
)
def test_path_identifier_is_decoded_and_typed_by_shape(
    client: TestClient, path: str, key: str, kind: str
) -> None:
    assert client.put(path, json={"x": "y"}, auth=TRACK).status_code == 200
    assert state(client)["people"][key]["identifier_type"] == kind


def test_identify_without_body_is_accepted(client: TestClient) -> None:
    assert client.put("/api/v1/customers/7", auth=TRACK).status_code == 200
    assert "7" in state(client)["people"]


def test_delete_removes_the_person_and_devices(client: TestClient) -> None:
    client.put("/api/v1/customers/42", json={"a": "b"}, auth=TRACK)
    client.put(
        "/api/v1/customers/42/devices", json={"device": {"id": "t", "platform": "ios"}}, auth=TRACK
    )
    assert client.delete("/api/v1/customers/42", auth=TRACK).json() == {}
    snapshot = state(client)
    assert snapshot["people"] == {} and snapshot["devices"] == {}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"created_at": "2024-01-01T00:00:00Z"}, "created_at"),
        ({"created_at": 1.5}, "created_at"),
        ({"_timestamp": 1_700_000_000.0}, "_timestamp"),
        ({"x": "v" * 1001}, "longer than 1000 bytes"),
        ({"n" * 151: "v"}, "name longer than 150 bytes"),
        ({f"a{i}": i for i in range(301)}, "more than 300 attributes"),
        ({"price": 23.45}, "price"),  # the spec allows string, integer or boolean values only
        ({"nested": {"a": 1}}, "nested"),
        ([1, 2], "body"),
    ],
)
def test_identify_rejects(client: TestClient, body: Any, fragment: str) -> None:
    assert fragment in errors(client.put("/api/v1/customers/42", json=body, auth=TRACK))
    assert state(client)["people"] == {}


def test_identifier_over_150_bytes_is_rejected(client: TestClient) -> None:
    assert "150 bytes" in errors(client.put("/api/v1/customers/" + "é" * 76, json={}, auth=TRACK))


def test_invalid_json_is_a_v1_error(client: TestClient) -> None:
    response = client.put("/api/v1/customers/42", content=b"{nope", auth=TRACK)
    assert "not valid JSON" in errors(response)


# ---- events --------------------------------------------------------------------------------
def test_event_is_recorded_with_data_and_arrival(client: TestClient) -> None:
    eid = event_id()
    body = {"name": "purchase", "id": eid, "timestamp": 1_700_000_000, "data": {"price": 9}}
    assert client.post("/api/v1/customers/42/events", json=body, auth=TRACK).json() == {}
    (event,) = state(client)["events"]
    assert event | {"arrived_at": 0} == {
        "person": "42",
        "anonymous_id": None,
        "name": "purchase",
        "id": eid,
        "type": "event",
        "timestamp": 1_700_000_000,
        "data": {"price": 9},
        "arrived_at": 0,
        "duplicates": 0,
        "api": "v1",
    }


def test_event_with_known_id_is_counted_not_stored_again(client: TestClient) -> None:
    eid = event_id()
    for _ in range(3):
        client.post("/api/v1/customers/42/events", json={"name": "a", "id": eid}, auth=TRACK)
    (event,) = state(client)["events"]
    assert event["duplicates"] == 2


def test_page_event(client: TestClient) -> None:
    body = {"name": "https://example.com/", "type": "page"}
    assert client.post("/api/v1/customers/42/events", json=body, auth=TRACK).status_code == 200
    assert state(client)["events"][0]["type"] == "page"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"name": "a", "timestamp": "1700000000"}, "timestamp"),
        ({"name": "a", "timestamp": 1_700_000_000.5}, "timestamp"),
        ({"name": "a", "timestamp": 1_700_000_000.0}, "timestamp"),
        ({"name": "a", "timestamp": True}, "timestamp"),
        ({"name": "a", "id": "not-a-ulid"}, "ULID"),
        ({"name": "a", "id": "8" + "0" * 25}, "ULID"),  # overflows the 48-bit timestamp
        ({"name": "a", "id": "0" * 25 + "U"}, "ULID"),  # U is not Crockford base32
        ({"name": "x" * 101}, "100 bytes"),
        ({"name": " "}, "name"),
        ({}, "name"),
        ({"name": "a", "data": {"blob": "x" * 100_000}}, "100000 bytes"),
        ({"name": "a", "data": [1]}, "data"),
    ],
)
def test_event_rejects(client: TestClient, body: dict[str, Any], fragment: str) -> None:
    assert fragment in errors(client.post("/api/v1/customers/42/events", json=body, auth=TRACK))
    assert state(client)["events"] == []


def test_lowercase_ulid_is_accepted(client: TestClient) -> None:
    body = {"name": "a", "id": event_id().lower()}
    assert client.post("/api/v1/customers/42/events", json=body, auth=TRACK).status_code == 200


def test_anonymous_event(client: TestClient) -> None:
    body = {"name": "visit", "anonymous_id": "anon-1", "id": event_id(), "data": {"k": "v"}}
    assert client.post("/api/v1/events", json=body, auth=TRACK).json() == {}
    (event,) = state(client)["events"]
    assert (event["person"], event["anonymous_id"], event["data"]) == (None, "anon-1", {"k": "v"})
    log = client.get("/_emulator/requests").json()[-1]
    assert log["items"][0]["identifier"] == "anon-1"
    assert log["items"][0]["identifier_type"] == "anonymous_id"


def test_anonymous_event_rejects_float_timestamp(client: TestClient) -> None:
    body = {"name": "visit", "timestamp": 1.0}
    assert "timestamp" in errors(client.post("/api/v1/events", json=body, auth=TRACK))


# ---- devices, suppression, merge, region ---------------------------------------------------
def test_add_and_delete_device(client: TestClient) -> None:
    device = {
        "id": "tok-1",
        "platform": "android",
        "last_used": 1_700_000_000,
        "attributes": {"app_version": "1.2"},
    }
    assert (
        client.put("/api/v1/customers/42/devices", json={"device": device}, auth=TRACK).status_code
        == 200
    )
    assert state(client)["devices"] == {
        "42": {
            "tok-1": {
                "platform": "android",
                "last_used": 1_700_000_000,
                "attributes": {"app_version": "1.2"},
            }
        }
    }
    assert client.delete("/api/v1/customers/42/devices/tok-1", auth=TRACK).status_code == 200
    assert state(client)["devices"] == {"42": {}}


@pytest.mark.parametrize(
    "device",
    [
        {"id": "t", "platform": "windows"},
        {"platform": "ios"},
        {"id": "t", "platform": "ios", "last_used": "yesterday"},
        {"id": "t", "platform": "ios", "attributes": {"n": 1}},  # device attributes are strings
    ],
)
def test_add_device_rejects(client: TestClient, device: dict[str, Any]) -> None:
    errors(client.put("/api/v1/customers/42/devices", json={"device": device}, auth=TRACK))


def test_suppress_deletes_and_ignores_later_identifies_until_unsuppressed(
    client: TestClient,
) -> None:
    client.put("/api/v1/customers/42", json={"a": "b"}, auth=TRACK)
    assert client.post("/api/v1/customers/42/suppress", auth=TRACK).json() == {}
    client.put("/api/v1/customers/42", json={"a": "c"}, auth=TRACK)
    snapshot = state(client)
    assert snapshot["suppressions"] == ["42"] and snapshot["people"] == {}
    assert client.post("/api/v1/customers/42/unsuppress", auth=TRACK).json() == {}
    client.put("/api/v1/customers/42", json={"a": "d"}, auth=TRACK)
    snapshot = state(client)
    assert snapshot["suppressions"] == [] and snapshot["people"]["42"]["attributes"] == {"a": "d"}


def test_merge(client: TestClient) -> None:
    client.put("/api/v1/customers/1", json={"a": "primary"}, auth=TRACK)
    client.put("/api/v1/customers/old%40x.com", json={"a": "secondary", "b": "kept"}, auth=TRACK)
    body = {"primary": {"id": "1"}, "secondary": {"email": "old@x.com"}}
    assert client.post("/api/v1/merge_customers", json=body, auth=TRACK).json() == {}
    snapshot = state(client)
    assert list(snapshot["people"]) == ["1"]
    assert snapshot["people"]["1"]["attributes"] == {"a": "primary", "b": "kept"}
    assert [(m["primary"], m["secondary"]) for m in snapshot["merges"]] == [("1", "old@x.com")]


@pytest.mark.parametrize(
    "body",
    [
        {"primary": {"id": "1", "email": "a@b"}, "secondary": {"id": "2"}},
        {"primary": {"id": "1"}},
        {"primary": {"phone": "+1555"}, "secondary": {"id": "2"}},
        {"primary": {"id": ""}, "secondary": {"id": "2"}},
    ],
)
def test_merge_rejects_with_single_error(client: TestClient, body: dict[str, Any]) -> None:
    response = client.post("/api/v1/merge_customers", json=body, auth=TRACK)
    assert response.status_code == 400
    assert isinstance(response.json()["meta"]["error"], str)


@pytest.mark.parametrize(
    ("region", "url"), [("us", "https://track.customer.io"), ("eu", "https://track-eu.customer.io")]
)
def test_region(region: str, url: str) -> None:
    with emulator_client(region=region, environment_id=77) as client:
        answer = client.get("/api/v1/accounts/region", auth=TRACK).json()
    assert answer == {"url": url, "region": region, "environment_id": 77}


def test_unknown_track_path_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/nothing", auth=TRACK).status_code == 404
