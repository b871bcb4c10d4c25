"""docs/exit-codes.md, row by row: the table is parsed, and the case every row names is run
against the test's Redis database (commands in-process through ``main``; the servers, the
worker and the closed pipe as real ``cio-pipeline`` subprocesses). A row without a case here,
or a case without a row, fails the test, so the page and the commands cannot drift."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry
from rq.results import Result

from cio_pipeline.producer import APIClient, SendEmailRequest
from cio_pipeline.producer.serializer import SafeSerializer
from cio_pipeline.worker.cli import main
from cio_pipeline.worker.core.lifecycle import listening_url, stop

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"
TX = "cio-transactional"
_OWN = ("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_")


def documented_rows() -> list[tuple[str, int]]:
    """(command, code) of every row of the table in docs/exit-codes.md."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[1].isdigit():
            rows.append((cells[0].strip("`"), int(cells[1])))
    return rows


@dataclass
class Run:
    code: int
    out: str
    err: str


@dataclass
class Case:
    """What a scenario gets: the test's Redis, a folder, and ways to run the command."""

    redis_url: str
    client: redis.Redis
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch
    capsys: pytest.CaptureFixture[str]

    def env(self, **extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
        return {**base, "REDIS_URL": self.redis_url, **extra}

    def run(self, *argv: str, **env: str) -> Run:
        """``cio-pipeline argv`` in this process, with only ``env`` (and REDIS_URL) set."""
        for name in list(os.environ):
            if name.startswith(_OWN):
                self.monkeypatch.delenv(name)
        for name, value in {"REDIS_URL": self.redis_url, **env}.items():
            self.monkeypatch.setenv(name, value)
        self.capsys.readouterr()
        code = main(list(argv))
        captured = self.capsys.readouterr()
        return Run(code, captured.out, captured.err)

    def spawn(self, *argv: str, **env: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "cio_pipeline.worker.cli", *argv],
            env=self.env(PYTHONUNBUFFERED="1", **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=self.tmp_path,
        )


def _dead_letter(client: redis.Redis, *, ambiguous: bool = False) -> str:
    """A failed send as the worker leaves it (RQ's registry, result and our record)."""
    job = Job.create(
        "cio_pipeline.worker.jobs.send_email",
        args=({"transactional_message_id": 1, "to": "ann@example.com"},),
        kwargs={"idempotency_key": f"k-{time.monotonic_ns()}"},
        connection=client,
        serializer=SafeSerializer,
        origin=TX,
        description="cio send email (message 1)",
        status=JobStatus.FAILED,
    )
    job.meta["dead_letter"] = {
        "reason": "Customer.io refused the send",
        "operation": "send email",
        "status": 504 if ambiguous else 400,
        "attempts": 1,
        "ambiguous": ambiguous,
        "first_attempt_at": 1_700_000_000.0,
        "last_attempt_at": 1_700_000_060.0,
    }
    job.save()
    Result.create_failure(job, ttl=3600, exc_string="dead letter")
    FailedJobRegistry(TX, connection=client, serializer=SafeSerializer).add(job, ttl=3600)
    return job.id


def _queued_send(client: redis.Redis) -> str:
    api = APIClient(None, redis=client)
    return api.send_email(
        SendEmailRequest(transactional_message_id=1, to="ann@example.com", identifiers={"id": "1"})
    )


def _served_then_stopped(case: Case, prefix: str, *argv: str, **env: str) -> int:
    process = case.spawn(*argv, **env)
    try:
        url = listening_url(process, prefix, 30)
        assert url is not None, process.stderr.read() if process.stderr else ""
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=15)
    finally:
        stop(process)


def _bad_counter(case: Case) -> Run:
    case.client.hset("cio:counters", "track_delivered", "not-a-number")
    run = case.run("stats")
    assert re.fullmatch(
        r"cio-pipeline stats: internal error \(ValueError\); traceback in \S+\n", run.err
    ), run.err
    assert Path(run.err.split("traceback in ")[1].strip()).read_text().startswith("Traceback")
    return run


