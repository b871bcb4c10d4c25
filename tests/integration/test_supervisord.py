"""config/supervisord.conf under a real supervisord: its programs start, answer, and stop on
supervisord's SIGTERM with no process left.

The file is used as shipped, with only what an installation changes rewritten: the paths
(/opt/cio-pipeline, /etc/cio-pipeline, /var/log/cio-pipeline), no ``user=`` (no such system
user here), two workers instead of four, and free ports instead of 8026 and 9464.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import redis
from process_tree import alive, answers, descendants, wait_for
from rq import Worker
from support import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKERS = 2
START_TIMEOUT_S = 90.0  # six Python processes starting on two shared cores
STOP_TIMEOUT_S = 30.0  # the workers hold nothing: well inside their 90 s stopwaitsecs

_SUPERVISORD = """\
[supervisord]
nodaemon=true
logfile={work}/supervisord.log
pidfile={work}/supervisord.pid
childlogdir={work}/log

[unix_http_server]
file={work}/supervisor.sock

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{work}/supervisor.sock

"""


def _installed_config(work: Path, webhooks_port: int, metrics_port: int) -> Path:
    shipped = (ROOT / "config" / "supervisord.conf").read_text()
    text = (
        shipped.replace("/opt/cio-pipeline/.venv/bin/", f"{BIN}/")
        .replace("/etc/cio-pipeline/", f"{work}/etc/")
        .replace("/var/log/cio-pipeline/", f"{work}/log/")
        .replace("directory=/opt/cio-pipeline", f"directory={work}")
        .replace("numprocs=4", f"numprocs={WORKERS}")
        .replace("--port 8026", f"--port {webhooks_port}")
        .replace("--port 9464", f"--port {metrics_port}")
    )
    lines = [line for line in text.splitlines() if not line.startswith("user=")]
    settings = "\n".join(line for line in lines if not line.startswith(";"))
    assert "/opt/" not in settings and "/var/log" not in settings  # every path was rewritten
    config = work / "supervisord.conf"
    config.write_text(_SUPERVISORD.format(work=work) + "\n".join(lines) + "\n")
    return config


def test_supervisord_runs_the_shipped_programs_and_stops_them_all(
    redis_url: str, redis_client: redis.Redis, emulator: Any, tmp_path: Path
) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "log").mkdir()
    ports = {"webhooks": free_port(), "metrics": free_port(), "dashboard": free_port()}
    settings = {
        **emulator.worker_env(),
        "REDIS_URL": redis_url,
        "CUSTOMERIO_WEBHOOK_SIGNING_KEY": "supervisord-test-signing-key",
    }
    (tmp_path / "etc" / "cio-pipeline.env").write_text(
        "".join(f"{k}={v}\n" for k, v in settings.items())
    )
    # the shipped rq-dashboard.env with this Redis and port
    dashboard_env = (ROOT / "config" / "rq-dashboard.env").read_text()
    dashboard_env = dashboard_env.replace(
        "RQ_DASHBOARD_REDIS_URL=redis://127.0.0.1:6379/0", f"RQ_DASHBOARD_REDIS_URL={redis_url}"
    ).replace("RQ_DASHBOARD_PORT=9181", f"RQ_DASHBOARD_PORT={ports['dashboard']}")
    (tmp_path / "etc" / "rq-dashboard.env").write_text(dashboard_env)
    config = _installed_config(tmp_path, ports["webhooks"], ports["metrics"])

    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "RQ_DASHBOARD_", "VIRTUAL_ENV"))
    }
    supervisord = subprocess.Popen(
        [str(BIN / "supervisord"), "-n", "-c", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    family = []
    try:
        checks = {
            "workers": lambda: len(Worker.all(connection=redis_client)) == WORKERS,
            "webhooks": lambda: answers(f"http://127.0.0.1:{ports['webhooks']}/healthz"),
            "metrics": lambda: answers(f"http://127.0.0.1:{ports['metrics']}/metrics"),
            "dashboard": lambda: answers(f"http://127.0.0.1:{ports['dashboard']}/"),
        }
        for name, check in checks.items():
            wait_for(lambda c=check: c() or supervisord.poll() is not None, START_TIMEOUT_S, name)
            log = (tmp_path / "supervisord.log").read_text()
            assert supervisord.poll() is None, log[-3000:]
        names = {w.name for w in Worker.all(connection=redis_client)}
        workers_json = f"http://127.0.0.1:{ports['dashboard']}/0/data/workers.json"
        listed = httpx.get(workers_json, timeout=10).text
        assert all(name in listed for name in names)  # the dashboard is on the workers' Redis
        family = descendants(supervisord.pid)
        commands = " | ".join(p.command for p in family)
        assert "emulator" not in commands
        assert redis_url not in commands  # no Redis URL (nor its password) in any argv

        supervisord.send_signal(signal.SIGTERM)  # what systemd or an init script sends it
        supervisord.wait(timeout=STOP_TIMEOUT_S)
        wait_for(lambda: not any(alive(p) for p in family), 10, "every program gone")
    finally:
        if supervisord.poll() is None:
            family = family or descendants(supervisord.pid)
            supervisord.kill()
            supervisord.wait(timeout=10)
        for proc in family:
            if alive(proc):
                os.kill(proc.pid, signal.SIGKILL)
    log = (tmp_path / "supervisord.log").read_text()
    assert "SIGKILL" not in log, log[-3000:]  # every program stopped on its stop signal
    for n in range(WORKERS):  # each worker finished and exited 0
        assert f"stopped: cio-pipeline-worker-{n:02d} (exit status 0)" in log, log[-3000:]
