"""The decision table (worker/policy/decisions.py): every (work, outcome) pair the worker acts on.

Columns: a Track request carrying several operations, a Track request carrying one, a send,
and a send with CIO_SEND_AT_LEAST_ONCE=1.
"""

from __future__ import annotations

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
from cio_pipeline.worker.policy.decisions import Decision, Work, classify

D = Decision
RESET = Ambiguous("connection reset after the request was sent")
READ_TIMEOUT = Ambiguous("read timeout")

# outcome, Track batch (> 1 op), Track single op, send, send with at_least_once
TABLE: list[tuple[Outcome, Decision, Decision, Decision, Decision]] = [
    (Success(200, {"delivery_id": "d1"}), D.DELIVERED, D.DELIVERED, D.DELIVERED, D.DELIVERED),
    (Partial((BatchItemError(3, "invalid"),)), D.PARTIAL, D.PARTIAL, D.PARTIAL, D.PARTIAL),
    (RateLimited(), D.RETRY, D.RETRY, D.RETRY, D.RETRY),
    (RateLimited(retry_after_s=7.0), D.RETRY, D.RETRY, D.RETRY, D.RETRY),
    (Transient("connect error", sent=False), D.RETRY, D.RETRY, D.RETRY, D.RETRY),
    (Transient("pool timeout", status=None, sent=False), D.RETRY, D.RETRY, D.RETRY, D.RETRY),
    (Transient("service unavailable", status=503), D.RETRY, D.RETRY, D.RETRY, D.RETRY),
    (Transient("request timeout", status=408), D.RETRY, D.RETRY, D.RETRY, D.RETRY),
    (Transient("internal error", status=500), D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (Transient("bad gateway", status=502), D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (Transient("gateway timeout", status=504), D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (Transient("not implemented", status=501), D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (Transient("insufficient storage", status=507), D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (Transient("lost after sending", sent=True), D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (RESET, D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    (READ_TIMEOUT, D.RETRY, D.RETRY, D.AMBIGUOUS, D.RETRY),
    # Track credentials rejected: hold the batch (the operations are not at fault)
    (Permanent(401, "no"), D.HOLD, D.HOLD, D.DEAD, D.DEAD),
    (Permanent(403, "no"), D.HOLD, D.HOLD, D.DEAD, D.DEAD),
    # a whole Track request refused: split it until the poison operation is alone
    (Permanent(400, "no"), D.SPLIT, D.DEAD, D.DEAD, D.DEAD),
    (Permanent(413, "no"), D.SPLIT, D.DEAD, D.DEAD, D.DEAD),
    *[
        (Permanent(status, "no"), D.DEAD, D.DEAD, D.DEAD, D.DEAD)
        for status in (404, 405, 409, 415, 422, 451)
    ],
]


@pytest.mark.parametrize(("outcome", "batch", "single", "send", "send_alo"), TABLE)
def test_classify(
    outcome: Outcome, batch: Decision, single: Decision, send: Decision, send_alo: Decision
) -> None:
    assert classify(outcome, Work.TRACK, operations=2) is batch
    assert classify(outcome, Work.TRACK, operations=1000) is batch
    assert classify(outcome, Work.TRACK, operations=2, at_least_once=True) is batch
    assert classify(outcome, Work.TRACK, operations=1) is single
    assert classify(outcome, Work.SEND) is send
    assert classify(outcome, Work.SEND, at_least_once=True) is send_alo


def test_the_table_covers_every_decision() -> None:
    seen = {decision for row in TABLE for decision in row[1:]}
    assert seen == set(Decision)
