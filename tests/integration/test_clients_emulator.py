"""TrackClient and AppClient against the emulator as a real process over loopback HTTP.

No Redis needed. One emulator serves the module (reset before each test); tests that need other
start-up options (region, 429 without Retry-After) start their own.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from ulid import ULID

from cio_pipeline.devtools.emulator_process import EmulatorHandle, running_emulator
from cio_pipeline.worker.clients import (
    Ambiguous,
    AppClient,
    Partial,
    Permanent,
    RateLimited,
    Success,
    TrackClient,
    Transient,
)
from cio_pipeline.worker.core.settings import WorkerSettings

#: The clients' read timeout: generous, so an answer a busy machine delays is still an answer
NORMAL_READ_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 0.5  # the hang test's: short, so a "hang" fault outlasts it quickly
HANG_S = 5.0  # the emulator's hang: well past the read timeout, so the outcome is certain


def _settings(emu: EmulatorHandle, **overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "site_id": emu.site_id,
        "api_key": emu.api_key,
        "app_api_key": emu.app_api_key,
        "track_url": emu.url,
        "app_url": emu.url,
        "http_connect_timeout_s": 2.0,
        "http_read_timeout_s": NORMAL_READ_TIMEOUT_S,
        **overrides,
    }
    return WorkerSettings(**values)


@pytest.fixture
def track(emu: EmulatorHandle) -> Iterator[TrackClient]:
    with TrackClient(_settings(emu)) as client:
        yield client


@pytest.fixture
def app(emu: EmulatorHandle) -> Iterator[AppClient]:
    with AppClient(_settings(emu)) as client:
        yield client


def person_op(action: str, who: str = "42", **fields: Any) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": who}, "action": action, **fields}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- every operation accepted and visible ----------------------------------------------------


def test_region(track: TrackClient) -> None:
    outcome = track.region()
    assert isinstance(outcome, Success)
    assert outcome.body["region"] == "us"


def test_v1_person_operations_reach_the_workspace(emu: EmulatorHandle, track: TrackClient) -> None:
    who = "a/b c@x"  # slash, space and @ all survive the path
    # (a device id with "/" is sent as %2F too, but the emulator routes on the decoded path)
    token = "tok 1+x@y"
    assert isinstance(track.identify(who, {"plan": "pro", "created_at": 1700000000}), Success)
    assert isinstance(track.add_device(who, token, "ios", last_used=1700000000), Success)
    state = emu.state()
    assert state["people"][who]["attributes"] == {"plan": "pro", "created_at": 1700000000}
    assert state["devices"][who][token]["platform"] == "ios"

    assert isinstance(track.delete_device(who, token), Success)
    assert emu.state()["devices"].get(who, {}) == {}
    assert isinstance(track.delete(who), Success)
    assert who not in emu.state()["people"]


def test_dot_identifiers_are_not_path_segments(emu: EmulatorHandle, track: TrackClient) -> None:
    assert isinstance(track.identify("..", {"plan": "x"}), Success)
    assert emu.state()["people"][".."]["attributes"] == {"plan": "x"}


def test_events_are_recorded_and_deduplicated(emu: EmulatorHandle, track: TrackClient) -> None:
    event_id, anonymous_id = str(ULID()), str(ULID())
    for _ in range(2):  # a retry with the same ULID
        outcome = track.track("42", "purchase", data={"price": 3}, id=event_id, timestamp=17)
        assert isinstance(outcome, Success)
    assert isinstance(track.track("42", "/home", type="page"), Success)
    assert isinstance(
        track.track_anonymous("viewed", anonymous_id="anon-1", id=anonymous_id), Success
    )
    events = emu.state()["events"]
    assert [(e["person"], e["name"], e["type"]) for e in events] == [
        ("42", "purchase", "event"),
        ("42", "/home", "page"),
        (None, "viewed", "event"),
    ]
    assert events[0]["duplicates"] == 1 and events[0]["data"] == {"price": 3}
    assert events[2]["anonymous_id"] == "anon-1" and events[2]["id"] == anonymous_id


def test_suppress_unsuppress_and_merge(emu: EmulatorHandle, track: TrackClient) -> None:
    assert isinstance(track.suppress("99"), Success)
    assert emu.state()["suppressions"] == ["99"]
    assert isinstance(track.unsuppress("99"), Success)
    assert emu.state()["suppressions"] == []
    track.identify("7", {"a": 1})
    assert isinstance(track.merge_customers({"id": "42"}, {"id": "7"}), Success)
    state = emu.state()
    assert [(m["primary"], m["secondary"]) for m in state["merges"]] == [("42", "7")]
    assert state["people"]["42"]["attributes"] == {"a": 1}


def test_v2_entity_and_batch(emu: EmulatorHandle, track: TrackClient) -> None:
    assert isinstance(track.entity(person_op("identify", attributes={"x": 1})), Success)
    outcome = track.batch(
        [
            person_op("identify", "8", attributes={"y": 2}),
            person_op("event", "8", name="signup", id=str(ULID()), attributes={"via": "web"}),
            person_op("add_device", "8", device={"token": "t8", "platform": "android"}),
        ]
    )
    assert isinstance(outcome, Success)
    state = emu.state()
    assert state["people"]["42"]["attributes"] == {"x": 1}
    assert state["people"]["8"]["attributes"] == {"y": 2}
    assert [(e["person"], e["name"], e["api"]) for e in state["events"]] == [("8", "signup", "v2")]
    assert "t8" in state["devices"]["8"]


@pytest.mark.parametrize("kind", ["email", "push", "sms", "in_app", "inbox_message"])
def test_sends_are_recorded(emu: EmulatorHandle, app: AppClient, kind: str) -> None:
    request: dict[str, Any] = {"transactional_message_id": 3, "identifiers": {"id": "42"}}
    if kind == "email":
        request["to"] = "ann@example.com"
    outcome = app.send(kind, request)  # type: ignore[arg-type]
    assert isinstance(outcome, Success)
    (send,) = emu.state()["sends"]
    assert send["kind"] == kind and send["request"] == request
    assert outcome.body["delivery_id"] == send["delivery_id"]


def test_app_key_check(app: AppClient) -> None:
    assert isinstance(app.check_key(), Success)


# -- rejections --------------------------------------------------------------------------------


def test_wrong_track_key_and_app_key_in_basic_auth(emu: EmulatorHandle) -> None:
    for api_key in ("wrong", emu.app_api_key):
        with TrackClient(_settings(emu, api_key=api_key)) as track:
            outcome = track.identify("42", {"a": 1})
        assert isinstance(outcome, Permanent) and outcome.status == 401
        assert outcome.message.startswith(
            "Track API rejected CUSTOMERIO_SITE_ID/CUSTOMERIO_API_KEY"
        )
    assert emu.state()["people"] == {}


def test_track_key_as_bearer_is_rejected(emu: EmulatorHandle) -> None:
    with AppClient(_settings(emu, app_api_key=emu.api_key)) as app:
        outcome = app.send_email(
            {"transactional_message_id": 1, "to": "a@x.io", "identifiers": {"id": "1"}}
        )
    assert isinstance(outcome, Permanent) and outcome.status == 401
    assert outcome.message.startswith("App API rejected CUSTOMERIO_APP_API_KEY (Bearer)")
    assert emu.state()["sends"] == []


def test_wrong_region_is_reported_by_the_region_endpoint() -> None:
    with running_emulator(region="eu") as emu, TrackClient(_settings(emu)) as track:
        outcome = track.region()
    assert isinstance(outcome, Success)
    assert outcome.body["region"] == "eu"
    assert outcome.body["url"] == "https://track-eu.customer.io"


def test_oversize_requests_are_rejected(emu: EmulatorHandle, track: TrackClient) -> None:
    big = person_op("identify", attributes={"a": "x" * 40_000})
    outcome = track.entity(big)
    assert isinstance(outcome, Permanent) and outcome.status == 413
    many = [person_op("identify", str(i), attributes={"v": "x" * 900}) for i in range(600)]
    outcome = track.batch(many)
    assert isinstance(outcome, Permanent) and outcome.status == 413
    assert emu.state()["people"] == {}


def test_bad_items_of_a_batch_come_back_as_partial(emu: EmulatorHandle, track: TrackClient) -> None:
    outcome = track.batch(
        [
            person_op("identify", "1", attributes={"ok": True}),
            person_op("identify", "2", attributes={"long": "x" * 1001}),
            person_op("event", "3", name="e", id="not-a-ulid"),
        ]
    )
    assert isinstance(outcome, Partial)
    assert [e.batch_index for e in outcome.errors] == [1, 2]
    assert all(e.reason for e in outcome.errors)
    assert list(emu.state()["people"]) == ["1"]


def test_bad_timestamp_and_bad_ulid_are_permanent(emu: EmulatorHandle, track: TrackClient) -> None:
    bad_timestamp = track.track("42", "e", timestamp="yesterday")  # type: ignore[arg-type]
    bad_ulid = track.track("42", "e", id="not-a-ulid")
    assert isinstance(bad_timestamp, Permanent) and bad_timestamp.status == 400
    assert "timestamp" in bad_timestamp.message
    assert isinstance(bad_ulid, Permanent) and bad_ulid.status == 400
    assert "ULID" in bad_ulid.message
    assert emu.state()["events"] == []


# -- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_transient(emu: EmulatorHandle, track: TrackClient, status: int) -> None:
    emu.fail_next(1, status=status)
    outcome = track.identify("42", {"a": 1})
    assert isinstance(outcome, Transient)
    assert (outcome.status, outcome.sent) == (status, True)
    assert isinstance(track.identify("42", {"a": 1}), Success)  # the fault was one request


def test_send_503_is_transient(emu: EmulatorHandle, app: AppClient) -> None:
    emu.fail_next(1, status=503, surface="app")
    outcome = app.send_push({"transactional_message_id": 1, "identifiers": {"id": "1"}})
    assert isinstance(outcome, Transient) and outcome.status == 503
    assert emu.state()["sends"] == []


def test_429_with_retry_after(emu: EmulatorHandle, track: TrackClient) -> None:
    emu.fail_next(1, fault="rate_limit")
    outcome = track.identify("42", {"a": 1})
    assert isinstance(outcome, RateLimited)
    assert outcome.retry_after_s is not None and outcome.retry_after_s >= 0


def test_429_without_retry_after() -> None:
    with running_emulator(retry_after=False) as emu, TrackClient(_settings(emu)) as track:
        emu.fail_next(1, fault="rate_limit")
        outcome = track.identify("42", {"a": 1})
    assert outcome == RateLimited(retry_after_s=None, latency_s=outcome.latency_s)


def test_rate_limit_of_the_emulator_gives_429() -> None:
    with running_emulator(track_rate=1) as emu, TrackClient(_settings(emu)) as track:
        outcomes = [track.delete(str(i)) for i in range(5)]
    assert any(isinstance(o, RateLimited) for o in outcomes)


@pytest.mark.parametrize("surface", ["track", "app"])
def test_hang_past_the_read_timeout_is_ambiguous(emu: EmulatorHandle, surface: str) -> None:
    emu.set_faults({surface: {"next": [{"count": 1, "fault": "hang", "hang_s": HANG_S}]}})
    short = _settings(emu, http_read_timeout_s=READ_TIMEOUT_S)
    if surface == "track":
        with TrackClient(short) as track:
            outcome = track.identify("42", {"a": 1})
    else:
        with AppClient(short) as app:
            outcome = app.send_email(
                {"transactional_message_id": 1, "to": "a@x.io", "identifiers": {"id": "1"}}
            )
    assert isinstance(outcome, Ambiguous)
    assert "ReadTimeout" in outcome.reason
    assert READ_TIMEOUT_S <= outcome.latency_s < HANG_S


def test_reset_after_reading_is_ambiguous(emu: EmulatorHandle, track: TrackClient) -> None:
    emu.fail_next(1, fault="reset")
    outcome = track.batch([person_op("identify", attributes={"a": 1})])
    assert isinstance(outcome, Ambiguous)
    assert isinstance(track.region(), Success)  # the pool recovers with a new connection


def test_lost_answer_is_ambiguous_though_the_send_happened(
    emu: EmulatorHandle, app: AppClient
) -> None:
    emu.fail_next(1, fault="lost", surface="app")
    outcome = app.send_email(
        {"transactional_message_id": 1, "to": "a@x.io", "identifiers": {"id": "1"}}
    )
    assert isinstance(outcome, Ambiguous)
    assert len(emu.state()["sends"]) == 1  # exactly why a send must not be retried blindly


def test_refused_connection_is_transient_not_sent(emu: EmulatorHandle) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    with TrackClient(_settings(emu, track_url=dead)) as track:
        outcome = track.identify("42", {"a": 1})
    with AppClient(_settings(emu, app_url=dead)) as app:
        send = app.send_email(
            {"transactional_message_id": 1, "to": "a@x.io", "identifiers": {"id": "1"}}
        )
    for result in (outcome, send):
        assert isinstance(result, Transient)
        assert (result.sent, result.status) == (False, None)
        assert "ConnectError" in result.reason
