"""The webhook receiver against hostile requests (issue 18, item 5): a real ``cio-pipeline
webhooks`` process with ``LOG_FORMAT=json`` over a private redis-server. Malformed headers get
401, a client gone mid-body is logged, a replay gets 409, and while Redis is paused for 6 s
(``CLIENT PAUSE`` on the private server only) each of 50 concurrent requests is answered
within the receiver's bound plus 1 s; every case writes exactly one JSON log line."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis
from support import PrivateRedis, wait_until

from cio_pipeline.devtools.receiver import running_receiver
from cio_pipeline.worker.webhooks.signature import sign

pytestmark = pytest.mark.integration

KEY = "hostile-test-key"
PATH = "/webhooks/customerio"
BOUND_S = 0.5


def _event(n: int) -> bytes:
    return json.dumps(
        {
            "event_id": f"01HOSTILE{n:017d}",
            "object_type": "email",
            "metric": "delivered",
            "timestamp": int(time.time()),
            "data": {"recipient": f"p{n}@example.com"},
        }
    ).encode()


def _signed(body: bytes, stamp: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if stamp is None else stamp
    return {"X-CIO-Timestamp": str(stamp), "X-CIO-Signature": sign(body, stamp, KEY)}


class _Log:
    """The receiver's log file: new lines since the last call, each parsed as JSON."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen = 0

    def lines(self) -> list[str]:
        text = self.path.read_text() if self.path.exists() else ""
        return text.splitlines()

    def new(self, count: int, timeout_s: float = 5.0) -> list[dict[str, Any]]:
        """Wait for exactly ``count`` new lines (the receiver writes them after answering)."""
        wait_until(lambda: len(self.lines()) >= self.seen + count, timeout_s, "log lines")
        lines = self.lines()[self.seen :]
        self.seen += len(lines)
        return [json.loads(line) for line in lines]  # every line is one JSON object


@pytest.fixture
def receiver(private_redis: PrivateRedis, tmp_path: Path) -> Iterator[tuple[str, _Log]]:
    log_path = tmp_path / "receiver.log"
    env = {
        "REDIS_URL": private_redis.url,
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY": KEY,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
        "CIO_WEBHOOK_REDIS_TIMEOUT_S": str(BOUND_S),
    }
    with running_receiver(env, log_path=str(log_path)) as url:
        yield url, _Log(log_path)


@pytest.mark.parametrize(
    ("stamp", "signature"),
    [
        (b"\xc2\xb2", "a" * 64),  # "²" in UTF-8: isdigit() says yes, int() says no
        (b"1\xb9", "a" * 64),  # "¹" in Latin-1
        (b"17e8", "a" * 64),
        (b"1" * 40, "a" * 64),
        (None, b"\xff" * 64),
        (None, "g" * 64),
    ],
    ids=["superscript-2", "latin1-superscript-1", "float", "huge", "sig-not-ascii", "sig-not-hex"],
)
def test_malformed_headers_get_401_and_one_json_line(
    receiver: tuple[str, _Log], private_redis: PrivateRedis, stamp: bytes | None, signature: Any
) -> None:
    url, log = receiver
    body = _event(1)
    now = str(int(time.time())).encode()
    headers = [
        (b"X-CIO-Timestamp", stamp if stamp is not None else now),
        (b"X-CIO-Signature", signature if isinstance(signature, bytes) else signature.encode()),
    ]
    response = httpx.post(url + PATH, content=body, headers=headers, timeout=5)
    assert response.status_code == 401
    (line,) = log.new(1)
    assert (line["event"], line["status"], line["level"]) == ("webhook_refused", 401, "warning")
    assert line["reason"].startswith("malformed X-CIO-")
    assert "exception" not in line
    assert redis.Redis.from_url(private_redis.url).llen("rq:queue:cio-webhooks") == 0


