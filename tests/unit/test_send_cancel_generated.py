"""Cancel against the worker's claim, by generation (Hypothesis): any interleaving of cancels,
claims by several jobs of one key, their outcomes and a person's resends keeps the contract
of ``cio-pipeline sends cancel`` (fakeredis[lua], the real scripts)."""

from __future__ import annotations

import fakeredis
from hypothesis import given, settings
from hypothesis import strategies as st

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import CancelResult, cancel_send, queue_send
from cio_pipeline.worker.transactional.records import ClaimResult, DeliveryRecords

KEYS = Keys()
TTL_S = 600
JOBS = ("job-1", "job-2", "job-3")  # a send and two repeats with the same idempotency key

Step = tuple[str, str]
steps = st.lists(
    st.one_of(
        st.just(("cancel", "")),
        st.just(("resend", "")),
        st.tuples(st.just("claim"), st.sampled_from(JOBS)),
        st.tuples(
            st.sampled_from(["delivered", "retry", "ambiguous", "refused"]),
            st.sampled_from(JOBS),
        ),
    ),
    max_size=25,
)


@settings(max_examples=80, deadline=None)
@given(steps)
def test_a_send_is_claimed_or_cancelled_never_both(script: list[Step]) -> None:
    client = fakeredis.FakeRedis()
    records = DeliveryRecords(client, KEYS, TTL_S)
    queue_send(client, KEYS, "k", JOBS[0], TTL_S)
    holder: str | None = None  # the job whose claim is pending (it is sending now)
    went_out = False  # a request may have reached Customer.io
    delivered = 0
    cancelled = False
    for action, job in script:
        if action == "cancel":
            outcome = cancel_send(client, KEYS, "k", TTL_S)
            if outcome.result is CancelResult.CANCELLED:
                # only a send with no request out and none in flight
                assert holder is None and not went_out
                cancelled = True
            else:
                assert not cancelled  # a cancelled send stays cancelled
                assert outcome.result is not CancelResult.UNKNOWN
        elif action == "resend":
            # `dlq replay --resend-ambiguous`: a person decided the request did not go out
            if records.clear_for_resend("k"):
                holder, went_out = None, False
        elif action == "claim":
            claim = records.claim("k", job)
            if cancelled:
                assert claim.result is ClaimResult.CANCELLED  # never sent after a cancel
            if claim.result is ClaimResult.CLAIMED:
                assert holder is None and not cancelled  # one sender at a time
                holder = job
        elif holder == job:  # the outcome of the holder's request
            went_out = went_out or action in ("delivered", "ambiguous")
            if action == "delivered":
                delivered += 1
                records.delivered("k", f"d-{delivered}")
            elif action == "ambiguous":
                records.ambiguous("k", job)
            else:  # certainly not acted on (retry), or refused: handed back
                records.release("k", job)
            holder = None
    assert delivered <= 1 or not cancelled