def _closed_pipe(case: Case) -> Run:
    process = case.spawn("stats", "--json")
    assert process.stdout is not None
    process.stdout.close()  # the reader goes away before the command writes
    code = process.wait(timeout=30)
    err = process.stderr.read() if process.stderr else ""
    return Run(code, "", err)


def _worker_burst(case: Case, **env: str) -> Run:
    creds = {"CUSTOMERIO_SITE_ID": "s", "CUSTOMERIO_API_KEY": "k", "CUSTOMERIO_APP_API_KEY": "a"}
    process = case.spawn("worker", "--burst", **creds, **env)
    out, err = process.communicate(timeout=60)
    return Run(process.returncode, out, err)


def _check_ok(case: Case) -> Run:
    from cio_pipeline.devtools.emulator_process import running_emulator

    with running_emulator() as emulator:
        return case.run("check", **emulator.worker_env())


def _health_ok(case: Case) -> Run:
    worker = Worker([Queue(TX, connection=case.client)], connection=case.client, name="h6-probe")
    worker.register_birth()
    worker.heartbeat()
    try:
        return case.run("health")
    finally:
        worker.register_death()


def _import(case: Case, text: str, *argv: str) -> Run:
    rows = case.tmp_path / "rows.csv"
    rows.write_text(text)
    return case.run("import", str(rows), "--progress", "plain", *argv)


def _metrics_port_taken(case: Case) -> Run:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        return case.run("metrics", "--port", str(taken.getsockname()[1]))


def _suppressed(case: Case, *argv: str) -> Run:
    assert case.run("suppressions", "add", "ann@example.com").code == 0
    return case.run("suppressions", *argv)


def _show_dead_letter(case: Case) -> Run:
    job_id = _dead_letter(case.client, ambiguous=True)
    run = case.run("dlq", "show", job_id)
    labels = [line.split(":", 1)[0] for line in run.out.splitlines() if ":" in line]
    assert labels.count("reason") == 1 and labels.count("attempts") == 1  # each field once
    assert "last attempt:  2023-11-14T22:14:20Z" in run.out  # ISO-8601 UTC
    assert f"cio-pipeline dlq replay --resend-ambiguous {job_id}" in run.out  # the real id
    return run


def _replay_ambiguous(case: Case) -> Run:
    job_id = _dead_letter(case.client, ambiguous=True)
    run = case.run("dlq", "replay", job_id)
    assert f"--resend-ambiguous {job_id}" in run.err
    return run


def _remove_unknown(case: Case) -> Run:
    before = case.client.dbsize()
    run = case.run("suppressions", "remove", "nobody@example.com", "--reason", "x")
    assert case.client.dbsize() == before  # nothing written
    assert "not suppressed" in run.err
    return run


def _strict_import(case: Case) -> Run:
    run = _import(case, BAD, "--types", "age:int", "--strict")
    # the bad row is line 3: the resume command starts past it, not at it again
    assert run.out.splitlines()[-1].endswith("--strict --start-line 4"), run.out
    return run


GOOD = "id,email,age\n1,ann@example.com,41\n2,bob@example.com,7\n"
BAD = "id,email,age\n1,ann@example.com,41\n2,bob@example.com,x\n3,cy@example.com,5\n"

