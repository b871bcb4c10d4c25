"""The emulator's per-delivery webhook control (POST /_emulator/webhooks/delivery): the events
it queues for one accepted send, and what it refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from emulator_support import APP, TestClient, emulator_client

# Nothing listens there: queued events stay in the sender's queue for the test to read.
CLOSED = "http://127.0.0.1:9/webhooks/customerio"
SEND = {"transactional_message_id": 1, "to": "Ann@Example.com", "identifiers": {"id": "7"}}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client(webhook_url=CLOSED, webhook_signing_key="k") as c:
        yield c


def _pending(client: TestClient) -> list[dict[str, Any]]:
    return list(client.app.state.runtime.webhooks.pending)  # type: ignore[attr-defined]


def test_delivered_opened_and_bounced_for_one_send(client: TestClient) -> None:
    client.post(
        "/_emulator/webhooks/outcomes", json={"address": "ann@example.com", "outcome": "none"}
    )
    delivery_id = client.post("/v1/send/email", json=SEND, headers=APP).json()["delivery_id"]
    assert _pending(client) == []  # outcome "none": the test posts its own
    answer = client.post(
        "/_emulator/webhooks/delivery",
        json={"delivery_id": delivery_id, "metrics": ["delivered", "opened", "bounced"]},
    )
    assert answer.json() == {"queued": 3}
    events = _pending(client)
    assert [e["metric"] for e in events] == ["delivered", "opened", "bounced"]
    for event in events:
        assert event["object_type"] == "email"
        assert event["data"]["delivery_id"] == delivery_id
        assert event["data"]["identifiers"] == {"id": "7"}
        assert event["data"]["recipient"] == "ann@example.com"
    assert events[2]["data"]["failure_message"]
    assert len({e["event_id"] for e in events}) == 3


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"delivery_id": "never-given", "metrics": ["opened"]}, 404),
        ({"delivery_id": "x", "metrics": ["read"]}, 400),
        ({"delivery_id": "x", "metrics": []}, 400),
        ({"metrics": ["opened"]}, 400),
    ],
)
def test_refused(client: TestClient, body: dict[str, Any], status: int) -> None:
    assert client.post("/_emulator/webhooks/delivery", json=body).status_code == status


def test_without_a_webhook_url_it_says_so() -> None:
    with emulator_client() as plain:
        answer = plain.post(
            "/_emulator/webhooks/delivery", json={"delivery_id": "x", "metrics": []}
        )
        assert answer.status_code == 409
