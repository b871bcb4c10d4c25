"""Erasing a person, on fakeredis[lua]: the producer refuses an erased person's calls with
nothing written, the erase leaves no copy of their data and drops their jobs at the claim,
suppressions survive under a keyed hash, and the audit entry holds no identifier."""

from __future__ import annotations

import os
import time
import zlib
from typing import Any

import fakeredis
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cio_pipeline import PersonErased
from cio_pipeline.producer import APIClient, CustomerIO, SendEmailRequest, Settings
from cio_pipeline.producer.erase import list_erasures
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.marks import EraseKeys, recipient_addresses, send_subjects
from cio_pipeline.worker.core.lua import LuaScript
from cio_pipeline.worker.ops.counters import MINUTE_TTL_S
from cio_pipeline.worker.transactional.records import ClaimResult, DeliveryRecords

SETTINGS = Settings(partitions=4)
KEYS = Keys.of(SETTINGS)
ADDRESS = "Pat.Secret@Example.com"
_CLAIM_BATCH = LuaScript("cio_pipeline.worker.track", "claim_batch.lua")
_MINUTE = 30_000_000  # the minute bucket _claim counts into


def _clients() -> tuple[fakeredis.FakeRedis, CustomerIO, APIClient]:
    fake = fakeredis.FakeRedis()
    return (
        fake,
        CustomerIO(redis=fake, settings=SETTINGS),
        APIClient("k", redis=fake, settings=SETTINGS),
    )


def _send(to: str, person: str = "someone") -> SendEmailRequest:
    return SendEmailRequest(transactional_message_id=1, to=to, identifiers={"id": person})


def _everything(fake: fakeredis.FakeRedis) -> bytes:
    """Every key and value of the database, job data decompressed, as one lower-case blob."""
    parts: list[bytes] = []
    for key in fake.scan_iter(count=1000):
        parts.append(key)
        kind = fake.type(key)
        if kind == b"string":
            parts.append(fake.get(key) or b"")
        elif kind == b"hash":
            for field, value in fake.hgetall(key).items():
                try:
                    value = zlib.decompress(value)
                except zlib.error:
                    pass
                parts += [field, value]
        elif kind == b"list":
            parts += fake.lrange(key, 0, -1)
        elif kind == b"set":
            parts += list(fake.smembers(key))
        elif kind == b"zset":
            parts += fake.zrange(key, 0, -1)
    return b"\n".join(parts).lower()


def test_recipient_addresses_and_send_subjects() -> None:
    assert list(recipient_addresses("a@x.io, Ann <B@Y.io>")) == ["a@x.io", "B@Y.io"]
    payload = {"identifiers": {"id": "7"}, "to": "Ann <B@Y.io>"}
    assert send_subjects(payload) == ["id:7", "email:b@y.io"]


def test_an_erased_person_is_refused_with_nothing_written() -> None:
    fake, cio, api = _clients()
    cio.identify("other", plan="pro")
    report = cio.erase("pat", emails=[ADDRESS], anonymous_ids=["anon-1"])
    before = fake.dbsize()
    calls = [
        lambda: cio.identify("pat", plan="x"),
        lambda: cio.track("pat", "bought"),
        lambda: cio.identify(ADDRESS.upper()),  # an address is matched case-insensitively
        lambda: cio.track_anonymous("anon-1", "visit"),
        lambda: cio.merge_customers("id", "keeper", "id", "pat"),
        lambda: api.send_email(_send(f"Pat <{ADDRESS}>")),
        lambda: api.send_email(_send("other@example.com", person="pat")),
    ]
    for call in calls:
        with pytest.raises(PersonErased) as raised:
            call()
        assert raised.value.erased_ids == raised.value.not_written_ids
        assert "pat" not in str(raised.value).lower()
    assert fake.dbsize() == before
    cio.identify("other", plan="team")  # nobody else is refused
    api.send_email(_send("other@example.com"))
    assert report.pending_job_id is not None


