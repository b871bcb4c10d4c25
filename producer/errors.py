"""The exceptions the producer raises.

All of them derive from :class:`CustomerIOException`, the one exception class of the official
``customerio`` SDK, so code written against the SDK keeps catching what it caught before::

    CustomerIOException
    ├── ValidationError        the call's input can never be delivered; nothing was written
    ├── ProducerUnavailable    Redis did not answer within CIO_REDIS_TIMEOUT_S; nothing was written
    ├── RedisFull              Redis is at its maxmemory limit (noeviction); nothing was written
    └── SettingsError          an environment variable has a bad value (names the variable)
"""

from __future__ import annotations

__all__ = [
    "CustomerIOException",
    "ProducerUnavailable",
    "RedisFull",
    "SettingsError",
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


class ProducerUnavailable(CustomerIOException):
    """Redis could not be reached in time; the operation was not enqueued (and not half-written)."""


class RedisFull(CustomerIOException):
    """Redis refused the write because it is at its ``maxmemory`` limit (``noeviction``).

    Nothing was written. Workers keep delivering (which frees memory), so retrying later, at a
    lower rate, succeeds once the backlog has drained.
    """


class SettingsError(CustomerIOException):
    """A configuration variable is missing, malformed or unknown; the message names it."""
