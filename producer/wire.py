"""One request to Redis on a connection we hold, so that a failure says whether it left.

redis-py's ``execute_command`` raises the same ``TimeoutError``/``ConnectionError`` whether
the request never left or its answer was lost, and may resend it under its retry policy. For
a write, those cases differ: a request that never reached Redis certainly did nothing and is
safe to repeat; one whose answer was lost may have run. So the producer sends and reads
itself, in two steps, and never resends:

- getting a connection (connecting) or sending fails -> :class:`NotSent`. redis-py's
  ``send_packed_command`` raises only when ``sendall`` did not hand the whole request to the
  kernel, and Redis runs no command it has not received completely, so nothing ran.
- reading the answer fails -> :class:`AnswerLost`: the request went out, Redis may have run it.
- an error reply (``ResponseError``) is returned to the caller as an exception, as usual;
  ``BusyLoadingError`` (``LOADING``) is an error reply that redis-py files under
  ``ConnectionError``: Redis refused the command, so it counts as not run (:class:`NotSent`).

Taking a pooled connection and its two raw halves are below redis-py's client API; they go
through :mod:`cio_pipeline.producer.compat.redis`, which makes them work across the supported
redis-py range.
"""

from __future__ import annotations

from typing import Any

import redis

from cio_pipeline.producer.compat.redis import pool_connection, read_reply, send_packed

__all__ = ["AnswerLost", "NotSent", "Sent", "bulk", "command", "request", "send"]


class NotSent(Exception):
    """The request certainly did not run (not sent, or refused before running)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


class AnswerLost(Exception):
    """The request was sent and its answer never came: it may or may not have run."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


def bulk(value: bytes) -> bytes:
    """``value`` as one RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def command(count: int, *head: bytes) -> bytes:
    """The start of a RESP command of ``count`` arguments whose first ones are ``head``."""
    return b"*%d\r\n" % count + b"".join(bulk(part) for part in head)


class Sent:
    """A request that went out and whose answer is still to be read, on the connection it
    holds: :meth:`answer` reads it and gives the connection back (exactly once).

    A request may carry ``trailing`` more commands after the first (``WAIT`` after a write):
    their answers are read after the first's, whatever it was, into :attr:`trailing` (None
    for an answer that did not come), so the connection stays in step."""

    __slots__ = ("_client", "_conn", "_extra", "trailing")

    def __init__(self, client: redis.Redis, conn: Any, trailing: int = 0) -> None:
        self._client = client
        self._conn = conn
        self._extra = trailing
        self.trailing: list[Any] = []

    def answer(self) -> Any:
        """Read the answer (raises :class:`NotSent` for ``LOADING``, :class:`AnswerLost`, or
        the ``ResponseError`` Redis answered)."""
        conn = self._conn
        try:
            try:
                return read_reply(conn)
            finally:
                self.trailing = [_read_or_none(conn) for _ in range(self._extra)]
        except redis.exceptions.BusyLoadingError as exc:
            raise NotSent(exc) from exc
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # read_response has closed the connection, so a late answer is never mistaken
            # for the next command's.
            raise AnswerLost(exc) from exc
        finally:
            if self._client.connection is None:
                self._client.connection_pool.release(conn)


def _read_or_none(conn: Any) -> Any:
    try:
        return read_reply(conn)
    except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
        return None


def send(client: redis.Redis, packed: bytes, trailing: int = 0) -> Sent:
    """Send one packed command, and ``trailing`` more packed after it (raises
    :class:`NotSent`); read the answers with :meth:`Sent.answer`, which must be called once,
    whatever happens in between, to give the connection back."""
    pool = client.connection_pool
    # A single-connection client owns one connection; any other borrows one from its pool.
    own: Any = client.connection
    try:
        conn: Any = own if own is not None else pool_connection(pool)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise NotSent(exc) from exc
    try:
        send_packed(conn, packed)
    except BaseException as exc:
        if own is None:
            pool.release(conn)
        if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
            raise NotSent(exc) from exc
        raise
    return Sent(client, conn, trailing)


def request(client: redis.Redis, packed: bytes) -> Any:
    """Send one packed command and read its answer (raises :class:`NotSent`,
    :class:`AnswerLost`, or the ``ResponseError`` Redis answered)."""
    return send(client, packed).answer()