def test_one_erased_person_refuses_the_whole_chunk_of_a_pipeline() -> None:
    fake, cio, _ = _clients()
    cio.erase("pat")
    with pytest.raises(PersonErased) as raised, cio.pipeline() as pipe:
        first = [pipe.identify(f"u{n}") for n in range(3)]
        erased = pipe.identify("pat")
        later = pipe.identify("u9")
    error = raised.value
    assert error.erased_ids == [erased]
    assert set(error.not_written_ids) == {*first, erased, later}
    assert error.written_ids == [] and error.unknown_ids == []
    assert not any(fake.exists(f"rq:job:{i}") for i in [*first, later])


def test_erase_removes_their_jobs_and_leaves_only_the_pending_suppress() -> None:
    fake, cio, api = _clients()
    for n in range(20):
        cio.identify("pat", secret_attr=f"pat-value-{n}")
        cio.track("pat", "viewed", {"secret_attr": "pat-event"})
        cio.identify(f"u{n}", plan="pro")
    cio.add_device("pat", "pat-device-token", "ios")
    pat_send = api.send_email(_send(ADDRESS), idempotency_key="pat-send-1")
    other_send = api.send_email(_send("other@example.com"))
    fake.set(KEYS.delivery_record("pat-send-1"), "pending:x")
    report = cio.erase("pat", emails=[ADDRESS], suppress=True, wait_s=0)
    assert report.dropped_total == 42
    assert report.dropped["track queued"] == 41
    assert report.delivery_records == 1
    blob = _everything(fake)
    assert b"pat-value" not in blob and b"pat-event" not in blob and b"pat-device" not in blob
    assert ADDRESS.lower().encode() not in blob
    assert not fake.exists(f"rq:job:{pat_send}")
    assert fake.exists(f"rq:job:{other_send}")
    # The identifier is left in one place only: the pending suppress.
    holders = [k for k in fake.scan_iter() if b'"pat"' in k or b"pat" in _everything_of(fake, k)]
    assert holders == [f"rq:job:{report.pending_job_id}".encode()]


def _everything_of(fake: fakeredis.FakeRedis, key: bytes) -> bytes:
    if fake.type(key) != b"hash" or not key.startswith(b"rq:job:"):
        return b""
    data = fake.hget(key, "data") or b""
    try:
        return zlib.decompress(data)
    except zlib.error:
        return data


def _claim(fake: fakeredis.FakeRedis, partition: int, n: int = 100) -> list[str]:
    fake.set(KEYS.lease(partition), "w1")
    reply = _CLAIM_BATCH(
        fake,
        keys=[
            KEYS.lease(partition),
            f"rq:queue:{KEYS.track_queue(partition)}",
            KEYS.claimed(partition),
            KEYS.claimed_meta(partition),
            KEYS.erased_jobs,
            KEYS.counters,
            KEYS.counters_minute(_MINUTE),
        ],
        args=["w1", n, MINUTE_TTL_S],
    )
    return [i.decode() for i in reply[2:]]


def test_the_claim_drops_an_erased_persons_queued_and_claimed_jobs() -> None:
    fake, cio, _ = _clients()
    ids = [cio.identify(person) for person in ("pat", "u1", "pat", "u2")]
    partition = 0
    queue = f"rq:queue:{KEYS.track_queue(partition)}"
    # Put all four in one partition, the first two already claimed (a batch retrying).
    for p in range(SETTINGS.partitions):
        fake.delete(f"rq:queue:{KEYS.track_queue(p)}")
    fake.rpush(KEYS.claimed(partition), ids[0], ids[1])
    fake.rpush(queue, ids[2], ids[3])
    fake.sadd(KEYS.erased_jobs, ids[0], ids[2])
    assert _claim(fake, partition) == [ids[1]]  # the retried batch, without the erased job
    fake.delete(KEYS.claimed(partition))
    assert _claim(fake, partition) == [ids[3]]
    assert fake.scard(KEYS.erased_jobs) == 0
    assert int(fake.hget(KEYS.counters, "track_erased") or 0) == 2
    assert int(fake.hget(KEYS.counters_minute(_MINUTE), "track_erased") or 0) == 2


