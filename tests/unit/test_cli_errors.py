"""The commands' error contract without a server: the one masking function (by generation:
no password survives it), the lines the boundary prints for Redis failures, internal errors
with their traceback file, and --help written for users."""

from __future__ import annotations

import argparse
import re
import string
from pathlib import Path

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.sentinel import MasterNotFoundError

from cio_pipeline.producer.masking import mask_url
from cio_pipeline.worker.cli import build_parser
from cio_pipeline.worker.cli.errors import (
    EXIT_CANNOT_TELL,
    EXIT_INTERNAL,
    NotFound,
    redis_failure,
    run_command,
    scrub,
)

_SECRET = st.text(string.ascii_letters + string.digits + "-_.~!$", min_size=6, max_size=30)
_HOST = st.sampled_from(["127.0.0.1", "redis.internal", "[::1]", "10.0.0.5"])


@given(
    scheme=st.sampled_from(["redis", "rediss", "http", "https"]),
    user=st.sampled_from(["", "default", "cio"]),
    secret=_SECRET,
    host=_HOST,
    port=st.one_of(st.none(), st.integers(1, 65535)),
    query_secret=st.booleans(),
)
def test_no_password_survives_masking(
    scheme: str, user: str, secret: str, host: str, port: int | None, query_secret: bool
) -> None:
    where = host + (f":{port}" if port is not None else "")
    if query_secret:
        url = f"{scheme}://{where}/0?db=1&password={secret}"
    else:
        url = f"{scheme}://{user}:{secret}@{where}/0"
    masked = mask_url(url)
    assert secret not in masked
    assert masked.startswith(f"{scheme}://") and where in masked  # still says where


def test_masking_keeps_what_has_no_secret() -> None:
    for url in ("redis://127.0.0.1:6379/0", "unix:///run/redis.sock", "https://track.customer.io"):
        assert mask_url(url) == url
    assert mask_url("redis://:pw@h:6380/2") == "redis://***@h:6380/2"
    assert mask_url("unix:///tmp/r.sock?password=pw") == "unix:///tmp/r.sock?password=***"


def test_scrub_masks_urls_and_known_secrets_in_any_text() -> None:
    env = {"REDIS_URL": "redis://:hunter22@h:1/0", "CUSTOMERIO_API_KEY": "key-123456"}
    text = "failed at redis://:hunter22@h:1/0 with key-123456 and hunter22 again"
    scrubbed = scrub(text, env)
    assert "hunter22" not in scrubbed and "key-123456" not in scrubbed
    assert "redis://***@h:1/0" in scrubbed


@pytest.mark.parametrize(
    ("error", "words"),
    [
        (redis.ConnectionError("Error 111 connecting to h:1. Connection refused."), "cannot reach"),
        (redis.TimeoutError("Timeout connecting to server"), "cannot reach"),
        (redis.AuthenticationError("invalid username-password pair"), "refused the credentials"),
        (redis.exceptions.NoPermissionError("NOPERM this user has no permissions"), "refused"),
        (redis.ResponseError("WRONGPASS invalid username-password pair"), "refused the cred"),
        (MasterNotFoundError("No master found for 'x'"), "CIO_REDIS_SENTINEL_MASTER"),
    ],
)
def test_redis_failures_are_one_line_naming_the_masked_address(
    error: redis.RedisError, words: str
) -> None:
    env = {"REDIS_URL": "redis://:hunter22@h:1/0", "CIO_REDIS_SENTINELS": "s:26379"}
    line = redis_failure(error, env)
    assert line is not None and words in line and "\n" not in line
    assert "hunter22" not in line
    assert "s:26379" in line  # with Sentinel, the Sentinels' address


def test_a_redis_reply_that_is_not_about_reaching_it_is_an_internal_error() -> None:
    assert redis_failure(redis.ResponseError("WRONGTYPE Operation against a key"), {}) is None


def test_the_boundary_maps_exceptions_to_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from cio_pipeline.worker.cli import errors

    monkeypatch.setattr(errors, "TRACEBACK_DIR", tmp_path / "tracebacks")
    monkeypatch.setenv("REDIS_URL", "redis://:hunter22@h:1/0")
    args = argparse.Namespace()

    def raises(error: BaseException) -> object:
        def func(_: argparse.Namespace) -> int:
            raise error

        return func

    assert run_command("dlq show", raises(NotFound("no job x")), args) == 3  # type: ignore[arg-type]
    assert capsys.readouterr().err == "cio-pipeline dlq show: no job x\n"
    code = run_command("stats", raises(KeyError("redis://:hunter22@h:1/0")), args)  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert code == EXIT_INTERNAL
    match = re.fullmatch(
        r"cio-pipeline stats: internal error \(KeyError\); traceback in (\S+)\n", err
    )
    assert match is not None, err
    saved = Path(match.group(1)).read_text()
    assert "KeyError" in saved and "hunter22" not in saved
    assert Path(match.group(1)).stat().st_mode & 0o077 == 0  # the user's only
    code = run_command("stats", raises(redis.ConnectionError("refused")), args)  # type: ignore[arg-type]
    assert code == EXIT_CANNOT_TELL
    assert capsys.readouterr().err.startswith(
        "cio-pipeline stats: cannot reach Redis at redis://***@h:1/0"
    )


def _parsers(
    parser: argparse.ArgumentParser, path: str = ""
) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:  # argparse offers no public walk of its sub-parsers
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += _parsers(sub, f"{path} {name}".strip())
    return found


def test_every_help_is_written_for_users() -> None:
    failures: list[str] = []
    for path, parser in _parsers(build_parser()):
        text = parser.format_help()
        assert not re.search(r":(class|func|mod|meth):|``", text), f"{path}: Sphinx markup"
        if path:
            assert parser.description, f"cio-pipeline {path} has no description"
        for action in parser._actions:
            shown_default = action.default not in (None, False, argparse.SUPPRESS)
            if action.option_strings and shown_default and action.help:
                # "(default: ...)", or the emulator's "env X, else Y" (never the env's value)
                said = "default" in action.help or ", else " in action.help
                failures.append("" if said else f"{path} {action.option_strings[0]}")
    assert not [f for f in failures if f], "options whose help hides the default"
