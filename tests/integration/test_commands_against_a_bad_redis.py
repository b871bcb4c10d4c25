"""Every command that touches Redis, against a Redis it cannot use: nothing listening, a
private redis-server that refuses the password given, and a private Sentinel that knows no
master of the name given. Each is a real ``cio-pipeline`` subprocess; each must exit 2
(``health``: non-zero), print at most two lines on stderr naming the address, and show no
traceback and no password. The worker, which waits out a Redis that is away, is checked for
saying so at once, with the masked address."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from ha_support import start_server, stop
from support import free_port

# Up to 16 Python start-ups per scenario on a shared machine: a generous bound, not a speed.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PASSWORD = "h6-Pa55word-never-printed"
RIGHT_PASSWORD = "h6-the-right-one-also-secret"
_OWN = ("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_")
CREDENTIALS = {
    "CUSTOMERIO_SITE_ID": "site",
    "CUSTOMERIO_API_KEY": "key",
    "CUSTOMERIO_APP_API_KEY": "app-key",
    "CUSTOMERIO_WEBHOOK_SIGNING_KEY": "signing-key-" + "x" * 20,
}

#: Every command that touches Redis, with arguments that would make it do so.
COMMANDS: list[list[str]] = [
    ["dlq", "list"],
    ["dlq", "list", "--json"],
    ["dlq", "show", "some-job-id"],
    ["dlq", "replay", "some-job-id"],
    ["dlq", "purge", "--all"],
    ["stats"],
    ["stats", "--json"],
    ["health"],
    ["import", "rows.csv"],
    ["metrics", "--port", "0"],
    ["webhooks", "--port", "0"],
    ["suppressions", "list"],
    ["suppressions", "show", "ann@example.com"],
    ["suppressions", "add", "ann@example.com"],
    ["suppressions", "remove", "ann@example.com", "--reason", "fixed"],
]


def _env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    return {**base, **CREDENTIALS, "LOG_FORMAT": "json", **extra}


def _run_all(commands: list[list[str]], env: dict[str, str], cwd: Path) -> list[tuple[int, str]]:
    """Run every command, two at a time (the machine is shared); (exit code, stdout NUL
    stderr) each. A command still running after 120 s has hung: it is killed and fails."""
    (cwd / "rows.csv").write_text("id,email\n1,ann@example.com\n")

    def run(argv: list[str]) -> tuple[int, str]:
        try:
            done = subprocess.run(
                [sys.executable, "-m", "cio_pipeline.worker.cli", *argv],
                env=env,
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=120,
            )
        except subprocess.TimeoutExpired as exc:
            return -1, f"{exc.stdout or ''}\0{exc.stderr or ''}(still running after 120 s)"
        return done.returncode, f"{done.stdout}\0{done.stderr}"

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(run, commands))


def _check(commands: list[list[str]], results: list[tuple[int, str]], address: str) -> None:
    problems = []
    for argv, (code, text) in zip(commands, results, strict=True):
        err = text.split("\0")[1]
        name = " ".join(argv)
        wanted_ok = code != 0 if argv[0] == "health" else code == 2
        if not wanted_ok:
            problems.append(f"{name}: exit {code}: {err.strip()}")
        if len(err.splitlines()) > 2:
            problems.append(f"{name}: {len(err.splitlines())} lines on stderr: {err}")
        if "Traceback" in text:
            problems.append(f"{name}: a traceback: {text}")
        if PASSWORD in text or RIGHT_PASSWORD in text:
            problems.append(f"{name}: printed the password: {text}")
        if address not in err:
            problems.append(f"{name}: does not name {address}: {err.strip()}")
    assert not problems, "\n".join(problems)


def test_nothing_listening(tmp_path: Path) -> None:
    port = free_port()
    env = _env(REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    _check(COMMANDS, _run_all(COMMANDS, env, tmp_path), f"127.0.0.1:{port}")


@pytest.fixture
def password_redis(tmp_path: Path) -> Iterator[int]:
    """A private redis-server that wants RIGHT_PASSWORD."""
    port = free_port()
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    args += ["--dir", str(tmp_path), "--requirepass", RIGHT_PASSWORD]

    def ping() -> None:
        client = redis.Redis(port=port, password=RIGHT_PASSWORD, socket_connect_timeout=0.5)
        try:
            client.ping()
        finally:
            client.close()

    process = start_server(args, ping)
    yield port
    stop(process)


def test_a_wrong_password(tmp_path: Path, password_redis: int) -> None:
    env = _env(REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{password_redis}/0")
    commands = [*COMMANDS, ["worker", "--burst"]]  # a refused password is not waited for
    results = _run_all(commands, env, tmp_path)
    _check(commands, results, f"127.0.0.1:{password_redis}")
    for _, text in results:
        assert "refused the credentials" in text and "REDIS_URL" in text


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[int]:
    """A private redis-server and one Sentinel watching it as master ``cio``."""
    data_port, sentinel_port = free_port(), free_port()
    data = start_server(
        ["--port", str(data_port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        lambda: redis.Redis(port=data_port, socket_connect_timeout=0.5).ping(),
    )
    conf = tmp_path / "sentinel.conf"
    conf.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor cio 127.0.0.1 {data_port} 1\n"
    )
    watcher = start_server(
        [str(conf), "--sentinel"],
        lambda: redis.Redis(port=sentinel_port, socket_connect_timeout=0.5).ping(),
    )
    yield sentinel_port
    stop(watcher)
    stop(data)


def test_a_sentinel_master_nobody_knows(tmp_path: Path, sentinel: int) -> None:
    env = _env(
        REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:6379/0",
        CIO_REDIS_SENTINELS=f"127.0.0.1:{sentinel}",
        CIO_REDIS_SENTINEL_MASTER="no-such-master",
    )
    commands = [*COMMANDS, ["worker", "--burst"]]  # a wrong name is not waited for either
    results = _run_all(commands, env, tmp_path)
    _check(commands, results, f"127.0.0.1:{sentinel}")
    for _, text in results:
        assert "CIO_REDIS_SENTINEL_MASTER" in text and "'no-such-master'" in text


def test_the_worker_waits_for_an_absent_redis_and_says_where_at_once(tmp_path: Path) -> None:
    port = free_port()
    env = _env(REDIS_URL=f"redis://:{PASSWORD}@127.0.0.1:{port}/0")
    process = subprocess.Popen(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    try:
        lines: list[dict[str, object]] = []
        deadline = time.monotonic() + 60
        # the first line at once, a reminder 5 s into the outage (not a minute of silence)
        while time.monotonic() < deadline and not any(
            line.get("event") == "redis_still_unavailable" for line in lines
        ):
            text = process.stderr.readline()
            if not text:
                break
            lines.append(json.loads(text))
        events = [line["event"] for line in lines]
        assert events[:2] == ["redis_unavailable", "redis_still_unavailable"], lines
        first = lines[0]
        assert first["address"] == f"redis://***@127.0.0.1:{port}/0"
        assert lines[1]["down_s"] in (5, 6, 7, 8, 9, 10)  # the reconnect backoff's step
        assert process.poll() is None  # still waiting, not exited
    finally:
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        stopped_after_s = time.monotonic() - signalled
    assert PASSWORD not in "".join(json.dumps(line) for line in lines)
    # a worker still waiting for Redis stops at once on SIGTERM (it has taken nothing yet)
    assert code == 0 and stopped_after_s < 5, (code, stopped_after_s)
