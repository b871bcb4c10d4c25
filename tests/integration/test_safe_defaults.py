"""Safe defaults, checked on real processes: ``metrics`` listens on loopback only unless told
otherwise (the bound socket, read from the kernel's table); the producer in an application
whose environment holds ``CIO_SITE_ID`` builds a client and warns; ``stats --watch`` in an
80x24 terminal (tmux) shows the totals, the rates and the workers; ``CIO_WEBHOOK_HOOK``
imports the application's module from the worker's directory, as rq's worker does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from rq import Queue, Worker

from cio_pipeline.worker.core.lifecycle import listening_url, stop

pytestmark = pytest.mark.integration

_OWN = ("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_")


def _env(redis_url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(_OWN)}
    return {**base, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1", **extra}


def _listening_addresses(port: int) -> set[str]:
    """The local addresses of every TCP socket listening on ``port`` (from /proc/net)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if int(hex_port, 16) == port and fields[3] == "0A":  # 0A: LISTEN
                assert len(address) == width
                found.add(address)
    return found


def test_metrics_listens_on_loopback_only_by_default(redis_url: str, tmp_path: Path) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.fail("this test reads the kernel's socket table from /proc/net (Linux)")
    process = subprocess.Popen(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "metrics", "--port", "0"],
        env=_env(redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        url = listening_url(process, "serving /metrics on ", 60)
        assert url is not None, process.stderr.read() if process.stderr else ""
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert url == f"http://127.0.0.1:{port}/metrics"
        assert _listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex
    finally:
        stop(process)
    help_text = subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "metrics", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "default: 127.0.0.1" in help_text and "default: 9464" in help_text


def test_the_producer_warns_about_cio_site_id_and_builds_a_client(redis_url: str) -> None:
    script = (
        "import warnings\n"
        "from cio_pipeline import CustomerIO, UnknownSettingWarning\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        "    client = CustomerIO.from_env()\n"
        "    job_id = client.identify('42', plan='pro')\n"
        "assert [w.category for w in caught] == [UnknownSettingWarning], caught\n"
        "print(job_id, str(caught[0].message))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(redis_url, CIO_SITE_ID="x", CIO_API_KEY="y"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    job_id, message = done.stdout.split(" ", 1)
    assert redis.Redis.from_url(redis_url).exists(f"rq:job:{job_id}")
    assert "CIO_SITE_ID (did you mean CUSTOMERIO_SITE_ID?)" in message
    assert "CIO_API_KEY" in message


@pytest.fixture
def tmux() -> Iterator[str]:
    """A private tmux server (its own socket name), killed at the end."""
    if shutil.which("tmux") is None:
        pytest.fail("tmux is needed to render stats --watch (apt-get install tmux)")
    name = f"cio-h6-{os.getpid()}"
    yield name
    subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, timeout=30)


def test_stats_watch_fits_80x24_with_totals_rates_and_workers(
    redis_url: str, redis_client: redis.Redis, tmux: str
) -> None:
    queue = Queue("cio-transactional", connection=redis_client)
    workers = []
    for n in range(12):  # more than fit: the view must summarise, not cut
        worker = Worker([queue], connection=redis_client, name=f"h6-watch-{n:02}")
        worker.register_birth()
        worker.heartbeat()
        workers.append(worker)
    redis_client.hset("cio:counters", mapping={"track_delivered": 1234, "track_dead": 5})
    command = (
        f"env REDIS_URL={redis_url} {sys.executable} -m cio_pipeline.worker.cli stats "
        "--watch --interval-s 0.5"
    )
    subprocess.run(
        ["tmux", "-L", tmux, "new-session", "-d", "-x", "80", "-y", "24", command],
        check=True,
        timeout=30,
    )
    screen = ""
    deadline = time.monotonic() + 60
    while "WORKERS" not in screen and time.monotonic() < deadline:
        time.sleep(0.2)  # a terminal has no event to wait on: poll the pane, bounded
        screen = subprocess.run(
            ["tmux", "-L", tmux, "capture-pane", "-p"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    lines = screen.splitlines()
    assert "WORKERS: 12 live" in screen, screen
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert any(line.startswith("all time") and "1,234" in line for line in lines), screen
    assert "RATES (last 60 s)" in screen and any(line.startswith("track ") for line in lines)
    assert "QUEUES" in screen and "h6-watch-00" in screen
    assert "more ('cio-pipeline stats' lists all)" in screen  # summarised, not cut
    assert "…" not in screen  # no line was cut short
    for worker in workers:
        worker.register_death()


@pytest.mark.timeout(600)  # three worker start-ups on a shared machine: a bound, not a speed
def test_the_webhook_hook_is_imported_from_the_worker_directory(
    redis_url: str, tmp_path: Path
) -> None:
    app = tmp_path / "myapp_h6"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "webhooks.py").write_text("def on_event(event):\n    return None\n")
    env = _env(
        redis_url,
        CUSTOMERIO_SITE_ID="s",
        CUSTOMERIO_API_KEY="k",
        CUSTOMERIO_APP_API_KEY="a",
        CIO_WEBHOOK_HOOK="myapp_h6.webhooks:on_event",
    )
    # The console script, not `python -m` (which puts the current directory on sys.path
    # itself): the installed command is what an operator runs.
    script = Path(sys.executable).parent / "cio-pipeline"
    assert script.exists(), "the cio-pipeline console script is installed beside python"
    cli = [str(script), "worker", "--burst"]
    # from the application's folder, as `rq worker` is run
    done = subprocess.run(cli, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    # from elsewhere, with --path naming the folder; without it, exit 2 with a hint
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = subprocess.run(
        [*cli, "--path", str(tmp_path)],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    done = subprocess.run(cli, env=env, cwd=elsewhere, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "CIO_WEBHOOK_HOOK" in done.stderr and "--path" in done.stderr
    assert len(done.stderr.splitlines()) == 1
