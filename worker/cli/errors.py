"""The commands' error contract: what each exit code means, and the one boundary that maps
every failure to its code and one line on stderr.

The codes (``docs/exit-codes.md`` lists them command by command, and a test runs each row)::

    0   done, or yes
    1   a predicate's "no" (suppressions show, health), or an action refused for a stated
        reason (already sent, not a dead letter)
    2   could not tell, or could not start: bad arguments or settings, a Redis that cannot be
        reached, refuses the credentials, or whose Sentinel master cannot be found
    3   not found (no such job, send or address)
    70  an internal error: one line, and the path of the file holding the traceback
    130 interrupted (Ctrl-C);  141 the reader of stdout went away (``| head``): no message

Commands raise; they do not print errors or pick codes themselves. What they raise::

    CommandError           exit_code, one line for stderr
    ├── Refused            1
    ├── CannotTell         2
    └── NotFound           3

and, mapped here, the library's own: :class:`SettingsError`, :class:`ValidationError` and
:class:`MissingExtra` (2), redis-py's connection, authentication, ACL and Sentinel errors (2,
naming the masked address and the variable to check), anything else (70).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Final

import redis
from redis.sentinel import MasterNotFoundError

from cio_pipeline.producer.errors import SettingsError, ValidationError
from cio_pipeline.producer.masking import describe_redis, mask_url
from cio_pipeline.producer.variables import BY_NAME
from cio_pipeline.worker.core.extras import MissingExtra, extra_for_module

__all__ = [
    "EXIT_CANNOT_TELL",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_NO",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_PIPE_CLOSED",
    "CannotTell",
    "CommandError",
    "NotFound",
    "Refused",
    "redis_failure",
    "run_command",
]

EXIT_OK: Final = 0
EXIT_NO: Final = 1
EXIT_CANNOT_TELL: Final = 2
EXIT_NOT_FOUND: Final = 3
EXIT_INTERNAL: Final = 70  # EX_SOFTWARE of sysexits.h
EXIT_INTERRUPTED: Final = 130  # 128 + SIGINT, as a shell reports it
EXIT_PIPE_CLOSED: Final = 141  # 128 + SIGPIPE: what `yes | head -1` gives yes

#: Where internal errors leave their traceback (one file per failure, readable by the user
#: only: a traceback may show a value).
TRACEBACK_DIR: Final = Path(tempfile.gettempdir()) / "cio-pipeline-errors"

_CONNECTING: Final = re.compile(r"^Error -?\d+ connecting to \S+\.\s+")
_URL: Final = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")
#: Redis's answers that mean "these credentials may not do this" (redis-py raises some as
#: AuthenticationError, some as NoPermissionError, older servers as a plain ResponseError).
_AUTH_REPLIES: Final = ("NOAUTH", "WRONGPASS", "NOPERM", "ERR AUTH", "-NOAUTH")


class CommandError(Exception):
    """A command's failure with the code it exits with; ``str()`` is the line printed."""

    exit_code = EXIT_CANNOT_TELL


class Refused(CommandError):
    """A predicate's "no", or an action refused for the reason given (exit 1)."""

    exit_code = EXIT_NO


class CannotTell(CommandError):
    """Bad arguments, or the command could not find out (exit 2)."""

    exit_code = EXIT_CANNOT_TELL


class NotFound(CommandError):
    """No such job, send or address (exit 3)."""

    exit_code = EXIT_NOT_FOUND


def _secrets(environ: Mapping[str, str]) -> list[str]:
    """Values never to print: the secret variables and the passwords in ``REDIS_URL``."""
    found = [
        environ[v.name].strip()
        for v in BY_NAME.values()
        if v.kind == "secret" and environ.get(v.name, "").strip()
    ]
    url = environ.get("REDIS_URL", "")
    masked = mask_url(url)
    if masked != url:
        found += [p for p in re.split(r"[/:@?&=]", url) if p and p not in masked]
    return sorted(found, key=len, reverse=True)


