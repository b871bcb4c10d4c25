"""AppClient on httpx.MockTransport: Bearer auth, send endpoints, bodies, key check, outcomes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import Any

import httpx
import pytest
from clients_support import Handler, Recorder, load_spec
from jsonschema import Draft202012Validator

from cio_pipeline.worker.clients import (
    SEND_KINDS,
    Ambiguous,
    AppClient,
    MissingCredential,
    Outcome,
    Permanent,
    RateLimited,
    Success,
    Transient,
)
from cio_pipeline.worker.clients.base import encode_json
from cio_pipeline.worker.core.settings import WorkerSettings

SETTINGS = WorkerSettings(site_id="site", api_key="track-key", app_api_key="app-key")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(default_body={"delivery_id": "d-1", "queued_at": 17})


@pytest.fixture
def client(recorder: Recorder) -> Iterator[AppClient]:
    with AppClient(SETTINGS, transport=httpx.MockTransport(recorder)) as app:
        yield app


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


EMAIL = {
    "transactional_message_id": 44,
    "to": "ann@example.com",
    "identifiers": {"id": "42"},
    "message_data": {"reset_url": "https://x.io/r/1"},
    "from": "shop@example.com",
    "send_to_unsubscribed": False,
    "attachments": {"receipt.txt": "aGVsbG8="},
}
PUSH = {"transactional_message_id": "welcome", "identifiers": {"email": "ann@example.com"}}


def test_bearer_auth_with_the_app_key(client: AppClient, recorder: Recorder) -> None:
    client.check_key()
    assert recorder.last.headers["Authorization"] == "Bearer app-key"
    assert "track-key" not in str(recorder.last.headers)


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({}, "https://api.customer.io/v1/send/email"),
        ({"region": "eu"}, "https://api-eu.customer.io/v1/send/email"),
        ({"app_url": "http://127.0.0.1:9999"}, "http://127.0.0.1:9999/v1/send/email"),
    ],
)
def test_region_hosts_and_override(overrides: dict[str, str], url: str) -> None:
    recorder = Recorder()
    settings = WorkerSettings(app_api_key="k", **overrides)  # type: ignore[arg-type]
    with AppClient(settings, transport=httpx.MockTransport(recorder)) as app:
        app.send_email(EMAIL)
    assert str(recorder.last.url) == url


def test_headers_and_timeouts(recorder: Recorder) -> None:
    settings = WorkerSettings(app_api_key="k", http_connect_timeout_s=2, http_read_timeout_s=30)
    with AppClient(settings, transport=httpx.MockTransport(recorder)) as app:
        app.send_push(PUSH)
    request = recorder.last
    assert request.headers["User-Agent"] == f"cio-pipeline/{version('cio-pipeline')}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.extensions["timeout"] == {"connect": 2, "read": 30, "write": 30, "pool": 2}


@pytest.mark.parametrize("key", [None, ""])
def test_missing_key_names_the_variable(key: str | None) -> None:
    with pytest.raises(MissingCredential, match=r"^CUSTOMERIO_APP_API_KEY is not set$"):
        AppClient(WorkerSettings(site_id="s", api_key="k", app_api_key=key))


@pytest.mark.parametrize(
    ("call", "path", "body"),
    [
        (lambda c: c.send_email(EMAIL), "/v1/send/email", EMAIL),
        (lambda c: c.send_push(PUSH), "/v1/send/push", PUSH),
        (lambda c: c.send_sms(PUSH), "/v1/send/sms", PUSH),
        (lambda c: c.send_in_app(PUSH), "/v1/send/in_app", PUSH),
        (lambda c: c.send_inbox_message(PUSH), "/v1/send/inbox_message", PUSH),
        (lambda c: c.send_whatsapp(PUSH), "/v1/send/whatsapp", PUSH),
        (lambda c: c.send("email", EMAIL), "/v1/send/email", EMAIL),
    ],
)
def test_sends(
    client: AppClient,
    recorder: Recorder,
    call: Callable[[AppClient], Outcome],
    path: str,
    body: dict[str, Any],
) -> None:
    outcome = call(client)
    assert isinstance(outcome, Success)
    assert outcome.body == {"delivery_id": "d-1", "queued_at": 17}
    assert (recorder.last.method, recorder.last.url.path) == ("POST", path)
    assert recorder.last.content == encode_json(body)


def test_every_send_kind_has_a_method() -> None:
    assert set(SEND_KINDS) == {"email", "push", "sms", "in_app", "inbox_message", "whatsapp"}
    for kind in SEND_KINDS:
        assert callable(getattr(AppClient, f"send_{kind}"))


@pytest.mark.parametrize(("schema", "body"), [("sendemail", EMAIL), ("sendpush", PUSH)])
def test_bodies_are_valid_against_the_spec(
    client: AppClient, recorder: Recorder, spec: dict[str, Any], schema: str, body: object
) -> None:
    client.send("email" if schema == "sendemail" else "push", body)  # type: ignore[arg-type]
    root = {"$ref": f"#/components/schemas/{schema}", "components": spec["components"]}
    sent = json.loads(recorder.last.content)
    assert [e.message for e in Draft202012Validator(root).iter_errors(sent)] == []


def test_unknown_kind_is_a_programming_error(client: AppClient, recorder: Recorder) -> None:
    with pytest.raises(ValueError, match="unknown send kind"):
        client.send("fax", PUSH)  # type: ignore[arg-type]
    assert recorder.requests == []


def test_check_key_is_a_harmless_get(client: AppClient, recorder: Recorder) -> None:
    assert isinstance(client.check_key(), Success)
    assert (recorder.last.method, recorder.last.url.path) == ("GET", "/v1/transactional")
    assert recorder.last.content == b""


def test_check_key_with_another_key(client: AppClient, recorder: Recorder) -> None:
    client.check_key(api_key="other")
    assert recorder.last.headers["Authorization"] == "Bearer other"


def _answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    return lambda _request: httpx.Response(status, content=body, headers=headers)


def _raise(exc: Exception) -> Handler:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("respond", "expected"),
    [
        (_answer(429, headers={"Retry-After": "2"}), RateLimited(2.0)),
        (_answer(400, b'{"meta":{"error":"to is required"}}'), Permanent(400, "to is required")),
        (
            _answer(404, b'{"meta":{"error":"template not found"}}'),
            Permanent(404, "template not found"),
        ),
        (_answer(503), Transient("HTTP 503", status=503)),
    ],
)
def test_send_outcomes(respond: Handler, expected: Outcome) -> None:
    with AppClient(SETTINGS, transport=httpx.MockTransport(Recorder(respond))) as app:
        outcome = app.send_email(EMAIL)
    assert type(outcome) is type(expected)
    assert {**vars(outcome), "latency_s": 0} == {**vars(expected), "latency_s": 0}


@pytest.mark.parametrize(
    ("exc", "safe_to_retry"),
    [
        (httpx.ConnectError("refused"), True),
        (httpx.ConnectTimeout("slow connect"), True),
        (httpx.PoolTimeout("no connection"), True),
        (httpx.ReadTimeout("slow answer"), False),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), False),
        (httpx.ReadError("connection reset"), False),
    ],
)
def test_send_network_failures(exc: Exception, safe_to_retry: bool) -> None:
    with AppClient(SETTINGS, transport=httpx.MockTransport(Recorder(_raise(exc)))) as app:
        outcome = app.send_email(EMAIL)
    if safe_to_retry:
        assert isinstance(outcome, Transient) and not outcome.sent
    else:
        assert isinstance(outcome, Ambiguous)
    assert "ann@example.com" not in repr(outcome)


def test_401_names_the_app_key() -> None:
    with AppClient(SETTINGS, transport=httpx.MockTransport(Recorder(_answer(401)))) as app:
        outcome = app.send_email(EMAIL)
    assert isinstance(outcome, Permanent)
    assert outcome.message == (
        "App API rejected CUSTOMERIO_APP_API_KEY (Bearer). "
        "The Track API key (CUSTOMERIO_API_KEY) does not work here."
    )


def test_error_texts_hold_no_request_body_or_key() -> None:
    respond = _answer(400, b'{"meta":{"error":"invalid key app-key"}}')
    with AppClient(SETTINGS, transport=httpx.MockTransport(Recorder(respond))) as app:
        outcome = app.send_email({**EMAIL, "body": "Your secret code is 998877"})
    assert isinstance(outcome, Permanent)
    assert "998877" not in outcome.message and "app-key" not in outcome.message
    assert outcome.message == "invalid key [redacted]"
