"""The suppression store against hostile input (issue 18, item 6), on fakeredis[lua]:
implausible event times are refused, stored data the code did not write never crashes a
reader, and ``remove`` removes or says why not."""

from __future__ import annotations

import time
from typing import Any

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rq.job import Job
from test_suppressions import Parts

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.producer.suppressions import DAMAGED, is_suppressed, timestamp_problem
from cio_pipeline.worker.deadletters.record import DeadLetter
from cio_pipeline.worker.webhooks.process import process_event
from cio_pipeline.worker.webhooks.store import Removal, SuppressionStore

KEYS = Keys()
NOW = int(time.time())


def _bounce(ts: int, event_id: str = "e1") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "object_type": "email",
        "metric": "bounced",
        "timestamp": ts,
        "data": {"recipient": "ann@example.com", "identifiers": {"id": "42"}},
    }


@pytest.mark.parametrize(
    "ts",
    [NOW * 1000, 10**30, NOW + 2 * 86_400, 0, 946_684_799],
    ids=["milliseconds", "10**30", "two-days-ahead", "zero", "1999-12-31"],  # stable for xdist
)
def test_a_webhook_with_an_implausible_time_is_dead_lettered_not_applied(ts: int) -> None:
    parts = Parts()
    event = _bounce(ts)
    job = Job.create(
        "cio_pipeline.worker.jobs.process_webhook",
        args=(event,),
        connection=parts.connection,
        serializer=SafeSerializer,
    )
    job.save()
    refused = r"not applied: timestamp \d+ is .*\(unix seconds expected\)"
    with pytest.raises(DeadLetter, match=refused):
        process_event(parts, job, event)
    assert is_suppressed(parts.connection, KEYS, "ann@example.com") is None
    assert parts.connection.keys("cio:suppression*") == []
    assert parts.seen == []  # the hook never saw it


@given(st.integers(min_value=-(10**40), max_value=10**40))
@settings(max_examples=300, deadline=None)
def test_the_plausible_range_is_2000_to_a_day_ahead(ts: int) -> None:
    problem = timestamp_problem(ts, now=NOW)
    assert (problem is None) == (946_684_800 <= ts <= NOW + 86_400)


def test_the_store_refuses_a_time_more_than_a_day_ahead() -> None:
    store = SuppressionStore(fakeredis.FakeRedis(), KEYS)
    now = int(time.time())  # not NOW: collection may be minutes before this test runs
    for at in (now * 1000, now + 86_400 + 60, -1):
        with pytest.raises(ValidationError, match="at"):
            store.add("ann@example.com", "bounced", at=at)
    assert store.list() == []


@pytest.mark.parametrize(
    ("stored", "why"),
    [
        (b"1733000000000 ev-ms", "not unix seconds"),  # milliseconds, by older code
        (b"99999999999 ev", "in the future"),
        (b"99999999999999999999 ev", "not unix seconds"),
        (b"garbage", "not unix seconds"),
        (b"\xff\xfe 1", "not UTF-8"),
        (b"", "not unix seconds"),
    ],
    ids=["milliseconds", "future", "too-long", "garbage", "not-utf8", "empty"],
)
def test_a_damaged_field_shows_as_damaged_counts_as_suppressed_and_remove_clears_it(
    stored: bytes, why: str
) -> None:
    fake = fakeredis.FakeRedis()
    store = SuppressionStore(fake, KEYS)
    store.add("bob@example.com", "manual")
    fake.hset(KEYS.suppression("email:ann@example.com"), "bounced", stored)
    fake.zadd(KEYS.suppressions, {"email:ann@example.com": 10**30})
    (shown,) = store.show("ann@example.com")
    assert (shown.reason, shown.at) == ("bounced", 0)
    assert shown.damaged is not None and why in shown.damaged
    listed = {s.subject: s for s in store.list()}
    assert set(listed) == {"email:ann@example.com", "email:bob@example.com"}
    assert listed["email:bob@example.com"].damaged is None
    assert is_suppressed(fake, KEYS, "ann@example.com") == "bounced"  # in doubt: do not send

    result = store.remove("ann@example.com")
    assert (result.outcome, result.remaining) == (Removal.REMOVED, [])
    assert store.show("ann@example.com") == []
    assert [s.subject for s in store.list()] == ["email:bob@example.com"]


def test_a_subject_key_that_is_not_a_hash_is_damaged_and_a_change_replaces_it() -> None:
    fake = fakeredis.FakeRedis()
    store = SuppressionStore(fake, KEYS)
    fake.set(KEYS.suppression("email:ann@example.com"), "written by hand")
    fake.zadd(KEYS.suppressions, {"email:ann@example.com": 1, b"\xff\xfe": 2})
    (shown,) = store.show("ann@example.com")
    assert (shown.reason, shown.damaged) == (DAMAGED, "the stored record is not a hash")
    assert {s.damaged for s in store.list()} == {
        "the stored record is not a hash",
        "the subject is not UTF-8",
    }
    assert is_suppressed(fake, KEYS, "ann@example.com") == DAMAGED
    assert store.remove("ann@example.com").outcome is Removal.REMOVED
    assert store.show("ann@example.com") == []


def test_remove_of_an_address_never_suppressed_writes_nothing() -> None:
    fake = fakeredis.FakeRedis()
    result = SuppressionStore(fake, KEYS).remove("never-seen@example.com")
    assert (result.outcome, result.remaining) == (Removal.NOT_SUPPRESSED, [])
    assert fake.keys("*") == []


def test_remove_says_when_a_newer_change_keeps_the_suppression() -> None:
    store = SuppressionStore(fakeredis.FakeRedis(), KEYS)
    store.add("ann@example.com", "bounced", at=NOW + 600)  # clocks differ: within the day
    result = store.remove("ann@example.com", at=NOW)
    assert result.outcome is Removal.KEPT
    assert [s.reason for s in result.remaining] == ["bounced"]
    assert store.show("ann@example.com")[0].reason == "bounced"


def test_an_index_that_is_not_a_sorted_set_lists_as_damaged() -> None:
    fake = fakeredis.FakeRedis()
    fake.set(KEYS.suppressions, "by hand")
    (entry,) = SuppressionStore(fake, KEYS).list()
    assert (entry.reason, entry.damaged) == (
        DAMAGED,
        "the index of suppressions is not a sorted set",
    )
