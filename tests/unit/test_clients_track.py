"""TrackClient on httpx.MockTransport: requests exactly as the spec wants, outcomes as mapped."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from importlib.metadata import version
from typing import Any

import httpx
import pytest
from clients_support import Handler, Recorder, load_spec
from jsonschema import Draft202012Validator

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.worker.clients import (
    Ambiguous,
    MissingCredential,
    Outcome,
    Partial,
    Permanent,
    RateLimited,
    Success,
    TrackClient,
    Transient,
)
from cio_pipeline.worker.clients.base import encode_json
from cio_pipeline.worker.core.settings import WorkerSettings

SETTINGS = WorkerSettings(site_id="site 1", api_key="track-key", app_api_key="app-key")


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client(recorder: Recorder) -> Iterator[TrackClient]:
    with TrackClient(SETTINGS, transport=httpx.MockTransport(recorder)) as track:
        yield track


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return load_spec()


def _validate(spec: dict[str, Any], method: str, path: str, body: object) -> None:
    """Validate ``body`` against the spec's request schema of ``method path``."""
    schema = spec["paths"][path][method.lower()]["requestBody"]["content"]["application/json"]
    root = {**schema["schema"], "components": spec["components"]}
    errors = [e.message for e in Draft202012Validator(root).iter_errors(body)]
    assert errors == [], f"{method} {path}: {errors}"


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content)


# -- auth, hosts, headers, timeouts ----------------------------------------------------------


def test_basic_auth_with_site_id_and_track_key(client: TrackClient, recorder: Recorder) -> None:
    client.region()
    expected = base64.b64encode(b"site 1:track-key").decode()
    assert recorder.last.headers["Authorization"] == f"Basic {expected}"
    assert "app-key" not in str(recorder.last.headers)


@pytest.mark.parametrize(
    ("overrides", "url"),
    [
        ({}, "https://track.customer.io/api/v1/accounts/region"),
        ({"region": "eu"}, "https://track-eu.customer.io/api/v1/accounts/region"),
        (
            {"region": "eu", "track_url": "http://127.0.0.1:8123/"},
            "http://127.0.0.1:8123/api/v1/accounts/region",
        ),
    ],
)
def test_region_hosts_and_override(overrides: dict[str, str], url: str) -> None:
    recorder = Recorder()
    settings = WorkerSettings(site_id="s", api_key="k", **overrides)  # type: ignore[arg-type]
    with TrackClient(settings, transport=httpx.MockTransport(recorder)) as track:
        track.region()
    assert str(recorder.last.url) == url


