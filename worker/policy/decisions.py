"""What the worker does after one HTTP attempt: the whole decision table, in one place.

:func:`classify` is a pure function of the outcome (:mod:`cio_pipeline.worker.clients.outcomes`) and
the kind of work; the Track and transactional paths only carry its decisions out::

    outcome                     Work.TRACK (a batch request)     Work.SEND (one send)
    Success                     DELIVERED                        DELIVERED
    Partial (207)               PARTIAL                          PARTIAL
    RateLimited (429)           RETRY                            RETRY
    Permanent 401/403           HOLD                             DEAD
    Permanent 400/413           SPLIT (more than one op),        DEAD
                                else DEAD
    Permanent, other 4xx        DEAD                             DEAD
    Transient, not sent         RETRY                            RETRY
    Transient 408/503           RETRY                            RETRY
    Transient 500/502/504,      RETRY                            AMBIGUOUS (RETRY when
      other 5xx, Ambiguous                                         CIO_SEND_AT_LEAST_ONCE=1)

Why the Track column differs:

- Track operations are idempotent (identify) or de-duplicated (events carry ULIDs), so every
  transient failure is retried, ambiguous ones included.
- A 401/403 says the Track credentials are wrong, not that these operations are: dead-lettering
  would empty every partition into the dead-letter queue (and replays would land behind newer
  work). HOLD retries with backoff, logged loudly, until the key is fixed or the attempts run
  out.
- A whole-request 400/413 may be caused by one poison operation among many: SPLIT delivers the
  halves, first half first, until the poison is alone and dead-lettered.

For a send (invariant I, never e-mailed twice because of us) only a failure after which
Customer.io certainly did not act is retried: the request never left this process, 429, 503,
or 408 (the server had not received the whole request, RFC 9110 15.5.9).
"""

from __future__ import annotations

import enum

from cio_pipeline.worker.clients.outcomes import (
    Ambiguous,
    Outcome,
    Partial,
    Permanent,
    RateLimited,
    Success,
    Transient,
)

__all__ = ["CREDENTIAL_STATUSES", "NOT_ACTED_ON_STATUSES", "Decision", "Work", "classify"]

#: Statuses after which Customer.io certainly did not act on a (non-idempotent) request.
NOT_ACTED_ON_STATUSES = frozenset({408, 429, 503})
#: Answers that mean "fix the credentials", not "this operation is bad".
CREDENTIAL_STATUSES = frozenset({401, 403})
#: Whole-request rejections that one bad operation in a batch can cause.
_SPLITTABLE_STATUSES = frozenset({400, 413})


class Work(enum.Enum):
    """The kind of work an outcome belongs to (the table's columns)."""

    TRACK = "track"
    """A Track request: idempotent or de-duplicated operations, batched."""
    SEND = "send"
    """A transactional send: not idempotent, never batched."""


class Decision(enum.Enum):
    """What the worker does after one attempt."""

    DELIVERED = "delivered"
    """Customer.io accepted it: finish the job(s)."""
    PARTIAL = "partial"
    """207: dead-letter the listed batch items, finish the rest."""
    RETRY = "retry"
    """Try again after the backoff (unless giving up says otherwise)."""
    HOLD = "hold"
    """Track credentials rejected: keep the batch, retry after the backoff, log an error."""
    SPLIT = "split"
    """A whole Track request refused: deliver its halves separately, first half first."""
    DEAD = "dead"
    """Retrying cannot help: dead-letter with Customer.io's status and message."""
    AMBIGUOUS = "ambiguous"
    """A send may have been acted on: dead-letter as ``ambiguous``, never retry."""


def classify(
    outcome: Outcome, work: Work, *, operations: int = 1, at_least_once: bool = False
) -> Decision:
    """The decision for ``outcome`` of ``work`` (see the module's table).

    ``operations`` is how many operations the request carried (a Track batch can be split
    only when it holds more than one); ``at_least_once`` (``CIO_SEND_AT_LEAST_ONCE``) lets a
    send be retried after an ambiguous failure, accepting a possible duplicate.
    """
    if isinstance(outcome, Success):
        return Decision.DELIVERED
    if isinstance(outcome, Partial):
        return Decision.PARTIAL
    if isinstance(outcome, RateLimited):
        return Decision.RETRY
    if isinstance(outcome, Permanent):
        return _permanent(outcome.status, work, operations)
    if work is Work.TRACK or at_least_once or _certainly_not_acted_on(outcome):
        return Decision.RETRY
    return Decision.AMBIGUOUS


def _permanent(status: int, work: Work, operations: int) -> Decision:
    if work is Work.TRACK and status in CREDENTIAL_STATUSES:
        return Decision.HOLD
    if work is Work.TRACK and status in _SPLITTABLE_STATUSES and operations > 1:
        return Decision.SPLIT
    return Decision.DEAD


def _certainly_not_acted_on(outcome: Transient | Ambiguous) -> bool:
    if isinstance(outcome, Ambiguous):
        return False
    return not outcome.sent or outcome.status in NOT_ACTED_ON_STATUSES
