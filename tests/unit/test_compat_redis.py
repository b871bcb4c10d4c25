"""Contract tests: what cio_pipeline.producer.compat.redis relies on in the installed redis-py.

Each failure names redis-py and its version: a release that changes one of these reaches is
met here, not three layers away (a TypeError deep in a producer write, a hung stop).
"""

from __future__ import annotations

import inspect
import threading
import time
import warnings

import fakeredis
import redis
from redis.client import PubSubWorkerThread
from redis.connection import Connection
from redis.retry import Retry
from redis.sentinel import SentinelManagedConnection

from cio_pipeline.producer.compat import redis as compat
from cio_pipeline.producer.compat.redis import REDIS_VERSION
from cio_pipeline.worker.core.outage import OutageRetry

PING = b"*1\r\n$4\r\nPING\r\n"


def changed(what: str) -> str:
    return f"{REDIS_VERSION} changed {what} (see cio_pipeline/producer/compat/redis.py)"


def test_a_pooled_connection_sends_and_reads_without_a_deprecation_warning() -> None:
    client = fakeredis.FakeRedis()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # redis-py >= 5.3 warns when given a command name
        conn = compat.pool_connection(client.connection_pool)
        try:
            compat.send_packed(conn, PING)
            assert compat.read_reply(conn) == b"PONG", changed("the raw send/read of a request")
        finally:
            client.connection_pool.release(conn)


def test_get_connection_takes_a_command_name_or_nothing() -> None:
    names = list(inspect.signature(redis.ConnectionPool.get_connection).parameters)[1:]
    assert not names or names[0] == "command_name", changed(
        f"ConnectionPool.get_connection's parameters to {names}"
    )


def test_the_raw_halves_of_a_request_exist() -> None:
    send = inspect.signature(Connection.send_packed_command).parameters
    assert list(send)[:2] == ["self", "command"], changed("Connection.send_packed_command")
    read = inspect.signature(Connection.read_response).parameters
    required = [
        p.name
        for p in list(read.values())[1:]
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    assert not required, changed(f"Connection.read_response (now requires {required})")


def test_sentinel_read_converts_readonly_and_the_next_read_is_plain() -> None:
    own = SentinelManagedConnection.__dict__.get("read_response")
    assert own is not None, changed("SentinelManagedConnection (no read_response of its own)")
    assert "ReadOnlyError" in inspect.getsource(own), changed(
        "SentinelManagedConnection.read_response (no longer converts READONLY)"
    )
    after = SentinelManagedConnection.__mro__[1]
    assert issubclass(after, Connection) and after.read_response is not own, changed(
        f"SentinelManagedConnection's MRO (next is {after.__name__})"
    )


def test_retry_is_called_with_parameters_our_override_accepts() -> None:
    theirs = tuple(inspect.signature(Retry.call_with_retry).parameters)[1:]
    assert set(theirs) <= set(compat.RETRY_CALL_PARAMETERS), changed(
        f"Retry.call_with_retry's parameters to {theirs}"
    )
    ours = tuple(inspect.signature(OutageRetry.call_with_retry).parameters)[1:]
    assert ours == compat.RETRY_CALL_PARAMETERS  # our override, kept in step with compat


def test_a_pubsub_thread_polling_briefly_stops_within_the_bound() -> None:
    pubsub = fakeredis.FakeRedis().pubsub()
    pubsub.subscribe(**{"compat-test": lambda message: None})
    thread = pubsub.run_in_thread(sleep_time=0.2, daemon=True)
    assert isinstance(thread, PubSubWorkerThread), changed("PubSub.run_in_thread")
    started = time.monotonic()
    assert compat.stop_pubsub_thread(thread, timeout_s=5), changed("PubSubWorkerThread.stop")
    assert time.monotonic() - started < 5


def test_stopping_a_slow_polling_pubsub_thread_is_still_bounded() -> None:
    # rq's 60 s poll, waiting for a subscription: redis-py 8.2's stop() alone would wait.
    pubsub = fakeredis.FakeRedis().pubsub()
    pubsub.subscribe(**{"compat-test": lambda message: None})
    thread = pubsub.run_in_thread(sleep_time=60, daemon=True)
    pubsub.unsubscribe()
    done = threading.Event()
    result: list[bool] = []

    def stop() -> None:
        result.append(compat.stop_pubsub_thread(thread, timeout_s=0.5))
        done.set()

    threading.Thread(target=stop, daemon=True).start()
    assert done.wait(10), changed("PubSubWorkerThread.stop (it no longer honours a bound)")
    assert result == [not thread.is_alive()]


def test_the_outage_retry_waits_out_a_refused_connect() -> None:
    # redis-py 5.0 retries only the raw socket connect, whose errors are OSError.
    from cio_pipeline.worker.core.outage import RedisOutage

    outage = RedisOutage()
    retry = OutageRetry(outage, cap_s=0.01)
    attempts: list[int] = []

    def connect() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionRefusedError(111, "Connection refused")
        return "connected"

    assert retry.call_with_retry(connect, lambda error: None) == "connected"
    assert len(attempts) == 3


def test_a_closed_sentinel_connection_reconnects_through_the_sentinels() -> None:
    """(7) Whatever redis-py calls to reopen a closed connection before a command must lead
    to ``SentinelManagedConnection.connect`` (which asks the Sentinels): here it is recorded
    instead of connecting."""
    from cio_pipeline.producer.compat.redis import SentinelReconnect

    asked: list[str] = []

    class Recording(SentinelReconnect, SentinelManagedConnection):
        def connect(self) -> None:
            asked.append("sentinels")
            raise redis.ConnectionError("recorded")

    class Proxy:  # what SentinelConnectionPool hands its connections
        is_master, check_connection = True, False

    conn = Recording(connection_pool=Proxy(), host="127.0.0.1", port=1)
    try:
        conn.send_command("PING")
    except redis.ConnectionError:
        pass
    assert asked == ["sentinels"], changed("how a closed connection is reopened")
