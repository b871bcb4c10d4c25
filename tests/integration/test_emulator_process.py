"""The emulator as a real process on a loopback port, driven by a plain httpx client.

No Redis needed. One emulator serves the module (reset before each test); tests that need
other start-up options start their own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from ulid import ULID

from cio_pipeline.devtools.emulator_process import (
    EmulatorHandle,
    EmulatorStartError,
    running_emulator,
)

EMAIL = {"transactional_message_id": 7, "to": "jane@example.com", "identifiers": {"id": "42"}}


@pytest.fixture
def track(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, auth=emu.track_auth, timeout=5.0) as client:
        yield client


@pytest.fixture
def app(emu: EmulatorHandle) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.url, headers=emu.app_headers, timeout=5.0) as client:
        yield client


def op(action: str, who: str = "42", **fields: Any) -> dict[str, Any]:
    return {"type": "person", "identifiers": {"id": who}, "action": action, **fields}


def test_listens_on_the_port_the_os_chose(emu: EmulatorHandle) -> None:
    port = urlsplit(emu.url).port
    assert port and port != 8025
    assert httpx.get(f"{emu.url}/_emulator/health", timeout=5).json() == {"ok": True}


def test_every_track_operation_is_accepted_and_visible(
    emu: EmulatorHandle, track: httpx.Client
) -> None:
    eid, anon_id = str(ULID()), str(ULID())
    calls = [
        ("PUT", "/api/v1/customers/jane%40example.com", {"plan": "pro"}),
        ("POST", "/api/v1/customers/jane%40example.com/events", {"name": "buy", "id": eid}),
        ("POST", "/api/v1/events", {"name": "visit", "anonymous_id": "a1", "id": anon_id}),
        ("PUT", "/api/v1/customers/cio_77/devices", {"device": {"id": "d", "platform": "ios"}}),
        ("DELETE", "/api/v1/customers/cio_77/devices/d", None),
        ("POST", "/api/v1/customers/s%40x.co/suppress", None),
        ("POST", "/api/v1/customers/u%40x.co/unsuppress", None),
        ("PUT", "/api/v1/customers/old", {"legacy": "yes"}),
        (
            "POST",
            "/api/v1/merge_customers",
            {"primary": {"email": "jane@example.com"}, "secondary": {"id": "old"}},
        ),
        ("PUT", "/api/v1/customers/tmp", {}),
        ("DELETE", "/api/v1/customers/tmp", None),
        ("POST", "/api/v2/entity", op("identify", attributes={"a": 1})),
        (
            "POST",
            "/api/v2/batch",
            {
                "batch": [
                    op("event", name="e", id=str(ULID())),
                    op("page", name="/p"),
                    op("screen", name="s"),
                    op("add_device", device={"token": "t", "platform": "ios"}),
                    op("suppress", "z"),
                    {
                        "type": "person",
                        "action": "merge",
                        "primary": {"id": "42"},
                        "secondary": {"id": "9"},
                    },
                ]
            },
        ),
    ]
    for method, path, body in calls:
        response = track.request(method, path, json=body)
        assert (response.status_code, response.json()) == (200, {}), (method, path)
    state = emu.state()
    assert state["people"]["jane@example.com"]["attributes"] == {"plan": "pro", "legacy": "yes"}
    assert "old" not in state["people"] and "tmp" not in state["people"]
    assert {e["name"] for e in state["events"]} == {"buy", "visit", "e", "/p", "s"}
    assert state["devices"]["42"] == {"t": {"platform": "ios", "last_used": None, "attributes": {}}}
    assert state["suppressions"] == ["s@x.co", "z"]
    assert len(state["merges"]) == 2
    assert [r["status"] for r in emu.requests("track")] == [200] * len(calls)


def test_every_send_kind_is_accepted_and_visible(emu: EmulatorHandle, app: httpx.Client) -> None:
    kinds = ["email", "push", "sms", "in_app", "inbox_message", "whatsapp"]
    ids = [app.post(f"/v1/send/{k}", json=EMAIL).json()["delivery_id"] for k in kinds]
    assert len(set(ids)) == len(kinds)
    assert [(s["kind"], s["delivery_id"]) for s in emu.state()["sends"]] == list(
        zip(kinds, ids, strict=True)
    )
    assert app.get("/v1/transactional").json() == {"messages": []}


def test_wrong_keys_get_a_bare_401(emu: EmulatorHandle) -> None:
    wrong_track = httpx.put(f"{emu.url}/api/v1/customers/1", json={}, auth=(emu.site_id, "x"))
    track_key_on_app = httpx.get(
        f"{emu.url}/v1/transactional", headers={"Authorization": f"Bearer {emu.api_key}"}
    )
    app_key_on_track = httpx.get(f"{emu.url}/api/v1/accounts/region", headers=emu.app_headers)
    for response in (wrong_track, track_key_on_app, app_key_on_track):
        assert (response.status_code, response.content) == (401, b"")


def test_oversize_batch_is_413(track: httpx.Client) -> None:
    batch = [op("identify", str(i), attributes={"pad": "x" * 1000}) for i in range(520)]
    response = track.post("/api/v2/batch", content=json.dumps({"batch": batch}))
    assert response.status_code == 413


def test_bad_timestamp_and_ulid_are_rejected(emu: EmulatorHandle, track: httpx.Client) -> None:
    v1 = track.post("/api/v1/customers/42/events", json={"name": "a", "timestamp": "1700000000"})
    assert v1.status_code == 400 and "timestamp" in v1.json()["meta"]["errors"][0]
    v1_ulid = track.post("/api/v1/customers/42/events", json={"name": "a", "id": "123"})
    assert v1_ulid.status_code == 400
    v2 = track.post(
        "/api/v2/batch",
        json={
            "batch": [
                op("event", name="a", timestamp=1.5),
                op("event", name="b", id="x"),
                op("identify"),
            ]
        },
    )
    assert v2.status_code == 207
    assert [(e["batch_index"], e["field"]) for e in v2.json()["errors"]] == [
        (0, "timestamp"),
        (1, "id"),
    ]
    assert emu.state()["events"] == [] and "42" in emu.state()["people"]


@pytest.mark.parametrize("status", [500, 503])
def test_error_status_faults(emu: EmulatorHandle, track: httpx.Client, status: int) -> None:
    emu.fail_next(1, status=status)
    assert track.get("/api/v1/accounts/region").status_code == status
    assert track.get("/api/v1/accounts/region").status_code == 200


def test_random_faults_are_repeatable_with_a_seed(emu: EmulatorHandle, track: httpx.Client) -> None:
    def run() -> list[int]:
        emu.set_faults(seed=42, track={"error_rate": 0.5, "error_statuses": [500, 503]})
        return [track.get("/api/v1/accounts/region").status_code for _ in range(20)]

    first = run()
    assert first == run() and {500, 503, 200} == set(first)


def test_429_fault_has_retry_after(emu: EmulatorHandle, app: httpx.Client) -> None:
    emu.fail_next(1, surface="app", fault="rate_limit")
    response = app.post("/v1/send/email", json=EMAIL)
    assert (response.status_code, response.headers.get("retry-after")) == (429, "1")
    assert emu.state()["sends"] == []


def test_hang_is_a_read_timeout(emu: EmulatorHandle, track: httpx.Client) -> None:
    emu.set_faults(track={"hang_s": 30, "next": [{"fault": "hang"}]})
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        track.put("/api/v1/customers/42", json={"a": "b"}, timeout=httpx.Timeout(5, read=0.3))
    assert time.monotonic() - started < 5
    # the client gave up before the emulator answered: nothing was applied
    (entry,) = emu.requests()
    assert (entry["fault"], entry["status"]) == ("hang", None)
    assert emu.state()["people"] == {}


def test_reset_is_a_connection_error_and_changes_nothing(
    emu: EmulatorHandle, app: httpx.Client
) -> None:
    emu.fail_next(1, surface="app", fault="reset")
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        app.post("/v1/send/email", json=EMAIL)
    assert emu.state()["sends"] == []
    assert app.post("/v1/send/email", json=EMAIL).status_code == 200  # server still fine


@pytest.mark.parametrize("mode", ["reset", "hang"])
def test_lost_answer_still_sends(emu: EmulatorHandle, app: httpx.Client, mode: str) -> None:
    emu.set_faults(app={"lost_mode": mode, "hang_s": 30, "next": [{"fault": "lost"}]})
    with pytest.raises(httpx.TransportError):  # ReadError / RemoteProtocolError / ReadTimeout
        app.post("/v1/send/email", json=EMAIL, timeout=httpx.Timeout(5, read=0.5))
    (send,) = emu.state()["sends"]
    assert send["request"] == EMAIL
    assert emu.requests("app")[0]["fault"] == "lost"


def test_wait_for_state(emu: EmulatorHandle, track: httpx.Client) -> None:
    track.put("/api/v1/customers/w", json={"a": "b"})
    assert "w" in emu.wait_for(lambda s: "w" in s["people"], timeout_s=5)["people"]
    with pytest.raises(TimeoutError):
        emu.wait_for(lambda s: False, timeout_s=0.1)


def test_rate_limit_with_and_without_retry_after() -> None:
    for retry_after in (True, False):
        with running_emulator(track_rate=3, retry_after=retry_after) as emu:
            with httpx.Client(base_url=emu.url, auth=emu.track_auth, timeout=5) as client:
                responses = [client.get("/api/v1/accounts/region") for _ in range(6)]
            limited = [r for r in responses if r.status_code == 429]
            assert limited, "a burst of 6 must exceed 3 requests/s"
            assert all(("retry-after" in r.headers) is retry_after for r in limited)
            assert [e["status"] for e in emu.requests()].count(429) == len(limited)


def test_start_up_faults_and_credentials() -> None:
    with running_emulator(
        site_id="s",
        api_key="k",
        app_api_key="a",
        region="eu",
        faults={"track": {"next": [{"status": 502}]}},
    ) as emu:
        region = f"{emu.url}/api/v1/accounts/region"
        assert httpx.get(region, auth=("s", "k")).status_code == 502
        assert httpx.get(region, auth=("s", "k")).json()["region"] == "eu"
        assert emu.worker_env()["CUSTOMERIO_TRACK_URL"] == emu.url


def test_the_cio_pipeline_command_serves_it() -> None:
    with running_emulator(via_cli=True) as emu:
        assert httpx.get(f"{emu.url}/v1/transactional", headers=emu.app_headers).status_code == 200


def test_a_bad_option_fails_fast() -> None:
    with (
        pytest.raises(EmulatorStartError, match="exited"),
        running_emulator(extra_args=["--track-error-rate", "7"], start_timeout_s=20),
    ):
        pass
