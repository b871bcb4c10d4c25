"""A send's record as a state machine, on fakeredis[lua]: every state x cancel / claim /
release, the producer's queued record, and the history a send leaves
(producer/send_records.py, producer/send_status.py, worker/transactional/records.py)."""

from __future__ import annotations

import json
import time

import fakeredis
import pytest

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import (
    HISTORY_MAX,
    CancelResult,
    DeliveryRecord,
    DeliveryState,
    cancel_send,
    history_entry,
    queue_send,
)
from cio_pipeline.producer.send_status import recent_sends, send_status
from cio_pipeline.worker.transactional.records import ClaimResult, DeliveryRecords

KEYS = Keys()
TTL_S = 600

#: Each state a record can be in before the operation (None: no record), as stored.
STATES = {
    "none": None,
    "queued": "queued:job-1",
    "pending-own": "pending:job-1",
    "pending-other": "pending:job-2",
    "ambiguous": "ambiguous:job-1",
    "delivered": "delivered:d-1",
    "cancelled": "cancelled:job-1",
}


def _redis(stored: str | None) -> fakeredis.FakeRedis:
    client = fakeredis.FakeRedis()
    if stored is not None:
        client.set(KEYS.delivery_record("k"), stored, px=TTL_S * 1000)
    return client


def _record(client: fakeredis.FakeRedis) -> str | None:
    raw = client.get(KEYS.delivery_record("k"))
    return None if raw is None else raw.decode()


# ---- every state x cancel ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "result", "after"),
    [
        ("none", CancelResult.UNKNOWN, None),
        ("queued", CancelResult.CANCELLED, "cancelled:job-1"),
        ("pending-own", CancelResult.IN_FLIGHT, "pending:job-1"),
        ("pending-other", CancelResult.IN_FLIGHT, "pending:job-2"),
        ("ambiguous", CancelResult.AMBIGUOUS, "ambiguous:job-1"),
        ("delivered", CancelResult.DELIVERED, "delivered:d-1"),
        ("cancelled", CancelResult.CANCELLED, "cancelled:job-1"),
    ],
)
def test_cancel_in_every_state(state: str, result: CancelResult, after: str | None) -> None:
    client = _redis(STATES[state])
    outcome = cancel_send(client, KEYS, "k", TTL_S)
    assert outcome.result is result
    assert _record(client) == after
    if result is CancelResult.DELIVERED:
        assert outcome.delivery_id == "d-1"
        assert "d-1" in outcome.message
    if state == "cancelled":
        assert outcome.already and outcome.message == "already cancelled"
    if state == "queued":
        assert not outcome.already
        assert client.pttl(KEYS.delivery_record("k")) > 0  # kept as long as records are


# ---- every state x claim -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "result", "after"),
    [
        ("none", ClaimResult.CLAIMED, "pending:job-1"),
        ("queued", ClaimResult.CLAIMED, "pending:job-1"),
        ("pending-own", ClaimResult.OWN_ATTEMPT, "pending:job-1"),
        ("pending-other", ClaimResult.OTHER_JOB, "pending:job-2"),
        ("ambiguous", ClaimResult.OWN_ATTEMPT, "ambiguous:job-1"),
        ("delivered", ClaimResult.DELIVERED, "delivered:d-1"),
        ("cancelled", ClaimResult.CANCELLED, "cancelled:job-1"),
    ],
)
def test_claim_in_every_state(state: str, result: ClaimResult, after: str) -> None:
    client = _redis(STATES[state])
    claim = DeliveryRecords(client, KEYS, TTL_S).claim("k", "job-1")
    assert claim.result is result
    assert _record(client) == after


def test_a_queued_record_is_claimed_by_any_job_of_its_key() -> None:
    client = _redis("queued:job-1")
    assert DeliveryRecords(client, KEYS, TTL_S).claim("k", "job-7").result is ClaimResult.CLAIMED
    assert _record(client) == "pending:job-7"


