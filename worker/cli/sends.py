"""``cio-pipeline sends cancel|show|list``: one transactional send, by its idempotency key.

Parsing and printing over :mod:`cio_pipeline.producer.send_records` (cancel) and
:mod:`cio_pipeline.producer.send_status` (show, list); ``docs/sends.md`` is the user's page.

Exit codes (the commands' contract): 0 done / found; 1 refused for a stated reason (the send
already went out, or is going out now); 2 could not tell (bad arguments, Redis unreachable);
3 no such send; 70 internal error. Every message is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import redis

from cio_pipeline.producer.connection import connect
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.send_records import CancelResult, cancel_send
from cio_pipeline.producer.send_status import STATES, SendStatus, recent_sends, send_status
from cio_pipeline.producer.settings import Settings

__all__ = ["parse_duration", "register"]

EXIT_OK: Final = 0
EXIT_REFUSED: Final = 1
EXIT_ERROR: Final = 2
EXIT_NOT_FOUND: Final = 3
EXIT_INTERNAL: Final = 70

_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_DURATION: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``2h``, ``7d`` -> seconds (argparse type)."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h, 7d)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _when(ts: Any) -> str:
    try:
        stamp = datetime.fromtimestamp(float(ts), UTC)
    except (TypeError, ValueError, OverflowError):
        return "-"
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    print(f"cio-pipeline sends {args.sends_command}: {message}", file=sys.stderr)
    return code


def _cancel(args: argparse.Namespace, client: redis.Redis, settings: Settings) -> int:
    outcome = cancel_send(
        client, Keys.of(settings), args.key, settings.delivery_record_ttl_s, by="cli"
    )
    if outcome.result is CancelResult.CANCELLED:
        print(f"{args.key}: {outcome.message}")
        return EXIT_OK
    if outcome.result is CancelResult.UNKNOWN:
        return _fail(args, f"{args.key}: {outcome.message}", EXIT_NOT_FOUND)
    return _fail(args, f"{args.key}: {outcome.message}", EXIT_REFUSED)


def _describe(entry: dict[str, Any]) -> str:
    event = entry.get("event")
    if event == "attempt":
        status = entry.get("status")
        detail = entry.get("detail")
        text = f"attempt {entry.get('attempt')}: {entry.get('outcome')}"
        return text + (f" (HTTP {status})" if status else "") + (f": {detail}" if detail else "")
    if event == "queued":
        return f"queued (job {entry.get('job_id')})"
    if event == "sent":
        return f"sent: delivery_id {entry.get('delivery_id')}"
    if event == "skipped":
        return f"skipped: recipient suppressed ({entry.get('reason')})"
    if event == "cancelled":
        return f"cancelled (by {entry.get('by', '?')})"
    if event == "not_sent":
        return f"not sent: {entry.get('reason')} (job {entry.get('job_id')})"
    return str(event)


def _print_status(status: SendStatus) -> None:
    head = f"send {status.idempotency_key}: {status.state}"
    print(head + (f" (delivery_id {status.delivery_id})" if status.delivery_id else ""))
    for entry in status.history:
        print(f"  {_when(entry.get('at'))}  {_describe(entry)}")
    for event in status.events:
        print(f"  {_when(event.get('at'))}  {event.get('metric')} (reporting webhook)")


def _show(args: argparse.Namespace, client: redis.Redis, settings: Settings) -> int:
    status = send_status(client, Keys.of(settings), args.key)
    if status is None:
        return _fail(args, f"{args.key}: no such send", EXIT_NOT_FOUND)
    if args.json:
        print(json.dumps(status.to_json(), indent=2))
    else:
        _print_status(status)
    return EXIT_OK


def _list(args: argparse.Namespace, client: redis.Redis, settings: Settings) -> int:
    since_s = settings.delivery_record_ttl_s if args.since is None else args.since
    found = recent_sends(
        client,
        Keys.of(settings),
        since_s=since_s,
        now_s=time.time(),
        state=args.state,
        limit=args.limit,
    )
    if args.json:
        rows = [
            {
                "idempotency_key": s.idempotency_key,
                "queued_at": s.queued_at,
                "state": s.state,
                "delivery_id": s.delivery_id,
            }
            for s in found
        ]
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    if not found:
        print("no sends")
        return EXIT_OK
    print(f"{'QUEUED AT (UTC)':<25}{'STATE':<11}{'DELIVERY ID':<28}IDEMPOTENCY KEY")
    for s in found:
        print(f"{_when(s.queued_at):<25}{s.state:<11}{s.delivery_id or '-':<28}{s.idempotency_key}")
    print(f"{len(found)} send(s)")
    return EXIT_OK


_ACTIONS: Final[dict[str, Callable[[argparse.Namespace, redis.Redis, Settings], int]]] = {
    "cancel": _cancel,
    "show": _show,
    "list": _list,
}


def _run(args: argparse.Namespace) -> int:
    settings = Settings.from_env()  # a SettingsError is reported by the CLI (exit 2)
    key = getattr(args, "key", None)
    if key is not None and not 1 <= len(key) <= 200:
        return _fail(args, "an idempotency key has 1 to 200 characters", EXIT_ERROR)
    client = connect(settings)
    try:
        return _ACTIONS[args.sends_command](args, client, settings)
    except redis.RedisError as exc:
        return _fail(args, f"Redis unavailable ({type(exc).__name__})", EXIT_ERROR)
    except Exception as exc:  # the contract: one line and 70, never a traceback
        return _fail(args, f"internal error ({type(exc).__name__})", EXIT_INTERNAL)
    finally:
        client.close()


def register(subparsers: Any) -> None:
    """Add ``cio-pipeline sends cancel|show|list``."""
    parser = subparsers.add_parser(
        "sends",
        help="cancel a queued transactional send, or follow one to its inbox",
        description="Transactional sends by their idempotency key: cancel one that has not "
        "left yet, show the life of one (queued, attempts, sent with its delivery_id, then the "
        "reporting webhooks for it), or list recent sends by state (docs/sends.md).",
    )
    sub = parser.add_subparsers(dest="sends_command", metavar="ACTION", required=True)
    cancel = sub.add_parser(
        "cancel",
        help="make sure a queued send never goes out (exit 0; 1 if it already left or is "
        "leaving; 3 if unknown)",
        description="Make sure a queued send never goes out: exit 0 when it is cancelled (also "
        "when it was before), 1 when it already went out (with its delivery_id) or is being "
        "sent, 3 when no send has that key.",
    )
    cancel.add_argument("key", metavar="KEY", help="the send's idempotency key")
    show = sub.add_parser(
        "show",
        help="the life of one send: attempts, delivery_id, reporting webhooks",
        description="The life of one send: queued, each attempt and its outcome, sent (with "
        "its delivery_id), then each reporting webhook for it. Exit 0 when found, 3 when not.",
    )
    show.add_argument("key", metavar="KEY", help="the send's idempotency key")
    show.add_argument("--json", action="store_true", help="one JSON object")
    listing = sub.add_parser(
        "list",
        help="recent sends, newest first",
        description="Recent sends, newest first, with their state (kept as long as delivery "
        "records: CIO_DELIVERY_RECORD_TTL_S).",
    )
    listing.add_argument("--state", choices=STATES, help="only sends in this state")
    listing.add_argument(
        "--since",
        type=parse_duration,
        metavar="DURATION",
        help="only sends enqueued within this long (90s, 15m, 2h, 7d; default: all kept)",
    )
    listing.add_argument(
        "--limit", type=int, default=1000, help="at most this many (default: 1000)"
    )
    listing.add_argument("--json", action="store_true", help="a JSON list")
    parser.set_defaults(func=_run)
