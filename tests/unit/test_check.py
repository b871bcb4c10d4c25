"""``cio-pipeline check`` against a fake Customer.io on httpx.MockTransport."""

from __future__ import annotations

import argparse
import base64
from collections.abc import Callable

import httpx
import pytest

from cio_pipeline.worker.cli import check as check_command
from cio_pipeline.worker.cli.errors import run_command
from cio_pipeline.worker.clients import AppClient, TrackClient
from cio_pipeline.worker.clients.check import CheckLine, run_checks
from cio_pipeline.worker.core.settings import WorkerSettings

SITE_ID, TRACK_KEY, APP_KEY = "site-1", "track-key", "app-key"


class FakeCustomerIO:
    """Answers like Customer.io: the region endpoint for Basic auth, templates for Bearer."""

    def __init__(self, region: str = "us") -> None:
        self.region = region
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        auth = request.headers.get("Authorization", "")
        if request.url.path == "/api/v1/accounts/region":
            basic = base64.b64encode(f"{SITE_ID}:{TRACK_KEY}".encode()).decode()
            if auth != f"Basic {basic}":
                return httpx.Response(401)
            host = (
                "https://track-eu.customer.io"
                if self.region == "eu"
                else "https://track.customer.io"
            )
            return httpx.Response(
                200, json={"url": host, "region": self.region, "environment_id": 3}
            )
        if request.url.path == "/v1/transactional":
            if auth != f"Bearer {APP_KEY}":
                return httpx.Response(401, json={"meta": {"error": "Unauthorized request"}})
            return httpx.Response(200, json={"messages": []})
        return httpx.Response(404)


def _settings(**overrides: str | None) -> WorkerSettings:
    values: dict[str, str | None] = {
        "site_id": SITE_ID,
        "api_key": TRACK_KEY,
        "app_api_key": APP_KEY,
        **overrides,
    }
    return WorkerSettings(**values)  # type: ignore[arg-type]


def _lines(
    settings: WorkerSettings, handler: Callable[[httpx.Request], httpx.Response]
) -> list[str]:
    return [str(line) for line in run_checks(settings, transport=httpx.MockTransport(handler))]


def test_both_apis_ok() -> None:
    lines = run_checks(_settings(), transport=httpx.MockTransport(FakeCustomerIO()))
    assert [str(line) for line in lines] == [
        "Track API: OK (region us, https://track.customer.io)",
        "App API: OK (https://api.customer.io)",
    ]
    assert all(line.ok for line in lines)


def test_eu_workspace_ok_on_eu_hosts() -> None:
    assert _lines(_settings(region="eu"), FakeCustomerIO(region="eu")) == [
        "Track API: OK (region eu, https://track-eu.customer.io)",
        "App API: OK (https://api-eu.customer.io)",
    ]


def test_injected_clients_are_used() -> None:
    fake = FakeCustomerIO()
    settings = _settings(track_url="http://127.0.0.1:1", app_url="http://127.0.0.1:2")
    track = TrackClient(settings, transport=httpx.MockTransport(fake))
    app = AppClient(settings, transport=httpx.MockTransport(fake))
    lines = run_checks(settings, track=track, app=app)
    assert [line.ok for line in lines] == [True, True]
    assert str(lines[0]) == "Track API: OK (region us, http://127.0.0.1:1)"
    assert [r.url.host for r in fake.requests] == ["127.0.0.1", "127.0.0.1"]
    assert not track.http.is_closed  # the caller's clients are left open
    track.close()
    app.close()


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"site_id": None},
            ["Track API: CUSTOMERIO_SITE_ID is not set", "App API: OK (https://api.customer.io)"],
        ),
        (
            {"api_key": None, "app_api_key": None},
            [
                "Track API: CUSTOMERIO_API_KEY is not set",
                "App API: CUSTOMERIO_APP_API_KEY is not set",
            ],
        ),
    ],
)
def test_missing_variables_are_named(overrides: dict[str, None], expected: list[str]) -> None:
    assert _lines(_settings(**overrides), FakeCustomerIO()) == expected


def test_wrong_track_key() -> None:
    track_line, app_line = _lines(_settings(api_key="nope"), FakeCustomerIO())
    assert track_line == (
        "Track API: Track API rejected CUSTOMERIO_SITE_ID/CUSTOMERIO_API_KEY (Basic auth). "
        "The App API key (CUSTOMERIO_APP_API_KEY) does not work here."
    )
    assert app_line.startswith("App API: OK")