def test_a_client_gone_mid_body_is_one_json_line_and_nothing_enqueued(
    receiver: tuple[str, _Log], private_redis: PrivateRedis
) -> None:
    url, log = receiver
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n"
            "X-CIO-Timestamp: 1\r\n\r\n".encode()
            + b'{"event_id": "01'
        )
        time.sleep(0.2)  # let the receiver start reading the body before the client goes
    (line,) = log.new(1)
    assert line["event"] == "webhook_client_gone"
    assert "exception" not in line
    assert redis.Redis.from_url(private_redis.url).llen("rq:queue:cio-webhooks") == 0


def test_a_replay_within_the_tolerance_gets_409_and_one_job(
    receiver: tuple[str, _Log], private_redis: PrivateRedis
) -> None:
    url, log = receiver
    body = _event(2)
    headers = _signed(body)
    statuses = [
        httpx.post(url + PATH, content=body, headers=headers, timeout=5).status_code
        for _ in range(5)
    ]
    assert statuses == [200, 409, 409, 409, 409]
    lines = log.new(4)
    assert {(line["event"], line["status"]) for line in lines} == {("webhook_refused", 409)}
    assert redis.Redis.from_url(private_redis.url).llen("rq:queue:cio-webhooks") == 1
    # Customer.io's own retry is signed anew, at another second: not a replay
    wait_until(lambda: int(time.time()) > int(headers["X-CIO-Timestamp"]), 2, "the next second")
    retry = httpx.post(url + PATH, content=body, headers=_signed(body), timeout=5)
    assert retry.status_code == 200


def _pause(private_redis: PrivateRedis, millis: int) -> None:
    admin = redis.Redis.from_url(private_redis.url)
    admin.execute_command("CLIENT", "PAUSE", millis, "ALL")
    admin.close()


async def _post_all(url: str, bodies: list[bytes]) -> list[tuple[int, float]]:
    async def one(client: httpx.AsyncClient, body: bytes) -> tuple[int, float]:
        started = time.monotonic()
        response = await client.post(url + PATH, content=body, headers=_signed(body))
        return response.status_code, time.monotonic() - started

    limits = httpx.Limits(max_connections=len(bodies))
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        return await asyncio.gather(*(one(client, body) for body in bodies))


def test_a_paused_redis_gets_503_within_the_bound_and_never_stalls_the_receiver(
    receiver: tuple[str, _Log], private_redis: PrivateRedis
) -> None:
    url, log = receiver
    # connections opened before the pause, so that the test measures the receiver alone
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    _pause(private_redis, 6000)
    paused_at = time.monotonic()
    health: list[float] = []

    def probe() -> None:
        started = time.monotonic()
        httpx.get(url + "/healthz", timeout=5)
        health.append(time.monotonic() - started)

    prober = threading.Thread(target=probe)
    prober.start()
    results = asyncio.run(_post_all(url, [_event(100 + n) for n in range(50)]))
    prober.join(timeout=10)
    assert time.monotonic() - paused_at < 6, "the requests must be answered during the pause"
    assert len(results) == 50
    slowest = max(elapsed for _, elapsed in results)
    assert slowest <= BOUND_S + 1.0, f"slowest answer {slowest:.2f} s"
    assert {status for status, _ in results} <= {200, 503}
    assert sum(status == 503 for status, _ in results) >= 1
    assert health and health[0] < 1.0, f"/healthz took {health}"
    lines = log.new(sum(status == 503 for status, _ in results), timeout_s=10)
    assert {line["event"] for line in lines} == {"webhook_not_enqueued"}
    assert all(line["status"] == 503 and "exception" not in line for line in lines)

    # once Redis is back, the receiver is too
    def accepted() -> bool:
        body = _event(999)
        return httpx.post(url + PATH, content=body, headers=_signed(body), timeout=5).is_success

    wait_until(accepted, 15, "the receiver to accept again after the pause")


def test_uvicorns_own_lines_are_json_too(receiver: tuple[str, _Log]) -> None:
    url, log = receiver
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(b"GARBAGE \x00\x01 nonsense\r\n\r\n")
        sock.recv(1024)  # uvicorn answers 400 and closes
    (line,) = log.new(1)
    assert (line["logger"], line["level"]) == ("uvicorn.error", "warning")