#: (command, code) -> the case of that row of docs/exit-codes.md.
CASES: dict[tuple[str, int], Callable[[Case], Run | int]] = {
    ("any", 2): lambda c: c.run("stats", CIO_PARTITONS="8"),
    ("any", 70): _bad_counter,
    ("any", 141): _closed_pipe,
    ("worker", 0): _worker_burst,
    ("worker", 2): lambda c: _worker_burst(c, CIO_WEBHOOK_HOOK="nosuchmodule_h6:f"),
    ("dlq list", 0): lambda c: c.run("dlq", "list"),
    ("dlq list", 2): lambda c: c.run("dlq", "list", "--queue", "bogus"),
    ("dlq show", 0): _show_dead_letter,
    ("dlq show", 1): lambda c: c.run("dlq", "show", _queued_send(c.client)),
    ("dlq show", 3): lambda c: c.run("dlq", "show", "no-such-job"),
    ("dlq replay", 0): lambda c: c.run("dlq", "replay", _dead_letter(c.client)),
    ("dlq replay", 1): _replay_ambiguous,
    ("dlq replay", 2): lambda c: c.run("dlq", "replay"),
    ("dlq replay", 3): lambda c: c.run("dlq", "replay", "no-such-job"),
    ("dlq purge", 0): lambda c: c.run("dlq", "purge", _dead_letter(c.client)),
    ("dlq purge", 1): lambda c: c.run("dlq", "purge", _queued_send(c.client)),
    ("dlq purge", 3): lambda c: c.run("dlq", "purge", "no-such-job"),
    ("check", 0): _check_ok,
    ("check", 1): lambda c: c.run("check"),
    ("check", 2): lambda c: c.run("check", CUSTOMERIO_REGION="mars"),
    ("import", 0): lambda c: _import(c, GOOD),
    ("import", 1): lambda c: _import(c, BAD, "--types", "age:int"),
    ("import", 2): lambda c: c.run("import", str(c.tmp_path / "missing.csv")),
    ("import", 3): _strict_import,
    ("stats", 0): lambda c: c.run("stats"),
    ("health", 0): _health_ok,
    ("health", 1): lambda c: c.run("health"),
    ("metrics", 0): lambda c: _served_then_stopped(
        c, "serving /metrics on ", "metrics", "--port", "0"
    ),
    ("metrics", 2): _metrics_port_taken,
    ("webhooks", 0): lambda c: _served_then_stopped(
        c,
        "webhooks listening on ",
        "webhooks",
        "--port",
        "0",
        CUSTOMERIO_WEBHOOK_SIGNING_KEY="k" * 32,
    ),
    ("webhooks", 2): lambda c: c.run("webhooks", "--port", "0"),
    ("suppressions list", 0): lambda c: c.run("suppressions", "list"),
    ("suppressions show", 0): lambda c: _suppressed(c, "show", "ANN@example.com"),
    ("suppressions show", 1): lambda c: c.run("suppressions", "show", "nobody@example.com"),
    ("suppressions add", 0): lambda c: c.run("suppressions", "add", "id:42"),
    ("suppressions add", 2): lambda c: c.run("suppressions", "add", "bogus"),
    ("suppressions remove", 0): lambda c: _suppressed(
        c, "remove", "ann@example.com", "--reason", "fixed"
    ),
    ("suppressions remove", 3): _remove_unknown,
}


def test_every_row_of_the_table_has_a_case_and_every_case_a_row() -> None:
    rows = documented_rows()
    # ("any", 2) has two rows, settings and Redis: the settings case runs here, the Redis one
    # for every command in test_commands_against_a_bad_redis.py.
    assert sorted(rows) == sorted([*CASES, ("any", 2)])


@pytest.fixture
def case(
    redis_url: str,
    redis_client: redis.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Case]:
    monkeypatch.chdir(tmp_path)
    yield Case(redis_url, redis_client, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize(("command", "code"), list(CASES), ids=lambda v: str(v))
def test_the_documented_case_exits_with_the_documented_code(
    case: Case, command: str, code: int
) -> None:
    result = CASES[(command, code)](case)
    got = result if isinstance(result, int) else result.code
    detail = "" if isinstance(result, int) else f"\nstdout: {result.out}\nstderr: {result.err}"
    assert got == code, f"{command}: exit {got}, documented {code}{detail}"
    if isinstance(result, Run):
        assert "Traceback" not in result.err
        if code in (2, 3, 70) or (code == 1 and command != "check"):
            # one line on stderr (import's rejected rows and check's verdicts are stdout)
            assert len(result.err.splitlines()) <= 2, result.err
        if code == 141:
            assert result.err == ""
