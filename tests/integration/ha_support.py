"""Helpers of the Redis HA tests: a throwaway CA (openssl), redis-server over TLS, and a
master + replica + three Sentinels, all on loopback ports in the test's directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from support import free_port

from cio_pipeline.devtools.emulator_process import die_with_parent
from cio_pipeline.devtools.redis_server import server_args

MASTER_NAME = "cio"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)


@dataclass(frozen=True)
class Certificates:
    """A CA and a server certificate it signed for 127.0.0.1 / localhost."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path, name: str = "ca") -> Certificates:
    """A new CA in ``directory`` (files named after ``name``) and a server certificate."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test's CA")
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / f"{name}.pem", directory / f"{name}.key"
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        f"/CN=cio-test-{name}",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
    )
    key, csr = directory / f"{name}-server.key", directory / f"{name}-server.csr"
    cert, ext = directory / f"{name}-server.pem", directory / f"{name}-server.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        str(key),
        "-out",
        str(csr),
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        str(ext),
        "-out",
        str(cert),
    )
    return Certificates(ca, cert, key)


def start_server(
    args: list[str], ping: Callable[[], Any], timeout_s: float = 10.0
) -> subprocess.Popen[bytes]:
    """Start ``redis-server args`` and wait (bounded) until ``ping()`` answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    process = subprocess.Popen(
        [binary, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            ping()
            return process
        except redis.ConnectionError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"redis-server {args[:2]} did not start") from None
            time.sleep(0.02)  # a server that exposes no readiness event


def stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def _plain_args(port: int, workdir: Path) -> list[str]:
    return server_args(port, workdir)


def start_tls_redis(workdir: Path, certs: Certificates) -> tuple[int, subprocess.Popen[bytes]]:
    """A redis-server that speaks only TLS on a free loopback port."""
    port = free_port()
    args = [
        *_plain_args(0, workdir),
        "--tls-port",
        str(port),
        "--tls-cert-file",
        str(certs.cert),
        "--tls-key-file",
        str(certs.key),
        "--tls-ca-cert-file",
        str(certs.ca),
        "--tls-auth-clients",
        "no",
    ]

    def ping() -> None:
        client = redis.Redis(
            port=port, ssl=True, ssl_ca_certs=str(certs.ca), socket_connect_timeout=0.5
        )
        try:
            client.ping()
        finally:
            client.close()

    return port, start_server(args, ping)


@dataclass
class SentinelGroup:
    """A master, one replica and three Sentinels (quorum 2) on loopback, in ``workdir``."""

    workdir: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def sentinels(self) -> str:
        """``CIO_REDIS_SENTINELS`` for this group."""
        return ",".join(f"127.0.0.1:{self.ports[f's{i}']}" for i in range(3))

    def start(self) -> None:
        for name in ("a", "b", "s0", "s1", "s2"):
            self.ports[name] = free_port()
        self.start_node("a")
        self.start_node("b", replica_of=self.ports["a"])
        for i in range(3):
            self._start_sentinel(f"s{i}")
        wait_for(lambda: self._sentinels_see_replica(), 30, "the Sentinels to see the replica")

    def start_node(self, name: str, replica_of: int | None = None) -> None:
        port = self.ports[name]
        node_dir = self.workdir / name
        node_dir.mkdir(exist_ok=True)
        args = _plain_args(port, node_dir)
        if replica_of is not None:
            args += ["--replicaof", "127.0.0.1", str(replica_of)]
        self.processes[name] = start_server(args, lambda: self.client(name).ping())

    def _start_sentinel(self, name: str) -> None:
        port = self.ports[name]
        conf = self.workdir / f"{name}.conf"
        # Sentinel rewrites its file as it learns the group, so each has its own.
        conf.write_text(
            f"port {port}\nbind 127.0.0.1\ndir {self.workdir}\n"
            f"sentinel monitor {MASTER_NAME} 127.0.0.1 {self.ports['a']} 2\n"
            f"sentinel down-after-milliseconds {MASTER_NAME} 1000\n"
            f"sentinel failover-timeout {MASTER_NAME} 10000\n"
            f"sentinel parallel-syncs {MASTER_NAME} 1\n"
        )
        self.processes[name] = start_server(
            [str(conf), "--sentinel"], lambda: self.client(name).ping()
        )

    def client(self, name: str) -> redis.Redis:
        return redis.Redis(port=self.ports[name], socket_connect_timeout=0.5, socket_timeout=2)

    def master_port(self) -> int:
        """The master's port as the first Sentinel tells it."""
        _host, port = self.client("s0").sentinel_get_master_addr_by_name(MASTER_NAME)
        return int(port)

    def master(self) -> redis.Redis:
        """A client of the node the first Sentinel names master now."""
        port = self.master_port()
        name = next(n for n, p in self.ports.items() if p == port)
        return self.client(name)

    def _sentinels_see_replica(self) -> bool:
        for i in range(3):
            replicas = self.client(f"s{i}").sentinel_slaves(MASTER_NAME)
            if not any(r.get("master-link-status") == "ok" for r in replicas):
                return False
        return True

    def kill(self, name: str) -> None:
        """SIGKILL a node: no goodbye to its clients or its replica."""
        process = self.processes.pop(name)
        process.kill()
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop(process)


def wait_for(
    predicate: Callable[[], bool],
    timeout_s: float,
    what: str,
    explain: Callable[[], str] | None = None,
) -> None:
    """Poll ``predicate`` (bounded; Redis errors count as "not yet"); on a timeout the
    failure adds what ``explain`` returns (logs worth reading)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            detail = f"\n{explain()}" if explain is not None else ""
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}{detail}")
        time.sleep(0.05)


def fleet_env(emulator: Any, **env: str) -> dict[str, str]:
    """A worker environment: this process's, without its CIO settings, plus ``env``."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CIO_", "CUSTOMERIO_", "REDIS_URL", "LOG_"))
    }
    return {**base, **emulator.worker_env(), "LOG_FORMAT": "json", "PYTHONUNBUFFERED": "1", **env}
