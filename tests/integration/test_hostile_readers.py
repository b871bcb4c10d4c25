"""Suppressions, dead letters and import against hostile data (issue 18, items 6-8), through
the real commands on the real Redis: nothing a reader finds stops it, ``remove`` and
``--queue`` say what they did, and an import goes on past every bad row or stops when told."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result
from support import WorkerFleet, wait_until

from cio_pipeline.devtools.receiver import running_receiver
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.webhooks.signature import sign

pytestmark = pytest.mark.integration

KEY = "hostile-readers-key"


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "CUSTOMERIO_"))}
    return {**env, "REDIS_URL": redis_url, "LOG_FORMAT": "json", **extra}


def test_a_bounce_in_milliseconds_is_dead_lettered_not_recorded(
    redis_url: str, redis_client: redis.Redis, fleet: WorkerFleet, tmp_path: Path
) -> None:
    env = _env(redis_url, CUSTOMERIO_WEBHOOK_SIGNING_KEY=KEY)
    body = json.dumps(
        {
            "event_id": "01MILLISECONDS000000000000",
            "object_type": "email",
            "metric": "bounced",
            "timestamp": int(time.time() * 1000),
            "data": {"recipient": "ms@example.com"},
        }
    ).encode()
    stamp = int(time.time())
    headers = {"X-CIO-Timestamp": str(stamp), "X-CIO-Signature": sign(body, stamp, KEY)}
    log_path = tmp_path / "receiver.log"
    with running_receiver(env, log_path=str(log_path)) as url:
        response = httpx.post(f"{url}/webhooks/customerio", content=body, headers=headers)
    assert response.status_code == 200  # not a 4xx: Customer.io would hold every later event
    assert "webhook_implausible_timestamp" in log_path.read_text()
    fleet.run_burst()
    show = _cli(env, "suppressions", "show", "ms@example.com")
    assert show.returncode == 1 and "not suppressed" in show.stderr, (show.stdout, show.stderr)
    listing = _cli(env, "dlq", "list", "--queue", "cio-webhooks")
    assert listing.returncode == 0, listing.stderr
    assert "not applied: timestamp" in listing.stdout and "1 dead letter(s)" in listing.stdout


def test_damaged_suppressions_show_and_list_and_remove_says_what_it_did(
    redis_url: str, redis_client: redis.Redis
) -> None:
    env = _env(redis_url)
    # what an older version wrote for a bounce in milliseconds, and what nobody wrote
    redis_client.hset("cio:suppression:email:ms@example.com", "bounced", "1796667753000 ev1")
    redis_client.zadd("cio:suppressions", {"email:ms@example.com": 1796667753000})
    redis_client.set("cio:suppression:email:str@example.com", "by hand")
    redis_client.zadd("cio:suppressions", {"email:str@example.com": 1})
    assert _cli(env, "suppressions", "add", "ok@example.com").returncode == 0

    show = _cli(env, "suppressions", "show", "ms@example.com")
    assert show.returncode == 0, show.stderr  # in doubt: suppressed
    assert "DAMAGED: the stored time is not unix seconds" in show.stdout
    listing = _cli(env, "suppressions", "list")
    assert listing.returncode == 0, listing.stderr
    assert "3 suppression(s)" in listing.stdout and "Traceback" not in listing.stderr

    removed = _cli(env, "suppressions", "remove", "ms@example.com", "--reason", "fixed")
    assert (removed.returncode, removed.stdout.strip()) == (0, "removed: every reason cleared")
    assert _cli(env, "suppressions", "show", "ms@example.com").returncode == 1
    assert _cli(env, "suppressions", "remove", "str@example.com", "--reason", "x").returncode == 0

    never = _cli(env, "suppressions", "remove", "never@example.com", "--reason", "x")
    assert never.returncode == 3 and "not suppressed" in never.stderr
    assert not redis_client.exists("cio:suppression:email:never@example.com")


def _failed(client: redis.Redis, queue: str, details: Any) -> Job:
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=({"to": "a@example.com"},),
        connection=client,
        serializer=SafeSerializer,
        origin=queue,
        status=JobStatus.FAILED,
    )
    job.meta["dead_letter"] = details
    job.save()
    Result.create_failure(job, ttl=3600, exc_string="failed")
    FailedJobRegistry(queue, connection=client, serializer=SafeSerializer).add(job, ttl=3600)
    return job


def test_dlq_lists_past_damaged_records_and_keeps_to_its_own_queues(
    redis_url: str, redis_client: redis.Redis
) -> None:
    env = _env(redis_url)
    good = {"reason": "refused", "operation": "send email", "last_attempt_at": 1.7e9}
    _failed(redis_client, "cio-transactional", good)
    _failed(redis_client, "cio-transactional", {**good, "last_attempt_at": 1e300})
    _failed(redis_client, "cio-track-2", {**good, "reason": None})
    broken = _failed(redis_client, "cio-track-3", good)
    redis_client.hset(f"rq:job:{broken.id}", "created_at", "garbage")
    theirs = _failed(redis_client, "otherapp", good)

    listing = _cli(env, "dlq", "list")
    assert listing.returncode == 0, listing.stderr
    assert "4 dead letter(s)" in listing.stdout
    assert "[damaged record fields: last_attempt_at]" in listing.stdout
    assert "damaged: the job cannot be read" in listing.stdout

    typo = _cli(env, "dlq", "list", "--queue", "cio-transactionl")
    assert typo.returncode == 2 and "cio-transactional, cio-webhooks" in typo.stderr
    for action in ("purge", "replay"):
        other = _cli(env, "dlq", action, "--all", "--queue", "otherapp")
        assert other.returncode == 2 and "is not a queue of this" in other.stderr
        by_id = _cli(env, "dlq", action, theirs.id)
        assert by_id.returncode == 1 and "another application" in by_id.stderr
    purged = _cli(env, "dlq", "purge", "--all")
    assert purged.returncode == 0, purged.stderr
    assert redis_client.exists(f"rq:job:{theirs.id}")
    registry = FailedJobRegistry("otherapp", connection=redis_client, serializer=SafeSerializer)
    assert theirs.id in registry
    assert _cli(env, "dlq", "list").stdout.strip() == "no dead letters"


def test_import_rejects_what_it_cannot_read_and_finishes(redis_url: str, tmp_path: Path) -> None:
    lines = [json.dumps({"id": f"p{n}", "n": n}) for n in range(600)]
    lines[550] = '{"id": "x", "name": "Jos\\ud800"}'
    lines[560] = '{"id": "y", "deep": ' + "[" * 900 + "]" * 900 + "}"
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = _cli(_env(redis_url), "import", str(path), "--progress", "plain")
    assert result.returncode == 1, result.stderr  # finished, with rejected rows
    assert "operations enqueued: 598" in result.stdout and "rejected: 2" in result.stdout
    assert "line 551: name: is not UTF-8 text" in result.stderr + result.stdout
    assert "line 561: deep: nested more than 32 levels deep" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has installed its own SIGTERM handler (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def test_import_stops_on_sigterm_while_its_input_stalls(redis_url: str) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "import", "-", "--format", "csv"],
        env=_env(redis_url),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write("id,n\n" + "".join(f"p{n},{n}\n" for n in range(10)))
        process.stdin.flush()  # then nothing more: the pipe stays open, the reader waits
        # from the moment its handler is installed, SIGTERM stops it wherever it is: here,
        # most likely, waiting on the pipe
        wait_until(lambda: _catches_sigterm(process.pid), 30, "the import to handle SIGTERM")
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    out = process.stdout.read()
    assert code == 3, out
    assert "stopped: interrupted" in out and "resume with: cio-pipeline import -" in out
