"""``cio-pipeline emulator``: serve the Customer.io emulator on a local port.

Credentials default to ``CUSTOMERIO_SITE_ID`` / ``CUSTOMERIO_API_KEY`` /
``CUSTOMERIO_APP_API_KEY`` (so a worker pointed at the emulator needs no extra flags), else to
the public development values in :mod:`cio_pipeline.devtools.emulator.config`. Once the socket
listens the command prints exactly one line, ``emulator listening on http://HOST:PORT``, with the
real port when ``--port 0`` asked the OS to choose one.

This module registers the command with the core dependencies alone; the server itself
(:mod:`cio_pipeline.devtools.emulator.serve`, Starlette and uvicorn) is imported only when the
command runs, after checking that the ``emulator`` extra is installed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from cio_pipeline.devtools.emulator.config import (
    DEV_API_KEY,
    DEV_APP_API_KEY,
    DEV_SITE_ID,
    REGION_URLS,
    EmulatorConfig,
)
from cio_pipeline.devtools.emulator.faults import SURFACES, FaultPlan
from cio_pipeline.worker.core.extras import require_extra

__all__ = ["LISTENING_PREFIX", "config_from_args", "register", "run"]

#: The start of the line printed once the emulator accepts connections.
LISTENING_PREFIX = "emulator listening on "

#: Per-surface fault flags: (flag suffix, SurfaceFaults field, type, help).
_FAULT_FLAGS: tuple[tuple[str, str, type, str], ...] = (
    ("error-rate", "error_rate", float, "fraction of requests answered with an error status"),
    ("error-status", "error_statuses", str, "comma-separated statuses for errors (500)"),
    ("429-rate", "rate_limit_rate", float, "fraction of requests answered 429"),
    ("latency-ms", "latency_ms", float, "latency added to every request"),
    ("hang-rate", "hang_rate", float, "fraction of requests held --*-hang-s before answering"),
    ("hang-s", "hang_s", float, "how long a hang lasts (30)"),
    ("reset-rate", "reset_rate", float, "fraction of connections dropped after the request"),
    ("lost-rate", "lost_rate", float, "fraction handled, then the answer dropped"),
)


#: What ``--help`` says (the module docstring is for developers).
_DESCRIPTION = (
    "Serve a local stand-in for Customer.io's Track and App APIs, for development, tests "
    "and the demo (never the real Customer.io). Credentials default to CUSTOMERIO_SITE_ID, "
    "CUSTOMERIO_API_KEY and CUSTOMERIO_APP_API_KEY, else to public development values, so a "
    "worker pointed at it needs no extra flags. Once it listens it prints one line, "
    "'emulator listening on http://HOST:PORT'. Needs the 'emulator' extra."
)


def register(subparsers: Any) -> None:
    """Add the ``emulator`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "emulator",
        help="serve a local Customer.io Track + App API emulator",
        description=_DESCRIPTION,
    )
    env = os.environ.get
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="address to listen on (default: 127.0.0.1, this machine only)",
    )
    parser.add_argument(
        "--port", type=int, default=8025, help="port (default: 8025; 0 = any free port)"
    )
    parser.add_argument(
        "--site-id",
        default=env("CUSTOMERIO_SITE_ID") or DEV_SITE_ID,
        help=f"Track site id (env CUSTOMERIO_SITE_ID, else {DEV_SITE_ID})",
    )
    parser.add_argument(
        "--api-key",
        default=env("CUSTOMERIO_API_KEY") or DEV_API_KEY,
        help="Track API key (env CUSTOMERIO_API_KEY, else a dev default)",
    )
    parser.add_argument(
        "--app-api-key",
        default=env("CUSTOMERIO_APP_API_KEY") or DEV_APP_API_KEY,
        help="App API key (env CUSTOMERIO_APP_API_KEY, else a dev default)",
    )
    parser.add_argument(
        "--region",
        choices=sorted(REGION_URLS),
        default="us",
        help="what GET /api/v1/accounts/region reports (default: us)",
    )
    parser.add_argument("--environment-id", type=int, default=1)
    parser.add_argument(
        "--track-rate", type=float, default=0.0, help="Track requests/s before 429 (0 = no limit)"
    )
    parser.add_argument(
        "--app-rate", type=float, default=0.0, help="App requests/s before 429 (0 = no limit)"
    )
    parser.add_argument(
        "--no-retry-after", action="store_true", help="answer 429 without a Retry-After header"
    )
    parser.add_argument("--seed", type=int, default=None, help="seed of the fault dice")
    parser.add_argument(
        "--faults",
        default=None,
        metavar="JSON",
        help="fault plan as JSON, the format of POST /_emulator/faults",
    )
    parser.add_argument(
        "--record-bodies",
        action="store_true",
        help="keep request bodies in GET /_emulator/requests",
    )
    parser.add_argument("--access-log", action="store_true", help="log every request")
    parser.add_argument(
        "--webhook-url",
        default=None,
        help="post signed reporting webhooks for accepted sends to this URL",
    )
    parser.add_argument(
        "--webhook-signing-key",
        default=(env("CUSTOMERIO_WEBHOOK_SIGNING_KEY") or "").split(",")[0] or None,
        help="key to sign them with (env CUSTOMERIO_WEBHOOK_SIGNING_KEY)",
    )
    for surface in SURFACES:
        for flag, _, kind, text in _FAULT_FLAGS:
            parser.add_argument(
                f"--{surface}-{flag}", type=kind, default=None, help=f"{surface}: {text}"
            )
    parser.set_defaults(func=run)


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The :class:`EmulatorConfig` the parsed arguments describe; ``ValueError`` if invalid."""
    faults = json.loads(args.faults) if args.faults else {}
    if not isinstance(faults, dict):
        raise ValueError("--faults must be a JSON object")
    for surface in SURFACES:
        surface_faults = dict(faults.get(surface, {}))
        for flag, name, _, _ in _FAULT_FLAGS:
            value = getattr(args, f"{surface}_{flag}".replace("-", "_"))
            if value is None:
                continue
            if name == "error_statuses":
                value = [int(s) for s in value.split(",") if s.strip()]
            surface_faults[name] = value
        if surface_faults:
            faults[surface] = surface_faults
    seed = faults.get("seed", args.seed)
    return EmulatorConfig(
        site_id=args.site_id,
        api_key=args.api_key,
        app_api_key=args.app_api_key,
        region=args.region,
        environment_id=args.environment_id,
        track_rate=args.track_rate,
        app_rate=args.app_rate,
        send_retry_after=not args.no_retry_after,
        faults=FaultPlan().updated(faults),
        seed=seed,
        record_bodies=args.record_bodies,
        webhook_url=args.webhook_url,
        webhook_signing_key=args.webhook_signing_key if args.webhook_url else None,
    )


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT/SIGTERM; returns the exit code.

    Raises :class:`cio_pipeline.worker.core.extras.MissingExtra` when the ``emulator`` extra is not
    installed.
    """
    require_extra("emulator")
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"cio-pipeline emulator: {exc}", file=sys.stderr)
        return 2
    from cio_pipeline.devtools.emulator.serve import serve

    return serve(config, host=args.host, port=args.port, access_log=args.access_log)