def test_a_cancelled_record_is_refused_even_in_at_least_once_mode() -> None:
    client = _redis("cancelled:job-1")
    claim = DeliveryRecords(client, KEYS, TTL_S).claim("k", "job-1", override_own=True)
    assert claim.result is ClaimResult.CANCELLED
    assert _record(client) == "cancelled:job-1"


# ---- every state x release (job-1 hands back its claim) ------------------------------------


@pytest.mark.parametrize(
    ("state", "after"),
    [
        ("none", None),
        ("queued", "queued:job-1"),
        ("pending-own", "queued:job-1"),
        ("pending-other", "pending:job-2"),
        ("ambiguous", "ambiguous:job-1"),
        ("delivered", "delivered:d-1"),
        ("cancelled", "cancelled:job-1"),
    ],
)
def test_release_in_every_state(state: str, after: str | None) -> None:
    client = _redis(STATES[state])
    DeliveryRecords(client, KEYS, TTL_S).release("k", "job-1", history_entry("attempt"))
    assert _record(client) == after
    assert client.llen(KEYS.send_history("k")) == 1  # the attempt is noted whatever the state


@pytest.mark.parametrize(
    ("state", "handed_back", "after"),
    [
        ("none", False, None),
        ("queued", False, "queued:job-1"),
        ("pending-own", True, "queued:job-1"),
        ("pending-other", True, "queued:job-2"),
        ("ambiguous", True, "queued:job-1"),
        ("delivered", False, "delivered:d-1"),
        ("cancelled", False, "cancelled:job-1"),
    ],
)
def test_resend_hands_back_only_sends_whose_outcome_is_unknown(
    state: str, handed_back: bool, after: str | None
) -> None:
    client = _redis(STATES[state])
    assert DeliveryRecords(client, KEYS, TTL_S).clear_for_resend("k") is handed_back
    assert _record(client) == after  # still cancellable until a worker claims it again


# ---- the producer's queued record ------------------------------------------------------------


def test_queue_send_creates_the_record_once_and_never_overwrites() -> None:
    client = fakeredis.FakeRedis()
    assert queue_send(client, KEYS, "k", "job-1", TTL_S) is True
    assert _record(client) == "queued:job-1"
    assert queue_send(client, KEYS, "k", "job-2", TTL_S) is False  # a repeat send
    assert _record(client) == "queued:job-1"
    client.set(KEYS.delivery_record("k"), "cancelled:job-1")
    assert queue_send(client, KEYS, "k", "job-3", TTL_S) is False
    assert _record(client) == "cancelled:job-1"
    status = send_status(client, KEYS, "k")
    assert status is not None
    assert [e["job_id"] for e in status.history if e["event"] == "queued"] == [
        "job-1",
        "job-2",
        "job-3",
    ]
    assert 0 < client.pttl(KEYS.send_history("k")) <= TTL_S * 1000


def test_history_is_bounded() -> None:
    client = fakeredis.FakeRedis()
    for n in range(HISTORY_MAX + 20):
        queue_send(client, KEYS, "k", f"job-{n}", TTL_S)
    assert client.llen(KEYS.send_history("k")) == HISTORY_MAX


def test_unknown_send_has_no_status() -> None:
    assert send_status(fakeredis.FakeRedis(), KEYS, "nope") is None


def test_the_life_of_a_send_with_its_webhooks() -> None:
    client = fakeredis.FakeRedis()
    records = DeliveryRecords(client, KEYS, TTL_S)
    queue_send(client, KEYS, "k", "job-1", TTL_S)
    records.claim("k", "job-1")
    records.release("k", "job-1", history_entry("attempt", attempt=1, outcome="retry"))
    assert send_status(client, KEYS, "k").state == "retrying"  # type: ignore[union-attr]
    records.claim("k", "job-1")
    assert send_status(client, KEYS, "k").state == "pending"  # type: ignore[union-attr]
    sent = history_entry("sent", attempt=2, outcome="delivered", delivery_id="d-1")
    records.delivered("k", "d-1", entry=sent)
    assert client.get(KEYS.delivery_send("d-1")) == b"k"
    opened = history_entry("opened", 200, metric="opened", event_id="e2")
    assert records.add_delivery_event("d-1", history_entry("x", 100, metric="delivered"))
    assert records.add_delivery_event("d-1", opened)
    assert records.add_delivery_event("d-1", opened)  # a retried webhook job: shown once
    assert not records.add_delivery_event("someone-elses", opened)  # not our send: not kept
    assert not client.exists(KEYS.delivery_events("someone-elses"))

    status = send_status(client, KEYS, "k")
    assert status is not None
    document = status.to_json()
    assert (document["state"], document["delivery_id"]) == ("delivered", "d-1")
    assert [a["outcome"] for a in document["attempts"]] == ["retry", "delivered"]
    assert [(e["metric"], e["at"]) for e in document["events"]] == [
        ("delivered", 100),
        ("opened", 200),
    ]
    assert [e["event"] for e in document["history"]] == ["queued", "attempt", "sent"]
    json.dumps(document)  # --json prints it as is