def test_user_agent_accept_and_timeouts(recorder: Recorder) -> None:
    settings = WorkerSettings(
        site_id="s", api_key="k", http_connect_timeout_s=1.5, http_read_timeout_s=7.0
    )
    with TrackClient(settings, transport=httpx.MockTransport(recorder)) as track:
        track.delete("42")
    request = recorder.last
    assert request.headers["User-Agent"] == f"cio-pipeline/{version('cio-pipeline')}"
    assert request.headers["Accept"] == "application/json"
    assert request.extensions["timeout"] == {"connect": 1.5, "read": 7.0, "write": 7.0, "pool": 1.5}


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"api_key": "k"}, "CUSTOMERIO_SITE_ID is not set"),
        ({"site_id": "s"}, "CUSTOMERIO_API_KEY is not set"),
        ({"site_id": "s", "api_key": ""}, "CUSTOMERIO_API_KEY is not set"),
        ({"app_api_key": "a"}, "CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY are not set"),
    ],
)
def test_missing_credentials_name_the_variable(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(MissingCredential) as caught:
        TrackClient(WorkerSettings(**overrides))  # type: ignore[arg-type]
    assert str(caught.value) == message
    assert isinstance(caught.value, SettingsError)


def test_injected_http_client_is_used_and_not_closed(recorder: Recorder) -> None:
    http = httpx.Client(transport=httpx.MockTransport(recorder))
    with TrackClient(SETTINGS, http_client=http) as track:
        outcome = track.delete("1")
    assert isinstance(outcome, Success)
    assert len(recorder.requests) == 1
    assert recorder.last.headers["Authorization"].startswith("Basic ")
    assert not http.is_closed
    http.close()


def test_one_pooled_client_serves_every_call(client: TrackClient) -> None:
    http = client.http
    client.delete("1")
    client.region()
    assert client.http is http


# -- each operation: method, path, exact body, valid against the spec -------------------------

OPERATIONS: list[tuple[str, Callable[[TrackClient], Outcome], str, str, str, object]] = [
    # (name, call, method, spec path, url path, body or None)
    (
        "identify",
        lambda c: c.identify("42", {"email": "a@x.io", "created_at": 1700000000, "plan": "pro"}),
        "PUT",
        "/api/v1/customers/{identifier}",
        "/api/v1/customers/42",
        {"email": "a@x.io", "created_at": 1700000000, "plan": "pro"},
    ),
    ("delete", lambda c: c.delete("42"), "DELETE", "", "/api/v1/customers/42", None),
    (
        "event",
        lambda c: c.track(
            "42", "purchase", data={"price": 23.45}, id="01J0000000000000000000000A", timestamp=5
        ),
        "POST",
        "/api/v1/customers/{identifier}/events",
        "/api/v1/customers/42/events",
        {
            "name": "purchase",
            "id": "01J0000000000000000000000A",
            "timestamp": 5,
            "data": {"price": 23.45},
        },
    ),
    (
        "event minimal",
        lambda c: c.track("42", "signup"),
        "POST",
        "/api/v1/customers/{identifier}/events",
        "/api/v1/customers/42/events",
        {"name": "signup"},
    ),
    (
        "page view",
        lambda c: c.track("42", "https://x.io/a", type="page"),
        "POST",
        "/api/v1/customers/{identifier}/events",
        "/api/v1/customers/42/events",
        {"name": "https://x.io/a", "type": "page"},
    ),
    (
        "anonymous event",
        lambda c: c.track_anonymous(
            "viewed", anonymous_id="anon-1", data={"x": 1}, id="01J0000000000000000000000B"
        ),
        "POST",
        "/api/v1/events",
        "/api/v1/events",
        {
            "name": "viewed",
            "anonymous_id": "anon-1",
            "id": "01J0000000000000000000000B",
            "data": {"x": 1},
        },
    ),
    (
        "add device",
        lambda c: c.add_device(
            "42", "tok-1", "ios", last_used=1700000000, attributes={"app_version": "1.2"}
        ),
        "PUT",
        "/api/v1/customers/{identifier}/devices",
        "/api/v1/customers/42/devices",
        {
            "device": {
                "id": "tok-1",
                "platform": "ios",
                "last_used": 1700000000,
                "attributes": {"app_version": "1.2"},
            }
        },
    ),
    (
        "delete device",
        lambda c: c.delete_device("42", "tok-1"),
        "DELETE",
        "",
        "/api/v1/customers/42/devices/tok-1",
        None,
    ),
    ("suppress", lambda c: c.suppress("42"), "POST", "", "/api/v1/customers/42/suppress", None),
    (
        "unsuppress",
        lambda c: c.unsuppress("42"),
        "POST",
        "",
        "/api/v1/customers/42/unsuppress",
        None,
    ),
    (
        "merge",
        lambda c: c.merge_customers({"email": "a@x.io"}, {"id": "7"}),
        "POST",
        "/api/v1/merge_customers",
        "/api/v1/merge_customers",
        {"primary": {"email": "a@x.io"}, "secondary": {"id": "7"}},
    ),
    (
        "v2 entity",
        lambda c: c.entity(
            {
                "type": "person",
                "identifiers": {"id": "42"},
                "action": "identify",
                "attributes": {"a": 1},
            }
        ),
        "POST",
        "/api/v2/entity",
        "/api/v2/entity",
        {
            "type": "person",
            "identifiers": {"id": "42"},
            "action": "identify",
            "attributes": {"a": 1},
        },
    ),
    (
        "v2 batch",
        lambda c: c.batch(
            [
                {
                    "type": "person",
                    "identifiers": {"id": "42"},
                    "action": "identify",
                    "attributes": {"a": 1},
                },
                {
                    "type": "person",
                    "identifiers": {"email": "b@x.io"},
                    "action": "event",
                    "name": "purchase",
                    "id": "01J0000000000000000000000C",
                    "attributes": {"price": 3},
                },
                {
                    "type": "person",
                    "identifiers": {"id": "42"},
                    "action": "add_device",
                    "device": {"token": "tok-1", "platform": "android"},
                },
            ]
        ),
        "POST",
        "/api/v2/batch",
        "/api/v2/batch",
        {
            "batch": [
                {
                    "type": "person",
                    "identifiers": {"id": "42"},
                    "action": "identify",
                    "attributes": {"a": 1},
                },
                {
                    "type": "person",
                    "identifiers": {"email": "b@x.io"},
                    "action": "event",
                    "name": "purchase",
                    "id": "01J0000000000000000000000C",
                    "attributes": {"price": 3},
                },
                {
                    "type": "person",
                    "identifiers": {"id": "42"},
                    "action": "add_device",
                    "device": {"token": "tok-1", "platform": "android"},
                },
            ]
        },
    ),
    ("region", lambda c: c.region(), "GET", "", "/api/v1/accounts/region", None),
]


@pytest.mark.parametrize(
    ("call", "method", "spec_path", "url_path", "body"),
    [op[1:] for op in OPERATIONS],
    ids=[op[0] for op in OPERATIONS],
)
def test_operation_request(
    client: TrackClient,
    recorder: Recorder,
    spec: dict[str, Any],
    call: Callable[[TrackClient], Outcome],
    method: str,
    spec_path: str,
    url_path: str,
    body: object,
) -> None:
    outcome = call(client)
    assert isinstance(outcome, Success)
    request = recorder.last
    assert (request.method, request.url.raw_path.decode()) == (method, url_path)
    if body is None:
        assert request.content == b""
        assert "Content-Type" not in request.headers
        return
    assert request.headers["Content-Type"] == "application/json"
    assert request.content == encode_json(body)  # compact, nothing added or dropped
    assert b", " not in request.content and b": " not in request.content
    if spec_path == "/api/v1/merge_customers":
        # The spec's oneOf branches for each side lack `required`, so every one-key object
        # matches all three and oneOf always fails: check the documented shape by hand.
        assert isinstance(body, dict)
        for side in (body["primary"], body["secondary"]):
            assert len(side) == 1 and set(side) <= {"id", "email", "cio_id"}
    elif spec_path:
        _validate(spec, method, spec_path, body)


@pytest.mark.parametrize(
    ("call", "raw_path"),
    [
        (lambda c: c.identify("a/b c@x", {}), "/api/v1/customers/a%2Fb%20c%40x"),
        (lambda c: c.delete("cio_0a1b?#%"), "/api/v1/customers/cio_0a1b%3F%23%25"),
        (lambda c: c.track("ü/1", "e"), "/api/v1/customers/%C3%BC%2F1/events"),
        (
            lambda c: c.delete_device("a/b c@x", "tok/1 +2"),
            "/api/v1/customers/a%2Fb%20c%40x/devices/tok%2F1%20%2B2",
        ),
        # dot-segments would be removed by URL normalisation: /api/v1/suppress
        (lambda c: c.suppress(".."), "/api/v1/customers/%2E%2E/suppress"),
        (lambda c: c.delete("."), "/api/v1/customers/%2E"),
        (lambda c: c.delete("..."), "/api/v1/customers/..."),
    ],
)
def test_identifiers_are_url_encoded(
    client: TrackClient,
    recorder: Recorder,
    call: Callable[[TrackClient], Outcome],
    raw_path: str,
) -> None:
    call(client)
    assert recorder.last.url.raw_path.decode() == raw_path


def test_unicode_is_sent_as_utf8_not_escaped(client: TrackClient, recorder: Recorder) -> None:
    client.identify("1", {"name": "Zoë"})
    assert recorder.last.content == '{"name":"Zoë"}'.encode()


def test_unencodable_values_raise_before_sending(client: TrackClient, recorder: Recorder) -> None:
    with pytest.raises(ValueError):
        client.identify("1", {"score": float("nan")})
    assert recorder.requests == []


# -- outcomes through the client --------------------------------------------------------------


def _answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    return lambda _request: httpx.Response(status, content=body, headers=headers)


def _raise(exc: Exception) -> Handler:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("respond", "expected_type", "fields"),
    [
        (_answer(200, b'{"region":"us"}'), Success, {"status": 200, "body": {"region": "us"}}),
        (
            _answer(
                207, b'{"errors":[{"batch_index":0,"reason":"invalid","field":"f","message":"m"}]}'
            ),
            Partial,
            {"status": 207},
        ),
        (_answer(429, headers={"Retry-After": "9"}), RateLimited, {"retry_after_s": 9.0}),
        (_answer(429), RateLimited, {"retry_after_s": None}),
        (_answer(408), Transient, {"status": 408, "sent": True}),
        (_answer(503, b"busy"), Transient, {"status": 503, "sent": True}),
        (
            _answer(400, b'{"errors":[{"reason":"too_big","field":"batch"}]}'),
            Permanent,
            {"status": 400},
        ),
        (_answer(302, headers={"Location": "https://elsewhere"}), Permanent, {"status": 302}),
        (_raise(httpx.ConnectError("refused")), Transient, {"status": None, "sent": False}),
        (_raise(httpx.ConnectTimeout("slow")), Transient, {"sent": False}),
        (_raise(httpx.PoolTimeout("pool")), Transient, {"sent": False}),
        (_raise(httpx.ReadTimeout("slow")), Ambiguous, {}),
        (_raise(httpx.ReadError("reset")), Ambiguous, {}),
        (_raise(httpx.RemoteProtocolError("Server disconnected")), Ambiguous, {}),
    ],
)
def test_outcomes_through_the_client(
    respond: Handler, expected_type: type, fields: dict[str, object]
) -> None:
    recorder = Recorder(respond)
    with TrackClient(SETTINGS, transport=httpx.MockTransport(recorder)) as track:
        outcome = track.batch([{"type": "person", "identifiers": {"id": "1"}, "action": "delete"}])
    assert isinstance(outcome, expected_type)
    for name, value in fields.items():
        assert getattr(outcome, name) == value
    assert outcome.latency_s >= 0
    assert len(recorder.requests) == 1  # never retried, never redirected