def scrub(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every URL masked and every known secret replaced by ``***``."""
    environ = os.environ if environ is None else environ
    text = _URL.sub(lambda m: mask_url(m.group()), text)
    for secret in _secrets(environ):
        if len(secret) >= 3:  # a one- or two-letter password would mask half the text
            text = text.replace(secret, "***")
    return text


def _address(environ: Mapping[str, str]) -> str:
    return describe_redis(
        str(BY_NAME["REDIS_URL"].read(environ)),
        environ.get("CIO_REDIS_SENTINELS", "").strip() or None,
        environ.get("CIO_REDIS_SENTINEL_MASTER", "").strip() or None,
    )


def redis_failure(error: redis.RedisError, environ: Mapping[str, str] | None = None) -> str | None:
    """The one line for a Redis failure a command cannot get past (names the masked address
    and the setting to check), or None when ``error`` is not one (a bug, a refused write)."""
    environ = os.environ if environ is None else environ
    where = _address(environ)
    reply = str(error).strip()
    if isinstance(error, MasterNotFoundError):
        return (
            f"no Sentinel at {environ.get('CIO_REDIS_SENTINELS', '?')} gives a master named "
            f"{environ.get('CIO_REDIS_SENTINEL_MASTER', '')!r}: check CIO_REDIS_SENTINEL_MASTER "
            "and CIO_REDIS_SENTINELS"
        )
    if isinstance(error, redis.AuthenticationError | redis.exceptions.NoPermissionError) or (
        isinstance(error, redis.ResponseError) and reply.upper().startswith(_AUTH_REPLIES)
    ):
        first = scrub(reply.splitlines()[0] if reply else type(error).__name__, environ)
        return (
            f"Redis at {where} refused the credentials ({first}): check the user and "
            "password in REDIS_URL (and the user's ACL)"
        )
    if isinstance(error, redis.ConnectionError | redis.TimeoutError):
        first = scrub(reply.splitlines()[0] if reply else type(error).__name__, environ)
        # "Error 111 connecting to host:port. Connection refused." says the address twice
        first = _CONNECTING.sub("", first).rstrip(".") or type(error).__name__
        return f"cannot reach Redis at {where} ({first[:160]}): check REDIS_URL"
    if isinstance(error, redis.ResponseError) and reply.startswith("OOM "):
        return f"Redis at {where} is full (maxmemory): nothing was written"
    return None


def _log_traceback(command: str, error: BaseException) -> Path | None:
    """Write the traceback (scrubbed) to a new file of :data:`TRACEBACK_DIR`; its path."""
    text = scrub("".join(traceback.format_exception(error)))
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    try:
        TRACEBACK_DIR.mkdir(mode=0o700, exist_ok=True)
        # mkstemp: a new file (0600) even for two failures in one second and process
        fd, name = tempfile.mkstemp(
            prefix=f"{command.replace(' ', '-')}-{stamp}-", suffix=".txt", dir=TRACEBACK_DIR
        )
        with os.fdopen(fd, "w") as out:
            out.write(text)
        return Path(name)
    except OSError:
        return None


def _pipe_closed() -> int:
    # The reader is gone: whatever is still buffered for stdout can go nowhere, and Python
    # would complain about it again at exit; point stdout at /dev/null and leave quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE_CLOSED


def run_command(
    command: str, func: Callable[[argparse.Namespace], int], args: argparse.Namespace
) -> int:
    """Run one command's ``func`` behind the error contract; returns the exit code."""

    def fail(code: int, line: str) -> int:
        print(f"cio-pipeline {command}: {line}", file=sys.stderr, flush=True)
        return code

    try:
        code = func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        return _pipe_closed()
    except KeyboardInterrupt:
        return fail(EXIT_INTERRUPTED, "interrupted")
    except CommandError as exc:
        return fail(exc.exit_code, scrub(str(exc)))
    except (SettingsError, ValidationError, MissingExtra) as exc:
        return fail(EXIT_CANNOT_TELL, scrub(str(exc)))
    except ModuleNotFoundError as exc:
        extra = extra_for_module(exc.name)
        if extra is None:
            return _internal(command, exc, fail)
        return fail(EXIT_CANNOT_TELL, str(MissingExtra(extra, exc.name or "?")))
    except redis.RedisError as exc:
        line = redis_failure(exc)
        if line is None:
            return _internal(command, exc, fail)
        return fail(EXIT_CANNOT_TELL, line)
    except Exception as exc:
        return _internal(command, exc, fail)


def _internal(command: str, error: BaseException, fail: Callable[[int, str], int]) -> int:
    path = _log_traceback(command, error)
    where = f"traceback in {path}" if path else "no traceback file could be written"
    return fail(EXIT_INTERNAL, f"internal error ({type(error).__name__}); {where}")
