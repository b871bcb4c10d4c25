"""The demo's reporting-webhook loop: bounce and complain, suppress, skip a guarded send.

Before the workload, the emulator is told what two receipt recipients do
(:data:`PLANNED_OUTCOMES`: the first bounces, the second marks the receipt as spam). Every
accepted send then makes the emulator post signed ``sent``/``delivered`` (or ``bounced``,
``spammed``) webhooks to the receiver, which enqueues them for the workers, which record the
suppressions. Once those are in, one more receipt goes to the bounced address with
``skip_if_suppressed=True``: a worker must finish it as skipped, with the reason, and
Customer.io must never see it.

:func:`read_loop` reads where that stands: the emulator's webhook counters (an event the
receiver answered 2xx was received: verified and enqueued) and the workers' counters and
suppressions in Redis.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import redis
from rq import Queue

from cio_pipeline.devtools.demo.workload import email_address, user_id
from cio_pipeline.producer import APIClient, SendEmailRequest
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.webhooks.store import SuppressionStore

__all__ = [
    "GUARDED_KEY",
    "PLANNED_OUTCOMES",
    "GuardedSend",
    "LoopFailed",
    "LoopState",
    "guarded_outcome",
    "plan_outcomes",
    "read_loop",
    "send_guarded",
]

#: What the emulator does with receipts to these addresses (the workload sends receipts to
#: the first people, so both always get one).
PLANNED_OUTCOMES: Final = {email_address(0): "bounced", email_address(1): "spammed"}
#: The idempotency key of the guarded send.
GUARDED_KEY: Final = "demo-guarded-receipt"
_COUNTERS: Final = (
    "webhooks_processed",
    "webhooks_duplicate",
    "webhooks_failed",
    "sends_skipped_suppressed",
)


class LoopFailed(RuntimeError):
    """The emulator refused a control call of the webhook loop."""


def plan_outcomes(control: httpx.Client) -> None:
    """Tell the emulator which recipients bounce and complain (raises :class:`LoopFailed`)."""
    for address, outcome in PLANNED_OUTCOMES.items():
        response = control.post(
            "/_emulator/webhooks/outcomes", json={"address": address, "outcome": outcome}
        )
        if response.status_code != 200:
            raise LoopFailed(f"the emulator refused a webhook outcome: HTTP {response.status_code}")


@dataclass(frozen=True)
class LoopState:
    """Where the webhook loop stands."""

    received: int
    """Events the receiver accepted (verified and enqueued)."""
    waiting_at_emulator: int
    """Events the emulator has yet to deliver."""
    processed: int
    duplicates: int
    failed: int
    skipped_sends: int
    suppressed: dict[str, str] = field(default_factory=dict)
    """Reason in force per suppressed e-mail address."""

    @property
    def suppressions(self) -> Counter[str]:
        """Suppressed addresses per reason."""
        return Counter(self.suppressed.values())

    @property
    def settled(self) -> bool:
        """Every event sent was received and processed, and the planned suppressions hold."""
        return (
            self.received > 0
            and self.waiting_at_emulator == 0
            and self.processed + self.duplicates + self.failed == self.received
            and all(self.suppressed.get(a) == o for a, o in PLANNED_OUTCOMES.items())
        )


def read_loop(connection: redis.Redis, keys: Keys, control: httpx.Client) -> LoopState:
    """Read the emulator's webhook counters and the workers' counters and suppressions."""
    sent: dict[str, Any] = control.get("/_emulator/webhooks").json()
    values = connection.hmget(keys.counters, list(_COUNTERS))
    counts = dict(zip(_COUNTERS, (int(v or 0) for v in values), strict=True))
    suppressed = {
        s.subject.removeprefix("email:"): s.reason
        for s in reversed(SuppressionStore(connection, keys).list())
        if s.subject.startswith("email:")
    }  # reversed: the most serious one wins
    return LoopState(
        received=int(sent["delivered"]),
        waiting_at_emulator=int(sent["queued"]),
        processed=counts["webhooks_processed"],
        duplicates=counts["webhooks_duplicate"],
        failed=counts["webhooks_failed"],
        skipped_sends=counts["sends_skipped_suppressed"],
        suppressed=suppressed,
    )


@dataclass(frozen=True)
class GuardedSend:
    """The guarded receipt to the bounced address: its job id and, once finished, its
    result (``{"skipped": True, "reason": "bounced"}`` when it went as planned)."""

    job_id: str
    address: str
    result: dict[str, Any] | None = None

    @property
    def skipped_as_planned(self) -> bool:
        """A worker skipped it for the reason recorded from the bounce webhook."""
        return self.result == {"skipped": True, "reason": PLANNED_OUTCOMES[self.address]}


def send_guarded(api: APIClient) -> GuardedSend:
    """Send one more receipt to the bounced address, with ``skip_if_suppressed=True``."""
    address = email_address(0)
    request = SendEmailRequest(
        transactional_message_id=1,
        to=address,
        identifiers={"id": user_id(0)},
        message_data={"order": 999},
    )
    job_id = api.send_email(request, idempotency_key=GUARDED_KEY, skip_if_suppressed=True)
    return GuardedSend(job_id, address)


def guarded_outcome(connection: redis.Redis, keys: Keys, send: GuardedSend) -> GuardedSend:
    """``send`` with its result once a worker finished it (as it was otherwise)."""
    queue = Queue(keys.transactional_queue, connection=connection, serializer=SafeSerializer)
    job = queue.fetch_job(send.job_id)
    if job is None or job.get_status() not in ("finished", "failed"):
        return send
    value = job.return_value()
    return GuardedSend(
        send.job_id,
        send.address,
        value if isinstance(value, dict) else {"status": job.get_status()},
    )
