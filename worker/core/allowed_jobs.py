"""Only our job functions run: the per-queue allow-list a worker checks before it runs a job.

RQ runs a job by importing whatever function path the job's ``data`` names and calling it with
the job's arguments. The safe unpickler (:class:`cio_pipeline.producer.serializer.SafeSerializer`)
stops a pickle from calling a global while it is read, but a forged job needs no global for that: a
job on ``cio-transactional`` naming ``os.system`` with the argument ``"touch pwned"`` is all
primitives, and RQ would import ``os`` and run the command. So before anything is imported or
called, every job is held against the job contract (:mod:`cio_pipeline.producer.jobs`):

- its queue must be one we know, and its function one of that queue's functions (Track
  partitions: ``track_operation`` / ``track_anonymous_event``; ``cio-transactional``:
  ``send_<kind>`` for the send kinds the producer enqueues; ``cio-webhooks``:
  ``process_webhook``, enqueued by the webhook receiver);
- the call must have our shape: no instance, exactly one positional argument (a dict), and
  the keyword arguments that function takes (its required ones, and only optional ones it
  knows), each a string or a flag;
- the job must name no RQ callbacks and no webhooks (our producer never sets them, and RQ
  would import the callbacks and POST to the webhook URLs).

Anything else is a :class:`Refusal`: the worker dead-letters the job with the refusal's reason
(the function name, never the arguments, which may hold personal data) and goes on. Data that
cannot be read at all (garbage bytes, a pickle naming a global) is a refusal too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from rq.exceptions import DeserializationError
from rq.job import Job

from cio_pipeline.producer.jobs import (
    ANONYMOUS_EVENT_FUNC,
    SEND_KINDS,
    TRACK_OPERATION_FUNC,
    send_func,
)
from cio_pipeline.producer.keys import Keys

__all__ = [
    "SEND_JOBS",
    "TRACK_JOBS",
    "WEBHOOK_FUNC",
    "WEBHOOK_JOBS",
    "JobShape",
    "Refusal",
    "allowed_jobs",
    "check_call",
    "check_job",
]

#: Longest function name quoted in a reason: a forged name is someone else's text.
_MAX_NAME_CHARS: Final = 120


@dataclass(frozen=True, slots=True)
class JobShape:
    """One allowed call: the function path, the keyword arguments it requires and those it
    may be given."""

    func: str
    kwargs: frozenset[str] = field(default_factory=frozenset)
    optional: frozenset[str] = field(default_factory=frozenset)


def _by_func(*shapes: JobShape) -> Mapping[str, JobShape]:
    return {shape.func: shape for shape in shapes}


#: The jobs of a Track partition.
TRACK_JOBS: Final = _by_func(JobShape(TRACK_OPERATION_FUNC), JobShape(ANONYMOUS_EVENT_FUNC))
#: The jobs of the transactional queue: one per send kind, each with its idempotency key.
SEND_JOBS: Final = _by_func(
    *(
        JobShape(send_func(kind), frozenset({"idempotency_key"}), frozenset({"skip_if_suppressed"}))
        for kind in SEND_KINDS
    )
)
#: The job of a verified reporting-webhook event (enqueued by
# ``cio_pipeline.worker.webhooks.receiver``).
WEBHOOK_FUNC: Final = "cio_pipeline.worker.jobs.process_webhook"
#: The jobs of the webhooks queue.
WEBHOOK_JOBS: Final = _by_func(JobShape(WEBHOOK_FUNC))


def allowed_jobs(keys: Keys) -> dict[str, Mapping[str, JobShape]]:
    """Queue name -> the jobs allowed on it. A queue not listed allows nothing."""
    allowed: dict[str, Mapping[str, JobShape]] = {q: TRACK_JOBS for q in keys.track_queues}
    allowed[keys.transactional_queue] = SEND_JOBS
    allowed[keys.webhooks_queue] = WEBHOOK_JOBS
    return allowed


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a job may not run; ``reason`` is safe to log and to show in the dead letter."""

    reason: str


def _quote(name: object) -> str:
    text = repr(name)
    return text if len(text) <= _MAX_NAME_CHARS else text[: _MAX_NAME_CHARS - 3] + "..."


def check_call(
    allowed: Mapping[str, JobShape], func: object, instance: object, args: object, kwargs: object
) -> Refusal | None:
    """None when ``func(*args, **kwargs)`` is one of the ``allowed`` calls; else why not."""
    shape = allowed.get(func) if isinstance(func, str) else None
    if shape is None:
        return Refusal(f"forbidden job function {_quote(func)}")
    if instance is not None:
        return Refusal(f"forbidden job shape: {func} called on an instance")
    if not isinstance(args, tuple | list) or len(args) != 1 or not isinstance(args[0], dict):
        return Refusal(f"forbidden job shape: {func} takes exactly one dict argument")
    if not isinstance(kwargs, dict) or not shape.kwargs <= set(kwargs) <= (
        shape.kwargs | shape.optional
    ):
        expected = ", ".join(sorted(shape.kwargs)) or "none"
        return Refusal(f"forbidden job shape: {func} takes keyword arguments {expected}")
    if not all(isinstance(value, str | bool) for value in kwargs.values()):
        return Refusal(f"forbidden job shape: {func} takes string or flag keyword arguments")
    return None


def _hooks(job: Job) -> list[str]:
    # RQ keeps callback names in private fields (read from the job hash by Job.restore)
    # and imports them lazily, when it calls them.
    names = {
        "success callback": getattr(job, "_success_callback_name", None),
        "failure callback": getattr(job, "_failure_callback_name", None),
        "stopped callback": getattr(job, "_stopped_callback_name", None),
    }
    hooks = [what for what, name in names.items() if name]
    if getattr(job, "webhooks", None):
        hooks.append("webhooks")
    return hooks


def check_job(job: Job, allowed: Mapping[str, JobShape]) -> Refusal | None:
    """None when RQ may run ``job`` (read from Redis, not yet run); else why not.

    Reads the job's data with the job's serializer (our safe unpickler) and imports nothing.
    """
    try:
        func, instance, args, kwargs = job.func_name, job.instance, job.args, job.kwargs
    except DeserializationError as exc:
        cause = type(exc.__cause__).__name__ if exc.__cause__ is not None else "unknown"
        return Refusal(f"unreadable job data ({cause})")
    refusal = check_call(allowed, func, instance, args, kwargs)
    if refusal is not None:
        return refusal
    hooks = _hooks(job)
    if hooks:
        return Refusal(f"forbidden job shape: {func} with {', '.join(hooks)}")
    return None
