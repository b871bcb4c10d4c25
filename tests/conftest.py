"""Shared fixtures: a real Redis database reserved for this test session; the Hypothesis
profiles of the two lanes.

Integration tests need the Redis server on 127.0.0.1:6379 (``TEST_REDIS_URL`` to point
elsewhere). Several test sessions may share that server (CI, developers, helpers), so each
session reserves one of the numbered databases 1..15 with a lock key in db 0 and flushes only
that database. Under pytest-xdist every worker is a session of its own, so each reserves its
own database: tests on different workers never see each other's keys. Without a server,
integration tests fail under CI (``CI=true``) and are skipped with a visible reason elsewhere.

Property tests take their example count from the Hypothesis profile: the default one in
``.ci/run``, ``--hypothesis-profile=slow`` (many more examples) in ``.ci/slow``.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
import redis
from hypothesis import settings

# The slow lane's large-count property runs (.ci/slow); no per-example deadline, since a
# property test's example may write to Redis on a loaded machine.
settings.register_profile("slow", max_examples=1500, deadline=None)

_INTEGRATION_DIR = os.path.join(os.path.dirname(__file__), "integration")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration is an ``integration`` test (real Redis, processes),
    so ``-m "not integration"`` runs the fast, hermetic unit tests alone."""
    for item in items:
        if str(item.path).startswith(_INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)


BASE_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")
_LOCK_TTL_S = 3 * 3600


def _owner_is_gone(token: bytes | None) -> bool:
    """The lock's session ran on this host and its process no longer exists.

    A session killed outright (SIGKILL, a CI timeout) never deletes its lock; with two or more
    xdist workers per run, such leftovers would soon hold every database for the lock's TTL.
    """
    try:
        host, pid, _ = (token or b"").decode().split(":")
    except ValueError:
        return False  # an older session's token, or none: wait for its TTL
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError):
        return False
    return False


def _take_over(client: redis.Redis, key: str, token: str) -> bool:
    """Replace the lock of a session that is gone, unless someone else got there first."""
    with client.pipeline() as pipe:
        try:
            pipe.watch(key)
            if not _owner_is_gone(pipe.get(key)):
                return False
            pipe.multi()
            pipe.set(key, token, ex=_LOCK_TTL_S)
            pipe.execute()
            return True
        except redis.WatchError:
            return False


def _reserve_db(client: redis.Redis, token: str) -> int:
    keys = {db: f"cio-test:db-lock:{db}" for db in range(1, 16)}
    for db, key in keys.items():
        if client.set(key, token, nx=True, ex=_LOCK_TTL_S):
            return db
    for db, key in keys.items():
        if _take_over(client, key, token):
            return db
    raise RuntimeError("all Redis test databases 1..15 are reserved by other test sessions")


@pytest.fixture(scope="session")
def redis_db_url() -> Iterator[str]:
    """URL of a Redis database that belongs to this test session alone."""
    admin = redis.Redis.from_url(f"{BASE_URL}/0", socket_timeout=2, socket_connect_timeout=2)
    try:
        admin.ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis at {BASE_URL} does not answer ({exc}); CI needs it")
        pytest.skip(f"Redis at {BASE_URL} does not answer ({exc}); start redis-server")
    # host:pid:random, so a later session can tell a lock whose process is gone (above)
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    db = _reserve_db(admin, token)
    try:
        yield f"{BASE_URL}/{db}"
    finally:
        redis.Redis.from_url(f"{BASE_URL}/{db}").flushdb()
        if admin.get(f"cio-test:db-lock:{db}") == token.encode():
            admin.delete(f"cio-test:db-lock:{db}")
        admin.close()


@pytest.fixture
def redis_url(redis_db_url: str) -> Iterator[str]:
    """The session's Redis database, flushed before each test."""
    client = redis.Redis.from_url(redis_db_url)
    client.flushdb()
    client.close()
    yield redis_db_url


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session's (freshly flushed) Redis database."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()