def test_a_head_of_only_erased_jobs_does_not_stall_the_partition() -> None:
    fake = fakeredis.FakeRedis()
    queue = f"rq:queue:{KEYS.track_queue(0)}"
    erased = [f"e{n}" for n in range(30)]
    fake.rpush(queue, *erased, "kept")
    fake.sadd(KEYS.erased_jobs, *erased)
    assert _claim(fake, 0, n=10) == ["kept"]


def test_a_send_of_an_erased_person_is_refused_at_its_claim() -> None:
    fake = fakeredis.FakeRedis()
    records = DeliveryRecords(fake, KEYS)
    fake.sadd(KEYS.erased_jobs, "job-1")
    assert records.claim("key-1", "job-1").result is ClaimResult.ERASED
    assert records.get("key-1") is None
    assert records.claim("key-2", "job-2").result is ClaimResult.CLAIMED


def test_a_suppression_is_kept_under_a_keyed_hash_and_still_matches() -> None:
    fake, cio, api = _clients()
    fake.hset(KEYS.suppression(f"email:{ADDRESS.lower()}"), "bounced", "1700000000 ev1")
    fake.zadd(KEYS.suppressions, {f"email:{ADDRESS.lower()}": 1700000000})
    report = cio.erase("pat", emails=[ADDRESS])
    assert (report.suppressions_removed, report.suppressions_kept) == (1, 1)
    assert ADDRESS.lower().encode() not in _everything(fake)
    assert cio.is_suppressed(ADDRESS) == "bounced"
    assert api.is_suppressed({"email": ADDRESS.upper()}) == "bounced"
    assert cio.is_suppressed({"id": "pat"}) is None  # no --suppress: nothing added for the id
    cio.erase("sam", suppress=True)
    assert cio.is_suppressed({"id": "sam"}) == "manual"


def test_dry_run_writes_nothing_and_the_audit_holds_no_identifier() -> None:
    fake, cio, _ = _clients()
    cio.identify("pat", plan="x")
    EraseKeys(fake, KEYS).load()
    before = {k: fake.type(k) for k in fake.scan_iter()}
    plan = cio.erase("pat", emails=[ADDRESS], dry_run=True)
    assert plan.dropped == {"track queued": 1}
    assert {k: fake.type(k) for k in fake.scan_iter()} == before
    assert list_erasures(fake, KEYS) == []
    cio.erase("pat", emails=[ADDRESS])
    (entry,) = list_erasures(fake, KEYS)
    assert entry["dropped"] == {"track queued": 1} and entry["identifiers"] == {"id": 1, "email": 1}
    text = fake.lindex(KEYS.erasures, 0) or b""
    assert b"pat" not in text.lower() and b"example" not in text.lower()


def test_a_producer_whose_erase_key_was_lost_reloads_it() -> None:
    fake, cio, _ = _clients()
    cio.identify("u1")
    fake.flushdb()  # the erase key is gone with everything else
    cio.erase("pat")  # a new key, and a marker made with it
    with pytest.raises(PersonErased):
        cio.identify("pat")  # refused although this client had cached the old key
    cio.identify("u1")


people = st.sampled_from(["pat", "u1", "u2", "pat@example.com", "u3@example.com"])
ops: Any = st.lists(
    st.tuples(people, st.sampled_from(["identify", "event", "device"])), max_size=40
)


@settings(max_examples=40, deadline=None)
@given(ops)
def test_erase_drops_exactly_the_persons_jobs(operations: list[tuple[str, str]]) -> None:
    fake, cio, _ = _clients()
    ids: dict[str, str] = {}
    for person, kind in operations:
        if kind == "identify":
            job = cio.identify(person, n=1)
        elif kind == "event":
            job = cio.track(person, "e")
        else:
            job = cio.add_device(person, "tok", "ios")
        ids[job] = person
    report = cio.erase("pat", emails=["PAT@example.com"])
    mine = {j for j, person in ids.items() if person in ("pat", "pat@example.com")}
    assert report.dropped_total == len(mine)
    for job, person in ids.items():
        assert fake.exists(f"rq:job:{job}") == (job not in mine), person


