"""The demo's cancel and erase, made deterministic by holding the workers (RQ's suspension).

Once the workload is delivered: the workers are suspended (they take no new job, Track
draining holds too); a reminder send with a known idempotency key is enqueued and cancelled
(it must be ``cancelled`` and never reach the emulator); a few operations are enqueued for
another person, who is then erased (those operations must be dropped, and the erase's Track
``delete`` must reach the emulator once the workers resume).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis
from rq.suspension import resume, suspend

from cio_pipeline.devtools.demo.progress import count_jobs
from cio_pipeline.devtools.demo.workload import email_address, user_id
from cio_pipeline.devtools.emulator_process import EmulatorHandle
from cio_pipeline.producer import APIClient, CancelResult, CustomerIO, SendEmailRequest

__all__ = ["REMINDER_KEY", "Privacy", "cancel_and_erase"]

#: The idempotency key of the reminder the demo cancels.
REMINDER_KEY = "demo-reminder-cancelled"
_REMINDER_USER = 2
_ERASED_USER = 3
_QUEUED_FOR_ERASED = 3
_POLL_S = 0.05


@dataclass(frozen=True)
class Privacy:
    """How the cancel and the erase ended."""

    cancel_result: str
    reminder_sent: bool
    queued_for_erased: int
    dropped: int
    """Of the erased person's jobs, those queued (not yet delivered) and dropped."""
    dropped_in_all: int
    """Every job of theirs the erase dropped (also ended ones RQ still kept)."""
    delete_delivered: bool
    person_gone: bool

    @property
    def cancel_as_planned(self) -> bool:
        """The reminder was cancelled and never reached Customer.io."""
        return self.cancel_result == CancelResult.CANCELLED.value and not self.reminder_sent

    @property
    def erase_as_planned(self) -> bool:
        """Every queued operation dropped, the delete delivered, the person gone."""
        return self.dropped == self.queued_for_erased and self.delete_delivered and self.person_gone


def cancel_and_erase(
    connection: redis.Redis,
    cio: CustomerIO,
    api: APIClient,
    emulator: EmulatorHandle,
    deadline: float,
    job_ids: list[str],
) -> Privacy:
    """Cancel one reminder and erase one person while the workers are held, then wait
    (until ``deadline``) for the erase's delete to reach the emulator. The jobs enqueued are
    added to ``job_ids`` (for the clean-up), not to the workload's counts."""
    erased = user_id(_ERASED_USER)
    suspend(connection)
    try:
        reminder = api.send_email(
            SendEmailRequest(
                transactional_message_id=2,
                to=email_address(_REMINDER_USER),
                identifiers={"id": user_id(_REMINDER_USER)},
                message_data={"reminder": REMINDER_KEY},
            ),
            idempotency_key=REMINDER_KEY,
        )
        job_ids.append(reminder)
        for n in range(_QUEUED_FOR_ERASED):
            job_ids.append(cio.track(erased, "viewed_reminder", data={"n": n}))
        cancelled = api.cancel_send(REMINDER_KEY)
        report = cio.erase(erased, emails=[email_address(_ERASED_USER)], wait_s=5.0)
        if report.pending_job_id is not None:
            job_ids.append(report.pending_job_id)
    finally:
        resume(connection)
    delete_delivered = person_gone = False
    while time.monotonic() < deadline:
        if report.pending_job_id is not None:
            counts = count_jobs(connection, [report.pending_job_id])
            delete_delivered = counts.delivered == 1
        if delete_delivered:
            people = emulator.state()["people"]
            person_gone = not any(erased in key for key in people)
            if person_gone:
                break
        time.sleep(_POLL_S)  # nothing to wait on but Redis and the emulator
    sends = emulator.state()["sends"]
    reminder_sent = any(
        (s["request"].get("message_data") or {}).get("reminder") == REMINDER_KEY for s in sends
    )
    return Privacy(
        cancel_result=cancelled.result.value,
        reminder_sent=reminder_sent,
        queued_for_erased=_QUEUED_FOR_ERASED,
        dropped=report.dropped.get("track queued", 0),
        dropped_in_all=report.dropped_total,
        delete_delivered=delete_delivered,
        person_gone=person_gone,
    )
