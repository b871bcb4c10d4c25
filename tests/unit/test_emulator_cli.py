"""``cio-pipeline emulator`` argument handling (the server itself runs in integration tests)."""

from __future__ import annotations

import argparse

import pytest

from cio_pipeline.devtools.emulator import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID
from cio_pipeline.devtools.emulator.cli import config_from_args, register, run


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(["emulator", *argv])


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUSTOMERIO_SITE_ID", "CUSTOMERIO_API_KEY", "CUSTOMERIO_APP_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    args = parse([])
    assert (args.host, args.port, args.func) == ("127.0.0.1", 8025, run)
    config = config_from_args(args)
    assert (config.site_id, config.api_key, config.app_api_key) == (
        DEV_SITE_ID,
        DEV_API_KEY,
        DEV_APP_API_KEY,
    )
    assert (config.region, config.track_rate, config.app_rate) == ("us", 0, 0)
    assert config.send_retry_after and not config.record_bodies


def test_credentials_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMERIO_SITE_ID", "env-site")
    monkeypatch.setenv("CUSTOMERIO_API_KEY", "env-key")
    monkeypatch.setenv("CUSTOMERIO_APP_API_KEY", "env-app")
    config = config_from_args(parse(["--api-key", "flag-key"]))
    assert (config.site_id, config.api_key, config.app_api_key) == (
        "env-site",
        "flag-key",
        "env-app",
    )


def test_limits_region_and_fault_flags() -> None:
    config = config_from_args(
        parse(
            [
                "--region",
                "eu",
                "--track-rate",
                "100",
                "--app-rate",
                "10",
                "--no-retry-after",
                "--seed",
                "5",
                "--track-error-rate",
                "0.1",
                "--track-error-status",
                "500,503",
                "--app-lost-rate",
                "0.2",
                "--app-hang-s",
                "3",
                "--app-latency-ms",
                "7",
                "--record-bodies",
            ]
        )
    )
    assert (config.region, config.track_rate, config.app_rate) == ("eu", 100, 10)
    assert not config.send_retry_after and config.seed == 5 and config.record_bodies
    assert config.faults.track.error_rate == 0.1
    assert config.faults.track.error_statuses == (500, 503)
    assert (config.faults.app.lost_rate, config.faults.app.hang_s) == (0.2, 3)
    assert config.faults.app.latency_ms == 7


def test_faults_json_and_flags_combine() -> None:
    config = config_from_args(
        parse(
            [
                "--faults",
                '{"seed": 9, "track": {"next": [{"count": 2, "status": 503}]}}',
                "--track-latency-ms",
                "4",
            ]
        )
    )
    assert config.seed == 9
    assert config.faults.track.next[0].count == 2 and config.faults.track.latency_ms == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["--faults", "{nope"],
        ["--faults", "[]"],
        ["--track-error-rate", "3"],
        ["--track-error-status", "abc"],
        ["--faults", '{"track": {"oops": 1}}'],
    ],
)
def test_bad_options_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse(argv)) == 2
    assert "cio-pipeline emulator:" in capsys.readouterr().err
