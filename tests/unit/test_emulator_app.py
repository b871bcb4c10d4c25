"""App API on the in-process emulator: transactional sends and their validation."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from emulator_support import APP, TestClient, emulator_client

EMAIL = {
    "transactional_message_id": 12,
    "to": "jane@example.com",
    "identifiers": {"id": "42"},
    "message_data": {"code": "1234"},
}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client() as c:
        yield c


def send(client: TestClient, body: Any, kind: str = "email") -> Any:
    return client.post(f"/v1/send/{kind}", json=body, headers=APP)


def test_send_is_recorded_with_a_unique_delivery_id(client: TestClient) -> None:
    before = int(time.time())
    first, second = send(client, EMAIL), send(client, EMAIL)
    assert first.status_code == second.status_code == 200
    assert first.json()["delivery_id"] != second.json()["delivery_id"]
    assert first.json()["queued_at"] >= before
    sends = client.get("/_emulator/state").json()["sends"]
    # no idempotency key in the App API: the same request twice is two deliveries
    assert [s["delivery_id"] for s in sends] == [
        first.json()["delivery_id"],
        second.json()["delivery_id"],
    ]
    assert sends[0]["kind"] == "email" and sends[0]["request"] == EMAIL


def test_template_less_email_needs_body_subject_from(client: TestClient) -> None:
    body = {"to": "a@b.co", "identifiers": {"email": "a@b.co"}}
    response = send(client, body)
    assert response.status_code == 400
    assert "body, subject, from" in response.json()["meta"]["error"]
    full = body | {"body": "<p>hi</p>", "subject": "Hi", "from": "us@b.co"}
    assert send(client, full).status_code == 200


@pytest.mark.parametrize("kind", ["push", "sms", "in_app", "inbox_message", "whatsapp"])
def test_other_kinds(client: TestClient, kind: str) -> None:
    body = {"transactional_message_id": "welcome", "identifiers": {"cio_id": "abc"}}
    assert send(client, body, kind).status_code == 200
    missing = send(client, {"identifiers": {"id": "1"}}, kind)
    assert missing.status_code == 400
    assert "transactional_message_id" in missing.json()["meta"]["error"]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"identifiers": {"id": "1", "email": "a@b.co"}}, "exactly one"),
        ({"identifiers": {}}, "exactly one"),
        ({"identifiers": {"phone": "+1"}}, "exactly one"),
        ({"identifiers": {"id": " "}}, "non-blank"),
        ({"identifiers": None}, "identifiers is required"),
        ({"to": ",".join(f"u{i}@x.co" for i in range(16))}, "15 recipients"),
        (
            {
                "to": ",".join(f"u{i}@x.co" for i in range(10)),
                "cc": ",".join(f"c{i}@x.co" for i in range(3)),
                "bcc": ",".join(f"b{i}@x.co" for i in range(3)),
            },
            "15 recipients",
        ),
        ({"to": ""}, "to is required"),
        ({"transactional_message_id": True}, "transactional_message_id"),
        ({"tracked": "yes"}, "tracked must be a boolean"),
        ({"message_data": [1]}, "message_data"),
        ({"send_at": "tomorrow"}, "send_at"),
        ({"send_at": int(time.time()) + 91 * 86_400}, "90 days"),
        ({"attachments": {"a.txt": "%%%"}}, "base64"),
        ({"attachments": {"a.bin": base64.b64encode(b"x" * (2 * 1024 * 1024)).decode()}}, "2 MB"),
    ],
)
def test_send_rejects(client: TestClient, change: dict[str, Any], fragment: str) -> None:
    body = {k: v for k, v in (EMAIL | change).items() if v is not None}
    response = send(client, body)
    assert response.status_code == 400
    assert fragment in response.json()["meta"]["error"]
    assert client.get("/_emulator/state").json()["sends"] == []


def test_fifteen_recipients_is_fine(client: TestClient) -> None:
    body = EMAIL | {"to": ",".join(f"u{i}@x.co" for i in range(14)), "bcc": "b@x.co"}
    assert send(client, body).status_code == 200


def test_invalid_json_and_unknown_kind(client: TestClient) -> None:
    response = client.post("/v1/send/email", content=b"{", headers=APP)
    assert response.status_code == 400 and "meta" in response.json()
    assert send(client, EMAIL, "fax").status_code == 404


def test_transactional_list_is_the_harmless_key_check(client: TestClient) -> None:
    response = client.get("/v1/transactional", headers=APP)
    assert (response.status_code, response.json()) == (200, {"messages": []})


def test_request_log_of_a_send(client: TestClient) -> None:
    delivery = send(client, EMAIL).json()["delivery_id"]
    (entry,) = client.get("/_emulator/requests?surface=app").json()
    assert entry["surface"] == "app" and entry["ops"] == 1 and entry["status"] == 200
    assert entry["items"] == [{"kind": "email", "delivery_id": delivery}]
