"""Cancel a queued send and follow a send to its inbox (issue 20, part A): real Redis, real
``cio-pipeline worker`` subprocesses, the emulator, the real webhook receiver, and the
``cio-pipeline sends`` command."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from support import WorkerFleet, finished_count, queue_report, wait_until

from cio_pipeline.devtools.emulator_process import running_emulator
from cio_pipeline.devtools.receiver import running_receiver
from cio_pipeline.producer import APIClient, SendEmailRequest, Settings
from cio_pipeline.producer.send_records import CancelResult
from cio_pipeline.worker.cli import main as cli_main

pytestmark = pytest.mark.integration

QUEUE = "cio-transactional"
SIGNING_KEY = "sends-signing-key"


def _request(n: int) -> SendEmailRequest:
    return SendEmailRequest(
        transactional_message_id=1,
        to=f"p{n}@example.com",
        identifiers={"id": str(n)},
        message_data={"n": n},
    )


def _sends_cli(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CIO_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "sends", *args],
        env={**env, "REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _arrived(emulator: Any) -> Counter[int]:
    return Counter(s["request"]["message_data"]["n"] for s in emulator.state()["sends"])


def test_a_cancelled_send_never_arrives_and_a_sent_one_cannot_be_cancelled(
    redis_url: str, emulator: Any, fleet: WorkerFleet
) -> None:
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    api.send_email(_request(1), idempotency_key="K1")
    api.send_email(_request(2), idempotency_key="K2")

    cancelled = _sends_cli(redis_url, "cancel", "K1")
    assert (cancelled.returncode, cancelled.stdout.strip()) == (0, "K1: cancelled"), cancelled

    fleet.start(1)
    client = redis.Redis.from_url(redis_url)
    wait_until(
        lambda: finished_count(client, QUEUE) >= 2,
        60,
        "both jobs to finish",
        lambda: queue_report(client, QUEUE),
    )
    assert _arrived(emulator) == Counter({2: 1})  # only K2
    (sent,) = emulator.state()["sends"]

    late = _sends_cli(redis_url, "cancel", "K2")
    assert late.returncode == 1, late
    assert sent["delivery_id"] in late.stderr and "already sent" in late.stderr
    assert "Traceback" not in late.stderr

    unknown = _sends_cli(redis_url, "cancel", "no-such-key")
    assert (unknown.returncode, unknown.stderr.strip()) == (
        3,
        "cio-pipeline sends cancel: no-such-key: no such send",
    )
    assert int(client.hget("cio:counters", "sends_cancelled") or 0) == 1
    shown = json.loads(_sends_cli(redis_url, "show", "K1", "--json").stdout)
    assert shown["state"] == "cancelled" and shown["delivery_id"] is None
    listed = _sends_cli(redis_url, "list", "--state", "cancelled", "--since", "1h")
    assert listed.returncode == 0 and "K1" in listed.stdout and "K2" not in listed.stdout


def test_two_hundred_cancels_race_two_workers(
    redis_url: str,
    emulator: Any,
    fleet: WorkerFleet,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    count = 200
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    with api.pipeline() as pipe:
        for n in range(count):
            pipe.send_email(_request(n), idempotency_key=f"R{n}")
    client = redis.Redis.from_url(redis_url)
    fleet.start(2)
    # Race from the moment sends start leaving: each cancel through the command's own code
    # (in this process, so 200 cancels do not cost 200 interpreter start-ups).
    wait_until(lambda: len(emulator.state()["sends"]) >= 1, 60, "the first send to arrive")
    monkeypatch.setenv("REDIS_URL", redis_url)
    order = list(range(count))
    random.Random(20).shuffle(order)
    codes = {n: cli_main(["sends", "cancel", f"R{n}"]) for n in order}
    capsys.readouterr()
    wait_until(
        lambda: finished_count(client, QUEUE) >= count,
        120,
        f"all {count} jobs to finish",
        lambda: queue_report(client, QUEUE),
    )
    arrived = _arrived(emulator)
    assert set(codes.values()) <= {0, 1}  # every cancel answered: cancelled, or refused
    assert all(times == 1 for times in arrived.values())  # no send twice
    reported_cancelled = {n for n, code in codes.items() if code == 0}
    assert reported_cancelled.isdisjoint(arrived)  # never both
    assert reported_cancelled | set(arrived) == set(range(count))  # and nothing lost
    assert reported_cancelled and arrived  # both sides of the race happened
    cancelled_count = int(client.hget("cio:counters", "sends_cancelled") or 0)
    assert cancelled_count == len(reported_cancelled)
    for n in order[:20]:  # what a person is told afterwards agrees
        outcome = api.cancel_send(f"R{n}")
        expected = CancelResult.CANCELLED if n in reported_cancelled else CancelResult.DELIVERED
        assert outcome.result is expected


@pytest.fixture
def webhook_loop(redis_url: str, tmp_path: Path) -> Iterator[tuple[Any, WorkerFleet]]:
    """The emulator posting signed webhooks to the real receiver; a fleet for the workers."""
    base = {
        "REDIS_URL": redis_url,
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY": SIGNING_KEY,
        "LOG_FORMAT": "json",
    }
    with running_receiver(base, log_path=str(tmp_path / "receiver.log")) as url:
        args = ["--webhook-url", f"{url}/webhooks/customerio", "--webhook-signing-key", SIGNING_KEY]
        with running_emulator(extra_args=args) as emulator:
            env = {
                k: v
                for k, v in os.environ.items()
                if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
            }
            env.update(emulator.worker_env())
            env.update(base)
            fleet = WorkerFleet(env, tmp_path, [])
            try:
                yield emulator, fleet
            finally:
                fleet.stop_all()


def test_show_follows_a_send_to_its_inbox(
    redis_url: str, webhook_loop: tuple[Any, WorkerFleet]
) -> None:
    emulator, fleet = webhook_loop
    emulator.set_webhook_outcome("p2@example.com", "none")  # the test posts K2's events
    api = APIClient("unused", settings=Settings(redis_url=redis_url))
    api.send_email(_request(2), idempotency_key="K2")
    fleet.start(1)  # drains cio-transactional and cio-webhooks

    def state() -> str | None:
        status = api.send_status("K2")
        return None if status is None else status.state

    wait_until(lambda: state() == "delivered", 60, "K2 to be sent", lambda: str(state()))
    status = api.send_status("K2")
    assert status is not None and status.delivery_id is not None
    emulator.post_delivery_events(status.delivery_id, "delivered", "opened")

    def events() -> list[str]:
        found = api.send_status("K2")
        return [] if found is None else [e["metric"] for e in found.events]

    wait_until(
        lambda: events() == ["delivered", "opened"],
        60,
        "the delivered and opened webhooks to join K2",
        lambda: str(events()),
    )

    shown = _sends_cli(redis_url, "show", "K2")
    assert shown.returncode == 0, shown
    lines = shown.stdout.splitlines()
    assert lines[0] == f"send K2: delivered (delivery_id {status.delivery_id})"
    timeline = [line.split("  ")[-1] for line in lines[1:]]
    assert timeline[0].startswith("queued (job ")
    assert timeline[1:] == [
        f"sent: delivery_id {status.delivery_id}",
        "delivered (reporting webhook)",
        "opened (reporting webhook)",
    ]
    for line in lines[1:]:  # each with its time
        assert line.strip()[:4].isdigit() and line.strip()[4] == "-"

    document = json.loads(_sends_cli(redis_url, "show", "K2", "--json").stdout)
    assert document["state"] == "delivered"
    assert document["delivery_id"] == status.delivery_id
    (attempt,) = document["attempts"]  # sent at its first attempt
    assert (attempt["attempt"], attempt["outcome"], attempt["status"]) == (1, "delivered", 200)
    assert [e["metric"] for e in document["events"]] == ["delivered", "opened"]
    assert all(isinstance(e["at"], int | float) and e["at"] > 0 for e in document["events"])
    missing = _sends_cli(redis_url, "show", "nope")
    assert missing.returncode == 3 and "no such send" in missing.stderr
