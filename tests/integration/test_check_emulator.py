"""``cio-pipeline check`` as a real subprocess against the emulator (a real process too)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cio_pipeline.devtools.emulator_process import EmulatorHandle, running_emulator

COMMAND_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorHandle]:
    with running_emulator() as emulator:
        yield emulator


def run_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m cio_pipeline.worker.cli check`` with only ``env``'s Customer.io/CIO variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CUSTOMERIO_", "CIO_"))}
    return subprocess.run(
        [sys.executable, "-m", "cio_pipeline.worker.cli", "check"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_ok_with_the_right_keys(emu: EmulatorHandle) -> None:
    result = run_check(emu.worker_env())
    assert result.stdout.splitlines() == [
        f"Track API: OK (region us, {emu.url})",
        f"App API: OK ({emu.url})",
    ], result.stderr
    assert result.returncode == 0


def test_swapped_keys_exit_1_and_say_so(emu: EmulatorHandle) -> None:
    env = {
        **emu.worker_env(),
        "CUSTOMERIO_API_KEY": emu.app_api_key,
        "CUSTOMERIO_APP_API_KEY": emu.api_key,
    }
    result = run_check(env)
    assert result.returncode == 1, result.stderr
    track_line, app_line = result.stdout.splitlines()
    assert track_line.startswith("Track API: rejected CUSTOMERIO_API_KEY")
    assert app_line.startswith("App API: rejected CUSTOMERIO_APP_API_KEY")
    for line in (track_line, app_line):
        assert "the keys are swapped" in line
        assert emu.api_key not in line and emu.app_api_key not in line


def test_wrong_track_key_names_the_variables(emu: EmulatorHandle) -> None:
    result = run_check({**emu.worker_env(), "CUSTOMERIO_API_KEY": "not-the-key"})
    assert result.returncode == 1
    track_line, app_line = result.stdout.splitlines()
    assert track_line == (
        "Track API: Track API rejected CUSTOMERIO_SITE_ID/CUSTOMERIO_API_KEY (Basic auth). "
        "The App API key (CUSTOMERIO_APP_API_KEY) does not work here."
    )
    assert app_line.startswith("App API: OK")


def test_wrong_region_says_what_to_set() -> None:
    with running_emulator(region="eu") as emu:
        wrong = run_check(emu.worker_env())  # CUSTOMERIO_REGION defaults to us
        right = run_check({**emu.worker_env(), "CUSTOMERIO_REGION": "eu"})
    assert wrong.returncode == 1
    assert wrong.stdout.splitlines()[0] == (
        "Track API: the credentials work, but the workspace is in the eu region and "
        "CUSTOMERIO_REGION is us: set CUSTOMERIO_REGION=eu"
    )
    assert right.returncode == 0, right.stdout
    assert right.stdout.splitlines()[0] == f"Track API: OK (region eu, {emu.url})"


def test_unreachable_hosts(emu: EmulatorHandle) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    result = run_check({**emu.worker_env(), "CUSTOMERIO_TRACK_URL": dead})
    assert result.returncode == 1
    track_line, app_line = result.stdout.splitlines()
    assert track_line.startswith(f"Track API: cannot reach {dead} (not sent: ConnectError")
    assert track_line.endswith("check the network, CUSTOMERIO_REGION and CUSTOMERIO_TRACK_URL")
    assert app_line.startswith("App API: OK")


def test_missing_variable_is_named(emu: EmulatorHandle) -> None:
    env = emu.worker_env()
    del env["CUSTOMERIO_APP_API_KEY"]
    result = run_check(env)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"Track API: OK (region us, {emu.url})",
        "App API: CUSTOMERIO_APP_API_KEY is not set",
    ]


def test_invalid_settings_exit_2(emu: EmulatorHandle) -> None:
    result = run_check({**emu.worker_env(), "CUSTOMERIO_REGION": "mars"})
    assert result.returncode == 2
    assert "CUSTOMERIO_REGION" in result.stderr
    assert result.stdout == ""