def test_the_command_exits_2_on_bad_arguments_and_unreachable_redis(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from cio_pipeline.worker.cli import main

    for name in [n for n in os.environ if n.startswith(("CIO_", "REDIS_URL"))]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("CIO_REDIS_TIMEOUT_S", "0.2")
    assert main(["erase"]) == 2  # neither CUSTOMER_ID nor --list
    assert main(["erase", "pat", "--list"]) == 2
    assert main(["erase", "pat", "--email", "not-an-address"]) == 2
    assert main(["erase", "pat", "--email", ADDRESS]) == 2  # nothing listens on port 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and ADDRESS not in err and "pat" not in err.replace("path", "")
    assert all(line.startswith("cio-pipeline erase: ") for line in err.splitlines())


def test_webhook_events_that_mention_the_person_are_removed() -> None:
    from cio_pipeline.producer.jobs import Enqueuer, JobSpec
    from cio_pipeline.worker.core.allowed_jobs import WEBHOOK_FUNC

    fake, cio, _ = _clients()
    enqueuer = Enqueuer(fake, 1.0, KEYS)

    def event(address: str) -> str:
        raw = {
            "event_id": f"ev-{address}",
            "object_type": "email",
            "metric": "opened",
            "timestamp": 1700000000,
            "data": {"identifiers": {"email": address}, "recipient": address},
        }
        return enqueuer.enqueue(JobSpec(WEBHOOK_FUNC, raw, KEYS.webhooks_queue, "cio webhook"))

    theirs, other = event(ADDRESS.lower()), event("other@example.com")
    report = cio.erase("pat", emails=[ADDRESS])
    assert report.dropped == {f"{KEYS.webhooks_queue} queued": 1}
    assert not fake.exists(f"rq:job:{theirs}")
    assert fake.lrange(f"rq:queue:{KEYS.webhooks_queue}", 0, -1) == [other.encode()]


def test_skip_if_suppressed_still_sees_a_suppression_kept_under_its_hash() -> None:
    from cio_pipeline.worker.transactional.suppressed import suppression_reason

    fake, cio, _ = _clients()
    subject = f"email:{ADDRESS.lower()}"
    fake.hset(KEYS.suppression(subject), "spammed", "1700000000 ev1")
    cio.erase("pat", emails=[ADDRESS])
    request = {"to": f"Pat <{ADDRESS}>", "identifiers": {"id": "someone"}}
    assert suppression_reason(fake, KEYS, request) == "spammed"
    assert suppression_reason(fake, KEYS, {"to": "x@example.com"}) is None


def test_a_retrying_batch_is_not_waited_for_and_is_dropped_at_its_next_attempt() -> None:
    from cio_pipeline.producer.ids import partition_for

    fake, cio, _ = _clients()
    partition = partition_for("id", "pat", SETTINGS.partitions)
    queue = f"rq:queue:{KEYS.track_queue(partition)}"
    theirs = cio.identify("pat", secret_attr="x")
    fake.lrem(queue, 1, theirs)
    fake.rpush(KEYS.claimed(partition), theirs)  # claimed, then a 503: backing off
    fake.set(KEYS.partition_pause(partition), "503", px=300_000)
    started = time.monotonic()
    report = cio.erase("pat", wait_s=30)
    assert time.monotonic() - started < 5
    assert report.in_flight == 0
    assert report.dropped == {"track retrying (dropped at its next attempt)": 1}
    assert not fake.exists(f"rq:job:{theirs}")
    fake.delete(KEYS.partition_pause(partition))
    assert theirs not in _claim(fake, partition)