def test_wrong_app_key() -> None:
    track_line, app_line = _lines(_settings(app_api_key="nope"), FakeCustomerIO())
    assert track_line.startswith("Track API: OK")
    assert app_line.startswith(
        "App API: App API rejected CUSTOMERIO_APP_API_KEY (Bearer). "
        "The Track API key (CUSTOMERIO_API_KEY) does not work here."
    )
    assert app_line.endswith("Customer.io said: Unauthorized request")


def test_swapped_keys_are_recognised() -> None:
    lines = run_checks(
        _settings(api_key=APP_KEY, app_api_key=TRACK_KEY),
        transport=httpx.MockTransport(FakeCustomerIO()),
    )
    assert [line.ok for line in lines] == [False, False]
    track_line, app_line = (str(line) for line in lines)
    assert "rejected CUSTOMERIO_API_KEY but accepts CUSTOMERIO_APP_API_KEY" in track_line
    assert "rejected CUSTOMERIO_APP_API_KEY but accepts CUSTOMERIO_API_KEY" in app_line
    assert "the keys are swapped" in track_line and "the keys are swapped" in app_line
    for line in (track_line, app_line):
        assert TRACK_KEY not in line and APP_KEY not in line


def test_wrong_region_says_which_to_set() -> None:
    fake = FakeCustomerIO(region="eu")
    # the App key of an EU workspace does not work on the US host
    lines = run_checks(
        _settings(region="us"),
        transport=httpx.MockTransport(
            lambda r: httpx.Response(401) if r.url.path == "/v1/transactional" else fake(r)
        ),
    )
    track_line, app_line = (str(line) for line in lines)
    assert [line.ok for line in lines] == [False, False]
    assert track_line == (
        "Track API: the credentials work, but the workspace is in the eu region and "
        "CUSTOMERIO_REGION is us: set CUSTOMERIO_REGION=eu"
    )
    assert app_line.endswith("(the workspace is in the eu region: set CUSTOMERIO_REGION=eu)")


def _failing(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(_request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize(
    ("handler", "track_text"),
    [
        (
            _failing(httpx.ConnectError("[Errno -2] Name or service not known")),
            "Track API: cannot reach https://track.customer.io (not sent: ConnectError: "
            "[Errno -2] Name or service not known); check the network, CUSTOMERIO_REGION "
            "and CUSTOMERIO_TRACK_URL",
        ),
        (
            _failing(httpx.ReadTimeout("timed out")),
            "Track API: no answer from https://track.customer.io "
            "(no complete answer in time: ReadTimeout: timed out)",
        ),
        (
            lambda _r: httpx.Response(503),
            "Track API: https://track.customer.io answered with a server error (HTTP 503); "
            "try again later",
        ),
        (
            lambda _r: httpx.Response(429),
            "Track API: https://track.customer.io answered 429 (rate limited); try again later",
        ),
        (
            lambda _r: httpx.Response(404, text="Not Found"),
            "Track API: unexpected HTTP 404 from https://track.customer.io: Not Found "
            "(is CUSTOMERIO_TRACK_URL or CUSTOMERIO_REGION right?)",
        ),
    ],
)
def test_unreachable_or_failing_hosts(
    handler: Callable[[httpx.Request], httpx.Response], track_text: str
) -> None:
    lines = run_checks(_settings(), transport=httpx.MockTransport(handler))
    assert str(lines[0]) == track_text
    assert not lines[1].ok


def test_region_missing_from_answer_is_still_ok() -> None:
    lines = run_checks(_settings(), transport=httpx.MockTransport(lambda _r: httpx.Response(200)))
    assert str(lines[0]) == "Track API: OK (region unknown, https://track.customer.io)"


def test_check_line_str() -> None:
    assert str(CheckLine("App API", True, "OK (x)")) == "App API: OK (x)"


# -- the sub-command (exit codes); no network is touched in these ------------------------------


def _run_command(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> int:
    for name in (
        "CUSTOMERIO_SITE_ID",
        "CUSTOMERIO_API_KEY",
        "CUSTOMERIO_APP_API_KEY",
        "CUSTOMERIO_REGION",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    check_command.register(parser.add_subparsers())
    args = parser.parse_args(["check"])
    return run_command("check", args.func, args)  # behind the CLI's error boundary


def test_command_settings_error_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_command(monkeypatch, {"CUSTOMERIO_REGION": "mars"}) == 2
    captured = capsys.readouterr()
    assert "CUSTOMERIO_REGION" in captured.err and captured.out == ""


def test_command_missing_credentials_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run_command(monkeypatch, {}) == 1
    assert capsys.readouterr().out.splitlines() == [
        "Track API: CUSTOMERIO_SITE_ID and CUSTOMERIO_API_KEY are not set",
        "App API: CUSTOMERIO_APP_API_KEY is not set",
    ]