@pytest.mark.parametrize(
    ("last", "state"),
    [
        (history_entry("skipped", reason="bounced"), "skipped"),
        (history_entry("attempt", outcome="dead"), "dead"),
        (history_entry("attempt", outcome="retry"), "retrying"),
    ],
    ids=["skipped", "dead", "retry"],  # the entries hold times: stable ids for pytest-xdist
)
def test_a_queued_record_shows_what_happened_last(last: str, state: str) -> None:
    client = fakeredis.FakeRedis()
    queue_send(client, KEYS, "k", "job-1", TTL_S)
    DeliveryRecords(client, KEYS, TTL_S).note("k", last)
    assert send_status(client, KEYS, "k").state == state  # type: ignore[union-attr]


def test_recent_sends_by_state_and_age() -> None:
    client = fakeredis.FakeRedis()
    for key in ("a", "b", "c"):
        queue_send(client, KEYS, key, f"job-{key}", TTL_S)
    cancel_send(client, KEYS, "b", TTL_S)
    DeliveryRecords(client, KEYS, TTL_S).delivered("c", "d-c")
    now = time.time()
    everything = recent_sends(client, KEYS, since_s=60, now_s=now)
    assert {(s.idempotency_key, s.state, s.delivery_id) for s in everything} == {
        ("a", "queued", None),
        ("b", "cancelled", None),
        ("c", "delivered", "d-c"),
    }
    cancelled = recent_sends(client, KEYS, since_s=60, now_s=now, state="cancelled")
    assert [s.idempotency_key for s in cancelled] == ["b"]
    assert recent_sends(client, KEYS, since_s=60, now_s=now + 3600) == []  # all older


def test_the_recent_sends_set_is_trimmed_to_the_retention() -> None:
    client = fakeredis.FakeRedis()
    client.zadd(KEYS.sends, {"ancient": (time.time() - 2 * TTL_S) * 1000})
    queue_send(client, KEYS, "new", "job-1", TTL_S)
    assert [m.decode() for m in client.zrange(KEYS.sends, 0, -1)] == ["new"]


def test_the_stored_form_is_shared() -> None:
    for stored in ("queued:j", "cancelled:j", "delivered:a:b"):
        assert str(DeliveryRecord.parse(stored)) == stored
    assert DeliveryRecord.parse(b"cancelled:j").state is DeliveryState.CANCELLED


def test_recent_sends_are_read_in_pages() -> None:
    client = fakeredis.FakeRedis()
    for n in range(600):  # more than one page of 500
        queue_send(client, KEYS, f"s{n}", f"job-{n}", TTL_S)
        if n % 100 == 0:
            cancel_send(client, KEYS, f"s{n}", TTL_S)
    now = time.time() + 1
    assert len(recent_sends(client, KEYS, since_s=600, now_s=now, limit=5000)) == 600
    assert len(recent_sends(client, KEYS, since_s=600, now_s=now, limit=7)) == 7
    cancelled = recent_sends(client, KEYS, since_s=600, now_s=now, state="cancelled")
    assert sorted(s.idempotency_key for s in cancelled) == sorted(
        f"s{n}" for n in range(0, 600, 100)
    )
