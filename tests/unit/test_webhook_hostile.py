"""The receiver's hostile-input contract on its own (issue 18, item 5): ``verify_signature``
raises only ``SignatureError`` whatever it is given (generated), replays are refused once
accepted, implausible event times are enqueued for the worker to dead-letter, and the
receiver's Redis budget is a bounded setting."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rq import Queue
from starlette.testclient import TestClient

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.webhooks.events import EventError, parse_event
from cio_pipeline.worker.webhooks.receiver import create_receiver
from cio_pipeline.worker.webhooks.signature import SignatureError, sign, verify_signature

KEY = "hostile-key"
NOW = 1_700_000_000

_headers = st.one_of(
    st.none(),
    st.text(max_size=80),
    st.binary(max_size=80),
    st.integers(),
    st.floats(),
    st.just("²"),
    st.just("1¹"),
    st.just(str(NOW)),
    st.just("a" * 64),
    st.just("\ud800" * 64),
)
_keys = st.one_of(
    st.text(max_size=20),
    st.lists(st.one_of(st.text(max_size=10), st.none(), st.integers()), max_size=3),
    st.none(),
    st.integers(),
    st.just("k\ud800"),
)
_bodies = st.one_of(st.binary(max_size=64), st.text(max_size=64), st.none(), st.integers())


@given(_bodies, _headers, _headers, _keys)
@settings(max_examples=500, deadline=None)
def test_verify_signature_raises_only_signature_error(
    body: Any, stamp: Any, signature: Any, keys: Any
) -> None:
    try:
        verify_signature(body, stamp, signature, keys, now=NOW)
    except SignatureError:
        pass


@pytest.mark.parametrize(
    "stamp", ["²", "1¹", "\u0661\u0662\u0663", "\U0001d7d9\U0001d7da", " 17 00"]
)
def test_non_ascii_digits_are_malformed_not_a_crash(stamp: str) -> None:
    with pytest.raises(SignatureError, match="malformed X-CIO-Timestamp"):
        verify_signature(b"{}", stamp, "a" * 64, KEY, now=NOW)


def test_a_key_that_cannot_be_encoded_is_skipped_not_a_crash() -> None:
    body = b"{}"
    verify_signature(body, str(NOW), sign(body, NOW, KEY), ["k\ud800", KEY], now=NOW)


def _event(ts: int, event_id: str = "01E4C4CT6YDC7Y5M7FE1GWWPQJ") -> bytes:
    return json.dumps(
        {
            "event_id": event_id,
            "object_type": "email",
            "metric": "bounced",
            "timestamp": ts,
            "data": {"recipient": "ann@example.com"},
        }
    ).encode()


def _post(client: TestClient, body: bytes, stamp: int | None = None) -> Any:
    stamp = int(time.time()) if stamp is None else stamp
    headers = {"X-CIO-Timestamp": str(stamp), "X-CIO-Signature": sign(body, stamp, KEY)}
    return client.post("/webhooks/customerio", content=body, headers=headers)


def _setup() -> tuple[TestClient, fakeredis.FakeRedis]:
    fake = fakeredis.FakeRedis()
    app = create_receiver(WorkerSettings(webhook_signing_key=KEY), fake)
    return TestClient(app), fake


def _jobs(fake: fakeredis.FakeRedis) -> int:
    return len(Queue(Keys().webhooks_queue, connection=fake, serializer=SafeSerializer))


def test_a_replay_is_409_once_accepted_and_lives_as_long_as_the_window() -> None:
    client, fake = _setup()
    body, stamp = _event(int(time.time())), int(time.time())
    assert _post(client, body, stamp).status_code == 200
    assert _post(client, body, stamp).status_code == 409
    assert _jobs(fake) == 1
    (marker,) = fake.keys("cio:webhook-signature:*")
    # the marker lasts until the timestamp leaves the 300 s window, no longer
    assert 290 <= fake.ttl(marker) <= 302


def test_an_implausible_event_time_is_answered_200_and_left_to_the_worker() -> None:
    client, fake = _setup()
    response = _post(client, _event(int(time.time()) * 1000))
    assert response.status_code == 200
    assert _jobs(fake) == 1  # the worker dead-letters it with the reason (see its tests)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b'{"event_id": "e", "object_type": "email", "metric": "m", "timestamp": 1700000000, '
            b'"data": {"x": "Jos\\ud800"}}',
            "not valid Unicode",
        ),
        (
            b'{"event_id": "e", "object_type": "email", "metric": "m", "timestamp": 1700000000, '
            b'"data": {"x": ' + b"[" * 500 + b"]" * 500 + b"}}",
            "nested more than 32",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
    ids=["lone-surrogate", "deep", "json-recursion"],
)
def test_events_the_workers_could_not_handle_are_refused(body: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_event(body)


@pytest.mark.parametrize("value", ["0", "4", "3.6", "nan"])
def test_the_receivers_redis_budget_stays_below_customerios_4_s(value: str) -> None:
    with pytest.raises(SettingsError, match="CIO_WEBHOOK_REDIS_TIMEOUT_S"):
        WorkerSettings.from_env({"CIO_WEBHOOK_REDIS_TIMEOUT_S": value})
    assert WorkerSettings.from_env({}).webhook_redis_timeout_s == 0.5


_APP = create_receiver(WorkerSettings(webhook_signing_key=KEY), fakeredis.FakeRedis())
_header_bytes = st.one_of(
    st.binary(max_size=70),
    st.sampled_from([b"\xc2\xb2", b"1\xb9", b"17e8", b"-5", b"0x10", b" 1 ", b"9" * 40]),
)


def _asgi_post(headers: list[tuple[bytes, bytes]], body: bytes, more: bool = False) -> int:
    """POST through the ASGI interface itself, headers exactly as given (an HTTP client
    would fix a wrong Content-Length)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/webhooks/customerio",
        "raw_path": b"/webhooks/customerio",
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": more}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(_APP(scope, receive, send))
    return int(sent[0]["status"])


@given(st.binary(max_size=300), _header_bytes, _header_bytes, _header_bytes)
@settings(max_examples=300, deadline=None)
def test_no_request_gets_a_500(body: bytes, stamp: bytes, signature: bytes, length: bytes) -> None:
    headers = [
        (b"x-cio-timestamp", stamp),
        (b"x-cio-signature", signature),
        (b"content-length", length),  # declared, maybe wrong or "²"
    ]
    assert _asgi_post(headers, body) in (400, 401, 413)


def test_a_client_gone_mid_body_is_not_an_error() -> None:
    headers = [(b"content-length", b"1000"), (b"x-cio-timestamp", b"1")]
    # the receive() above says http.disconnect once the first chunk is read
    assert _asgi_post(headers, b'{"event_id": "01', more=True) == 400