@pytest.mark.parametrize(
    "respond",
    [
        _answer(400, b'{"meta":{"errors":["bad attribute"]}}'),
        _answer(401),
        _answer(413, b"request entity too large"),
        _answer(500, b"internal error"),
        _answer(429),
        _raise(httpx.ReadTimeout("timed out")),
        _raise(httpx.ConnectError("refused")),
    ],
)
def test_error_texts_hold_no_request_body_or_credentials(respond: Handler) -> None:
    with TrackClient(SETTINGS, transport=httpx.MockTransport(Recorder(respond))) as track:
        outcome = track.identify("p@x.io", {"ssn": "PII-123-45", "note": "private words"})
    text = repr(outcome)
    for secret in ("PII-123-45", "private words", "track-key", "app-key", "c2l0ZSAxOnRyYWNrLWtleQ"):
        assert secret not in text


def test_server_echo_of_a_key_is_redacted() -> None:
    respond = _answer(400, b'{"meta":{"error":"key track-key is not valid for app-key"}}')
    with TrackClient(SETTINGS, transport=httpx.MockTransport(Recorder(respond))) as track:
        outcome = track.region()
    assert outcome == Permanent(
        400, "key [redacted] is not valid for [redacted]", outcome.latency_s
    )


def test_401_names_the_track_credentials() -> None:
    with TrackClient(SETTINGS, transport=httpx.MockTransport(Recorder(_answer(401)))) as track:
        outcome = track.identify("1", {})
    assert isinstance(outcome, Permanent)
    assert outcome.message == (
        "Track API rejected CUSTOMERIO_SITE_ID/CUSTOMERIO_API_KEY (Basic auth). "
        "The App API key (CUSTOMERIO_APP_API_KEY) does not work here."
    )


def test_region_with_another_key_uses_that_key(client: TrackClient, recorder: Recorder) -> None:
    client.region(api_key="other")
    expected = base64.b64encode(b"site 1:other").decode()
    assert recorder.last.headers["Authorization"] == f"Basic {expected}"
    assert recorder.last.headers["User-Agent"].startswith("cio-pipeline/")
