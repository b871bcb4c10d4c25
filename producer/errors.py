"""The exceptions the producer raises.

All of them derive from :class:`CustomerIOException`, the one exception class of the official
``customerio`` SDK, so code written against the SDK keeps catching what it caught before::

    CustomerIOException
    ├── ValidationError          the call's input can never be delivered; nothing was written
    ├── EnqueueError             not every job is certainly enqueued; says which ids are
    │   │                        written, not written, or of unknown fate
    │   ├── ProducerUnavailable  Redis could not be reached, or did not answer within
    │   │                        CIO_REDIS_TIMEOUT_S
    │   ├── RedisFull            Redis is at its maxmemory limit (noeviction)
    │   ├── PersonErased         a job concerns a person erased within the retention period
    │   │                        (``CustomerIO.erase``); ``erased_ids`` names those jobs
    │   └── NotReplicated        written, but fewer than CIO_REDIS_MIN_REPLICAS replicas
    │                            acknowledged it in time: may not survive a failover
    └── SettingsError            an environment variable has a bad value (names the variable)

and one warning category, :class:`UnknownSettingWarning` (a ``UserWarning``): the producer's
environment holds a ``CIO_*``/``CUSTOMERIO_*`` variable cio-pipeline does not read (the
worker and the commands refuse one with a :class:`SettingsError` instead).

An :class:`EnqueueError` sorts every job the failed call or ``pipeline()`` block prepared into
exactly one of three groups, so that an application retries exactly the jobs that need it:

- ``written_ids``: certainly in Redis (never retry these: that would duplicate them);
- ``not_written_ids``: certainly not in Redis (the request never left, Redis refused it, or
  the chunk was not attempted after an earlier one failed): retry these;
- ``unknown_ids``: the request went out and its answer was lost (a timeout, or a connection
  cut while waiting), so Redis may or may not have run it: look them up (``Job.exists``)
  before retrying, or accept a duplicate.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "CustomerIOException",
    "EnqueueError",
    "NotReplicated",
    "PersonErased",
    "ProducerUnavailable",
    "RedisFull",
    "SettingsError",
    "UnknownSettingWarning",
    "ValidationError",
]


class CustomerIOException(Exception):
    """Base class of every error this project raises to an application (as in the SDK)."""


class ValidationError(CustomerIOException):
    """An operation was refused before anything was written to Redis.

    ``field`` names the offending field (dotted path, e.g. ``attributes.plan``) so callers and
    tests can tell which rule fired; the message never contains the field's value.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class EnqueueError(CustomerIOException):
    """Writing jobs to Redis failed; the job ids are sorted into what certainly was written,
    what certainly was not, and what may or may not have been (see the module docstring).

    ``reason`` says what went wrong (never a value from the jobs); the message adds the
    counts, and for a single job its id and whether it "may have been enqueued".
    """

    def __init__(
        self,
        reason: str,
        *,
        written_ids: Iterable[str] = (),
        not_written_ids: Iterable[str] = (),
        unknown_ids: Iterable[str] = (),
    ) -> None:
        self.reason = reason
        self.written_ids: list[str] = list(written_ids)
        self.not_written_ids: list[str] = list(not_written_ids)
        self.unknown_ids: list[str] = list(unknown_ids)
        super().__init__(f"{reason}; {self._fates()}")

    def regroup(
        self,
        *,
        written_ids: Iterable[str] = (),
        not_written_ids: Iterable[str] = (),
    ) -> EnqueueError:
        """The same failure, widened to a whole block: ``written_ids`` were written before
        it, ``not_written_ids`` were never attempted after it. Keeps the exception's type."""
        return type(self)(
            self.reason,
            written_ids=[*written_ids, *self.written_ids],
            not_written_ids=[*self.not_written_ids, *not_written_ids],
            unknown_ids=self.unknown_ids,
        )

    def _fates(self) -> str:
        written, lost, unknown = self.written_ids, self.not_written_ids, self.unknown_ids
        if len(written) + len(lost) + len(unknown) == 1:
            if unknown:
                return (
                    f"job {unknown[0]} may have been enqueued (the request was sent and its "
                    "answer lost): check before retrying"
                )
            if lost:
                return f"job {lost[0]} not enqueued (safe to retry)"
            return f"job {written[0]} enqueued"
        return (
            f"{len(written)} job(s) enqueued, {len(lost)} not enqueued (safe to retry: "
            f".not_written_ids), {len(unknown)} may have been enqueued (request sent, answer "
            "lost: .unknown_ids)"
        )


class ProducerUnavailable(EnqueueError):
    """Redis could not be reached, or did not answer within ``CIO_REDIS_TIMEOUT_S``.

    A job is never half-written: each is in ``written_ids``, ``not_written_ids`` or (its
    request sent, the answer lost) ``unknown_ids``.
    """


class RedisFull(EnqueueError):
    """Redis refused the write because it is at its ``maxmemory`` limit (``noeviction``).

    The refused jobs are in ``not_written_ids``. Workers keep delivering (which frees memory),
    so retrying later, at a lower rate, succeeds once the backlog has drained.
    """


class PersonErased(EnqueueError):
    """A job concerns a person erased (``CustomerIO.erase``, ``cio-pipeline erase``) within
    ``CIO_ERASE_RETENTION_S``: nothing of its chunk was written.

    ``erased_ids`` are the refused jobs; every job of the chunk (a single call, or up to 250
    jobs of a ``pipeline()`` block) is in ``not_written_ids``, as one erased person refuses
    the whole chunk (the chunk stays all-or-nothing). Retry ``not_written_ids`` minus
    ``erased_ids``; retrying an erased job raises this again.
    """

    def __init__(
        self,
        reason: str,
        *,
        written_ids: Iterable[str] = (),
        not_written_ids: Iterable[str] = (),
        unknown_ids: Iterable[str] = (),
        erased_ids: Iterable[str] = (),
    ) -> None:
        super().__init__(
            reason,
            written_ids=written_ids,
            not_written_ids=not_written_ids,
            unknown_ids=unknown_ids,
        )
        self.erased_ids: list[str] = list(erased_ids)

    def regroup(
        self,
        *,
        written_ids: Iterable[str] = (),
        not_written_ids: Iterable[str] = (),
    ) -> EnqueueError:
        """As :meth:`EnqueueError.regroup`, keeping ``erased_ids``."""
        return PersonErased(
            self.reason,
            written_ids=[*written_ids, *self.written_ids],
            not_written_ids=[*self.not_written_ids, *not_written_ids],
            unknown_ids=self.unknown_ids,
            erased_ids=self.erased_ids,
        )


class NotReplicated(EnqueueError):
    """The jobs are on the master (``written_ids``), but fewer than ``CIO_REDIS_MIN_REPLICAS``
    replicas acknowledged them within ``CIO_REDIS_REPLICA_TIMEOUT_MS``: Redis replicates
    asynchronously, so a failover now may lose them.

    Retrying them duplicates them unless a failover did lose them; an application that
    cannot accept either re-checks them (``Job.exists``) after the failover.
    """


class SettingsError(CustomerIOException):
    """A configuration variable is missing, malformed or unknown; the message names it."""


class UnknownSettingWarning(UserWarning):
    """The environment holds ``CIO_*``/``CUSTOMERIO_*`` variables cio-pipeline does not read.

    Issued once per variable by the producer (``Settings.from_env()``, ``CustomerIO()``),
    which goes on: an application's environment often has variables of its own with these
    prefixes (``CIO_SITE_ID``). Silence it with ``warnings.filterwarnings("ignore",
    category=UnknownSettingWarning)``, or turn it into an error with ``"error"``.
    """
