"""Delivery records on fakeredis[lua] (worker/transactional/records.py): the one owner of the
record's stored form, and its atomic operations."""

from __future__ import annotations

import fakeredis
import pytest

from cio_pipeline.producer.keys import Keys
from cio_pipeline.worker.transactional.records import (
    ClaimResult,
    DeliveryRecord,
    DeliveryRecords,
    DeliveryState,
)


@pytest.fixture
def records() -> DeliveryRecords:
    return DeliveryRecords(fakeredis.FakeRedis(), Keys(), ttl_s=60)


@pytest.mark.parametrize(
    "stored", ["pending:job-1", "ambiguous:job-1", "delivered:d-9", "delivered:with:colons"]
)
def test_the_stored_form_round_trips(stored: str) -> None:
    assert str(DeliveryRecord.parse(stored)) == stored


def test_claim_then_deliver_then_a_duplicate_finds_it(records: DeliveryRecords) -> None:
    assert records.claim("k", "job-1").result is ClaimResult.CLAIMED
    assert records.get("k") == DeliveryRecord(DeliveryState.PENDING, "job-1")
    records.delivered("k", "d-1")
    claim = records.claim("k", "job-2")
    assert (claim.result, claim.delivery_id) == (ClaimResult.DELIVERED, "d-1")


def test_own_and_other_claims_are_told_apart(records: DeliveryRecords) -> None:
    records.claim("k", "job-1")
    own = records.claim("k", "job-1")
    assert (own.result, own.state) == (ClaimResult.OWN_ATTEMPT, DeliveryState.PENDING)
    other = records.claim("k", "job-2")
    assert (other.result, other.state, other.owner) == (
        ClaimResult.OTHER_JOB,
        DeliveryState.PENDING,
        "job-1",
    )


def test_a_claim_run_again_with_its_own_token_is_still_claimed() -> None:
    """The client runs a script again when its reply was lost (a failover): the same token
    is the same claim, so nothing was sent in between; another token is an earlier attempt."""
    from cio_pipeline.worker.transactional.records import _CLAIM

    client, keys = fakeredis.FakeRedis(), Keys()
    claim_keys = [keys.delivery_record("k"), keys.erased_jobs, keys.send_claim("k")]

    def run(token: str) -> list[bytes]:
        return list(_CLAIM(client, keys=claim_keys, args=["job-1", 60_000, "0", token]))

    assert run("t1") == [b"claimed"]
    assert run("t1") == [b"claimed"]  # the same call, its reply lost: claimed again
    assert run("t2") == [b"self", b"pending"]  # a later attempt: outcome unknown
    client.set(keys.delivery_record("k"), "ambiguous:job-1")
    assert run("t1") == [b"self", b"ambiguous"]  # only a pending record is recognised


def test_release_hands_back_only_this_jobs_pending_claim(records: DeliveryRecords) -> None:
    records.claim("k", "job-1")
    records.release("k", "job-2")  # not its claim
    assert records.get("k") == DeliveryRecord(DeliveryState.PENDING, "job-1")
    records.ambiguous("k", "job-1")
    records.release("k", "job-1")  # not pending any more
    assert records.get("k") == DeliveryRecord(DeliveryState.AMBIGUOUS, "job-1")
    records.claim("j", "job-3")
    records.release("j", "job-3")
    assert records.get("j") == DeliveryRecord(DeliveryState.QUEUED, "job-3")
    assert records.claim("j", "job-4").result is ClaimResult.CLAIMED  # its retry, or a twin


def test_clear_for_resend_never_drops_a_delivered_record(records: DeliveryRecords) -> None:
    records.claim("k", "job-1")
    records.ambiguous("k", "job-1")
    assert records.clear_for_resend("k") is True
    assert records.get("k") == DeliveryRecord(DeliveryState.QUEUED, "job-1")
    records.delivered("d", "d-1")
    assert records.clear_for_resend("d") is False
    assert records.get("d") == DeliveryRecord(DeliveryState.DELIVERED, "d-1")
    assert records.clear_for_resend("missing") is False


def test_a_settled_claim_leaves_no_token_behind(records: DeliveryRecords) -> None:
    client = records._client
    records.claim("k", "job-1")
    assert client.exists(Keys().send_claim("k"))
    records.delivered("k", "d-1")
    records.claim("a", "job-2")
    records.ambiguous("a", "job-2")
    assert not client.exists(Keys().send_claim("k"), Keys().send_claim("a"))
