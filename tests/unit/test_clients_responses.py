"""The pure mapping from an HTTP answer or an httpx exception to an Outcome (tables)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest

from cio_pipeline.worker.clients.outcomes import (
    Ambiguous,
    BatchItemError,
    Outcome,
    Partial,
    Permanent,
    RateLimited,
    Success,
    Transient,
)
from cio_pipeline.worker.clients.responses import (
    MAX_MESSAGE_CHARS,
    Api,
    error_message,
    outcome_from_exception,
    outcome_from_response,
    parse_retry_after,
)

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def _map(status: int, body: object = b"", headers: dict[str, str] | None = None) -> Outcome:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return outcome_from_response(status, headers or {}, raw, api="track", now=NOW)


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b"", Success(200, {})),
        (200, b"{}", Success(200, {})),
        (
            200,
            {"delivery_id": "d1", "queued_at": 5},
            Success(200, {"delivery_id": "d1", "queued_at": 5}),
        ),
        (201, b"not json", Success(201, {})),
        (204, b"", Success(204, {})),
        (200, [1, 2], Success(200, {})),
    ],
)
def test_2xx_is_success_with_the_parsed_body(status: int, body: object, expected: Outcome) -> None:
    assert _map(status, body) == expected


def test_207_lists_the_rejected_batch_items() -> None:
    body = {
        "errors": [
            {"batch_index": 1, "reason": "invalid", "field": "identifiers", "message": "bad id"},
            {"batch_index": 3, "reason": "too_long"},
            {"batch_index": "7", "reason": "not an int index: skipped"},
            "junk",
        ]
    }
    assert _map(207, body) == Partial(
        errors=(
            BatchItemError(1, "invalid", "identifiers", "bad id"),
            BatchItemError(3, "too_long", "", ""),
        )
    )


@pytest.mark.parametrize("body", [b"", b"<html>", {"errors": None}, {"other": 1}])
def test_207_without_readable_errors_is_an_empty_partial(body: object) -> None:
    assert _map(207, body) == Partial(errors=())


@pytest.mark.parametrize(
    ("headers", "retry_after_s"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "0"}, 0.0),
        ({"RETRY-AFTER": " 12 "}, 12.0),
        ({"Retry-After": "Sun, 29 Nov 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "-3"}, None),
    ],
)
def test_429_is_rate_limited_with_retry_after(
    headers: dict[str, str], retry_after_s: float | None
) -> None:
    assert _map(429, b"", headers) == RateLimited(retry_after_s=retry_after_s)


def test_429_reads_retry_after_from_httpx_headers() -> None:
    outcome = outcome_from_response(
        429, httpx.Headers({"Retry-After": "3"}), b"", api="app", now=NOW
    )
    assert outcome == RateLimited(3.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("1.5", 1.5),
        ("nan", None),
        ("inf", None),
        ("Sun, 29 Nov 2026 12:01:00 GMT", 60.0),
        ("Sun, 29 Nov 2026 11:00:00 GMT", 0.0),  # in the past: go now
        ("Sunday, 29-Nov-26 12:00:10 GMT", 10.0),  # obsolete RFC 850 form
        ("29 Nov 2026", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == expected


@pytest.mark.parametrize("status", [408, 500, 502, 503, 504, 599])
def test_408_and_5xx_are_transient_with_the_status(status: int) -> None:
    outcome = _map(status, b"")
    assert isinstance(outcome, Transient)
    assert (outcome.status, outcome.sent) == (status, True)
    assert outcome.reason == f"HTTP {status}"


def test_5xx_reason_includes_a_capped_server_text() -> None:
    outcome = _map(502, b"<html><body>Bad gateway</body></html>" + b"x" * 5000)
    assert isinstance(outcome, Transient)
    assert outcome.reason.startswith("HTTP 502: <html><body>Bad gateway")
    assert len(outcome.reason) <= MAX_MESSAGE_CHARS + len("HTTP 502: ")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"meta": {"errors": ["attribute too long", "bad name"]}}, "attribute too long; bad name"),
        ({"meta": {"error": "primary person not found"}}, "primary person not found"),
        (
            {"errors": [{"reason": "required", "field": "identifiers", "message": "missing id"}]},
            "identifiers: required: missing id",
        ),
        ({"errors": [{"reason": "invalid"}, "plain"]}, "invalid; plain"),
        ({"error": "nope"}, "nope"),
        (b"plain text\n  error", "plain text error"),
        (b"", "HTTP 400"),
        ({"meta": {}}, '{"meta": {}}'),
    ],
)
def test_4xx_is_permanent_with_customerio_message(body: object, message: str) -> None:
    assert _map(400, body) == Permanent(400, message)


@pytest.mark.parametrize("status", [404, 409, 413, 422])
def test_other_4xx_are_permanent(status: int) -> None:
    assert _map(status, {"meta": {"error": "x"}}) == Permanent(status, "x")


@pytest.mark.parametrize(
    ("api", "names", "other"),
    [
        ("track", "CUSTOMERIO_SITE_ID/CUSTOMERIO_API_KEY (Basic auth)", "CUSTOMERIO_APP_API_KEY"),
        ("app", "CUSTOMERIO_APP_API_KEY (Bearer)", "the Track API key (CUSTOMERIO_API_KEY)"),
    ],
)
@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_name_the_credential_and_the_api(
    api: Api, names: str, other: str, status: int
) -> None:
    outcome = outcome_from_response(status, {}, b"", api=api)
    assert isinstance(outcome, Permanent)
    assert outcome.status == status
    api_name = "Track API" if api == "track" else "App API"
    assert outcome.message.startswith(f"{api_name} rejected {names}.")
    assert other.lower() in outcome.message.lower()
    assert "does not work here" in outcome.message


def test_auth_failure_appends_customerio_message() -> None:
    outcome = outcome_from_response(401, {}, b'{"meta":{"error":"Unauthorized"}}', api="app")
    assert isinstance(outcome, Permanent)
    assert outcome.message.endswith("Customer.io said: Unauthorized")


def test_redirect_is_permanent_and_names_the_location() -> None:
    outcome = _map(301, b"", {"Location": "https://track.customer.io/api/v1/x"})
    assert outcome == Permanent(
        301, "unexpected redirect to https://track.customer.io/api/v1/x: check the base URL"
    )


def test_error_texts_are_capped() -> None:
    message = error_message(json.dumps({"meta": {"error": "e" * 10_000}}).encode())
    assert len(message) == MAX_MESSAGE_CHARS
    assert message.endswith("…")


def test_secrets_echoed_by_a_server_are_redacted() -> None:
    body = b'{"meta":{"errors":["bad key s3cret-key for site 42"]}}'
    outcome = outcome_from_response(400, {}, body, api="track", secrets=["s3cret-key", ""])
    assert outcome == Permanent(400, "bad key [redacted] for site 42")


def _request() -> httpx.Request:
    return httpx.Request("POST", "https://track.customer.io/api/v2/batch")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("[Errno 111] Connection refused", request=_request()),
        httpx.ConnectTimeout("timed out", request=_request()),
        httpx.PoolTimeout("no connection available", request=_request()),
        httpx.ProxyError("proxy said no", request=_request()),
        httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
        httpx.LocalProtocolError("Illegal header value"),
        httpx.InvalidURL("Invalid port"),
    ],
)
def test_failures_before_sending_are_transient_not_sent(exc: Exception) -> None:
    outcome = outcome_from_exception(exc, latency_s=0.25)
    assert isinstance(outcome, Transient)
    assert (outcome.sent, outcome.status, outcome.latency_s) == (False, None, 0.25)
    assert type(exc).__name__ in outcome.reason
    assert outcome.reason.startswith("not sent: ")


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out", request=_request()),
        httpx.WriteTimeout("timed out", request=_request()),
        httpx.ReadError("[Errno 104] Connection reset by peer", request=_request()),
        httpx.WriteError("[Errno 32] Broken pipe", request=_request()),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.CloseError("close failed"),
        httpx.DecodingError("bad gzip"),
        httpx.TooManyRedirects("loop", request=_request()),
    ],
)
def test_failures_after_sending_are_ambiguous(exc: Exception) -> None:
    outcome = outcome_from_exception(exc)
    assert isinstance(outcome, Ambiguous)
    assert type(exc).__name__ in outcome.reason
