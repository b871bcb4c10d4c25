"""A reply lost after Redis ran the command: the worker runs the command again, and that must
not change what it does.

A failover or a connection reset can cut a connection after Redis executed a command but
before its reply arrived; the worker's client then runs the command again on a new connection
(:mod:`cio_pipeline.worker.core.outage`). For the claim of a send's delivery record that second
run once found ``pending:<this job>``, answered "an earlier attempt of this job may have
reached Customer.io", and a send never attempted was dead-lettered as ambiguous (seen in the
Sentinel failover test). Here a TCP proxy between a real worker and the real Redis drops the
reply of the first claim of each send, deterministically: every send still goes out exactly
once and nothing is dead-lettered.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from rq.registry import FailedJobRegistry
from support import WorkerFleet, enqueue_sends, finished_count

from cio_pipeline.producer.serializer import SafeSerializer

pytestmark = pytest.mark.integration

QUEUE = "cio-transactional"
SENDS = 4


def is_claim(command: bytes) -> bool:
    """The claim of a send's delivery record: the only script the worker runs on that key
    before sending (the record's other writes come after the send, or are plain SETs)."""
    return b"EVAL" in command and b":delivery:" in command


class ReplyDroppingProxy:
    """A loopback TCP proxy to Redis that, the first time it sees each distinct command that
    ``cut_after`` selects, lets the command reach Redis and then closes the client's
    connection instead of passing Redis's reply on (the client's retry, the same bytes, gets
    its reply)."""

    def __init__(self, upstream: tuple[str, int], cut_after: Callable[[bytes], bool]) -> None:
        self.upstream, self.cut_after = upstream, cut_after
        self._seen: set[bytes] = set()
        self.dropped = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=5)
            server.settimeout(None)
            cut = threading.Event()  # set: the next reply on this connection is dropped
            threading.Thread(
                target=self._to_server, args=(client, server, cut), daemon=True
            ).start()
            threading.Thread(
                target=self._to_client, args=(server, client, cut), daemon=True
            ).start()

    def _to_server(
        self, client: socket.socket, server: socket.socket, cut: threading.Event
    ) -> None:
        try:
            while data := client.recv(65536):
                if self.cut_after(data):
                    with self._lock:
                        if data not in self._seen:
                            self._seen.add(data)
                            cut.set()
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def _to_client(
        self, server: socket.socket, client: socket.socket, cut: threading.Event
    ) -> None:
        try:
            while data := server.recv(65536):
                if cut.is_set():  # the marked command ran on Redis: its reply is lost
                    with self._lock:
                        self.dropped += 1
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client, server)

    def close(self) -> None:
        self._stopping.set()
        self._listener.close()


def _close(*sockets: socket.socket) -> None:
    for sock in sockets:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


@pytest.fixture
def proxy(redis_url: str) -> Iterator[ReplyDroppingProxy]:
    parts = urlsplit(redis_url)
    server = ReplyDroppingProxy((parts.hostname or "127.0.0.1", parts.port or 6379), is_claim)
    yield server
    server.close()


def test_a_claim_whose_reply_was_lost_is_sent_once_not_dead_lettered(
    redis_url: str, emulator: Any, proxy: ReplyDroppingProxy, fleet: WorkerFleet
) -> None:
    enqueue_sends(redis_url, SENDS)  # straight to Redis: only the worker goes through the proxy
    database = urlsplit(redis_url).path
    worker = fleet.run_burst(REDIS_URL=f"redis://127.0.0.1:{proxy.port}{database}")

    assert proxy.dropped == SENDS, "the proxy did not cut the claims' replies"
    sent = Counter(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])
    assert sent == dict.fromkeys(range(SENDS), 1), sent
    client = redis.Redis.from_url(redis_url)
    failed = FailedJobRegistry(QUEUE, connection=client, serializer=SafeSerializer)
    assert failed.get_job_ids() == [], worker.log()[-3000:]
    assert finished_count(client, QUEUE) == SENDS
    assert "redis_unavailable" in worker.log()  # the worker did see the connection drop
