"""REDIS_URL=rediss://: producer, worker and commands over TLS, with a throwaway CA.

The test makes its own CA and server certificate (openssl), runs a TLS-only redis-server on
a loopback port, and delivers Track operations and sends through it end to end; a client
given the wrong CA gets a clear error that names the setting to fix.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ha_support import Certificates, fleet_env, make_certificates, start_tls_redis, stop
from support import WorkerFleet, wait_until

from cio_pipeline.producer import CustomerIO, SettingsError
from cio_pipeline.producer.settings import Settings
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import worker_connection

pytestmark = pytest.mark.integration

PEOPLE, SENDS = 30, 5


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[tuple[str, Certificates]]:
    certs = make_certificates(tmp_path / "tls")
    port, process = start_tls_redis(tmp_path, certs)
    yield f"rediss://127.0.0.1:{port}/0", certs
    stop(process)


def test_delivery_end_to_end_over_tls(
    tls_redis: tuple[str, Certificates], emulator: Any, tmp_path: Path
) -> None:
    url, certs = tls_redis
    settings = Settings(redis_url=url, redis_tls_ca_file=str(certs.ca))
    cio = CustomerIO(settings=settings)
    for n in range(PEOPLE):
        cio.identify(f"t{n}", seq=0)
        cio.track(f"t{n}", "tls", {"seq": 1})
    cio.close()
    env = {"REDIS_URL": url, "CIO_REDIS_TLS_CA_FILE": str(certs.ca)}
    enqueue_sends_tls(settings, SENDS)

    fleet = WorkerFleet(fleet_env(emulator, **env), tmp_path, [])
    try:
        fleet.start(1)
        wait_until(
            lambda: (
                len(emulator.state()["sends"]) == SENDS
                and sum(r["ops"] for r in emulator.requests("track")) >= 2 * PEOPLE
            ),
            60,
            "everything delivered over TLS",
            lambda: fleet.workers[0].log()[-2000:],
        )
    finally:
        fleet.stop_all()
    people = emulator.state()["people"]
    assert {f"t{n}" for n in range(PEOPLE)} <= set(people)
    client = worker_connection(WorkerSettings(queue=settings))
    assert client.ping()  # the CLI's connection speaks TLS too
    client.close()


def enqueue_sends_tls(settings: Settings, count: int) -> None:
    """``enqueue_sends`` takes a URL; over TLS the CA must come along."""
    from cio_pipeline.producer import APIClient, SendEmailRequest

    api = APIClient("unused", settings=settings)
    for n in range(count):
        api.send_email(
            SendEmailRequest(
                transactional_message_id=1,
                to=f"p{n}@example.com",
                identifiers={"id": str(n)},
                message_data={"n": n},
            )
        )
    api.close()


def test_a_wrong_ca_names_the_setting(
    tls_redis: tuple[str, Certificates], emulator: Any, tmp_path: Path
) -> None:
    url, _certs = tls_redis
    other = make_certificates(tmp_path / "other", name="other")
    cio = CustomerIO(settings=Settings(redis_url=url, redis_tls_ca_file=str(other.ca)))
    with pytest.raises(SettingsError, match="CIO_REDIS_TLS_CA_FILE"):
        cio.identify("nobody", seq=0)
    cio.close()

    env = fleet_env(emulator, REDIS_URL=url, CIO_REDIS_TLS_CA_FILE=str(other.ca))
    for command in (["dlq", "list"], ["worker", "--burst"]):
        done = subprocess.run(
            [sys.executable, "-m", "cio_pipeline.worker.cli", *command],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr[-2000:]
        assert "CIO_REDIS_TLS_CA_FILE" in done.stderr
        assert "Traceback" not in done.stderr


def test_a_plain_redis_url_with_tls_files_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not used")
    with pytest.raises(SettingsError, match="CIO_REDIS_TLS_CA_FILE is set but REDIS_URL"):
        Settings(redis_url="redis://127.0.0.1:1/0", redis_tls_ca_file=str(ca))
