"""``cio-pipeline erase``: erase a person everywhere in the pipeline (docs/privacy.md).

    cio-pipeline erase CUSTOMER_ID [--email ADDRESS ...] [--cio-id ID]
                       [--anonymous-id ID ...] [--suppress] [--dry-run] [--wait-s S]
    cio-pipeline erase --list [--limit N] [--json]

The command line over :meth:`cio_pipeline.producer.CustomerIO.erase` (parsing and printing
only). ``CUSTOMER_ID`` is read as the producer's calls read it (an id, ``cio_<id>``, or an
address); ``-`` reads it from the first line of standard input, so that it does not show in
the process list. Output, logs and the audit entry hold counts, never an identifier.
Exit codes: 0 done (also ``--dry-run`` and ``--list``); 2 errors (bad arguments, Redis
unreachable: one line); 70 an internal error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

import redis

from cio_pipeline.producer.client import CustomerIO
from cio_pipeline.producer.erase import ErasureReport, list_erasures
from cio_pipeline.producer.errors import CustomerIOException, EnqueueError
from cio_pipeline.producer.settings import Settings
from cio_pipeline.worker.core.logs import get_logger

_DESCRIPTION = """\
Erase a person everywhere in the pipeline (docs/privacy.md): from now on none of their queued,
claimed, retrying, held or dead-lettered operations or sends is delivered, their personal data
is removed from Redis, a Track delete (or, with --suppress, a suppress) goes out as their last
operation, and new calls for them are refused for CIO_ERASE_RETENTION_S.

CUSTOMER_ID is read as the producer's calls read it (an id, cio_<id>, or an address); "-"
reads it from the first line of standard input, so that it does not show in the process list.
Output, logs and the audit entry hold counts, never an identifier. Exit codes: 0 done (also
--dry-run and --list); 2 errors (bad arguments, Redis unreachable: one line); 70 an internal
error."""

__all__ = ["register"]

log = get_logger("cio.erase")
EXIT_OK, EXIT_ERROR, EXIT_INTERNAL = 0, 2, 70


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _print_report(report: ErasureReport) -> None:
    head = "would drop" if report.dry_run else "dropped"
    ids = ", ".join(f"{n} {t}" for t, n in sorted(report.identifiers.items()))
    print(f"erase {report.erase_id} at {_when(report.at)} ({ids})")
    print(f"{head} {report.dropped_total} job(s)")
    for where, n in sorted(report.dropped.items()):
        print(f"  {n:>8}  {where}")
    if report.dry_run:
        last = "suppress" if report.suppress else "delete"
        print(f"would then enqueue a Track {last} as the person's last operation")
        return
    print(
        f"in flight when the erase began: {report.in_flight} (resolved as they would have; "
        f"still running after the wait: {report.in_flight_unresolved})"
    )
    print(f"delivery records removed: {report.delivery_records}")
    print(
        f"suppression entries removed: {report.suppressions_removed}, kept under a keyed "
        f"hash: {report.suppressions_kept}"
    )
    last = "suppress" if report.suppress else "delete"
    print(f"pending Track {last}: job {report.pending_job_id}")
    print(f"took {report.duration_ms} ms")


def _list(cio: CustomerIO, args: argparse.Namespace) -> int:
    entries = list_erasures(cio.redis, cio.keys, args.limit)
    if args.json:
        print(json.dumps(entries))
        return EXIT_OK
    for entry in entries:
        dropped = sum(entry.get("dropped", {}).values())
        print(
            f"{_when(entry['at'])}  erase {entry['erase_id']}  dropped {dropped}  in flight "
            f"{entry.get('in_flight', 0)}  last {'suppress' if entry.get('suppress') else 'delete'}"
            f"  {entry.get('duration_ms', 0)} ms"
        )
    print(f"{len(entries)} erasure(s)")
    return EXIT_OK


def _erase(cio: CustomerIO, args: argparse.Namespace) -> int:
    customer_id = args.customer_id
    if customer_id == "-":
        customer_id = sys.stdin.readline().strip()
    report = cio.erase(
        customer_id,
        emails=args.email,
        cio_id=args.cio_id,
        anonymous_ids=args.anonymous_id,
        suppress=args.suppress,
        dry_run=args.dry_run,
        wait_s=args.wait_s,
    )
    log.info(
        "person_erased" if not args.dry_run else "person_erase_planned",
        erase_id=report.erase_id,
        dropped=report.dropped_total,
        in_flight=report.in_flight,
        duration_ms=report.duration_ms,
    )
    _print_report(report)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    if args.list == (args.customer_id is not None):
        print("cio-pipeline erase: give CUSTOMER_ID, or --list", file=sys.stderr)
        return EXIT_ERROR
    try:
        cio = CustomerIO(settings=Settings.from_env())
        return _list(cio, args) if args.list else _erase(cio, args)
    except EnqueueError as exc:  # the reason alone: an erase enqueues no job of the caller's
        print(f"cio-pipeline erase: {exc.reason}", file=sys.stderr)
        return EXIT_ERROR
    except CustomerIOException as exc:
        print(f"cio-pipeline erase: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except redis.RedisError as exc:
        print(f"cio-pipeline erase: Redis failed ({type(exc).__name__})", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # the command's error boundary: one line, a distinct code
        log.exception("erase_failed")
        print(f"cio-pipeline erase: internal error ({type(exc).__name__})", file=sys.stderr)
        return EXIT_INTERNAL


def register(subparsers: Any) -> None:
    """Add the ``erase`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "erase",
        help="erase a person everywhere in the pipeline (or --list past erasures)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("customer_id", nargs="?", metavar="CUSTOMER_ID")
    parser.add_argument("--email", action="append", default=[], metavar="ADDRESS")
    parser.add_argument("--cio-id", metavar="ID")
    parser.add_argument("--anonymous-id", action="append", default=[], metavar="ID")
    parser.add_argument(
        "--suppress", action="store_true", help="send a Track suppress instead of a delete"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would be dropped")
    parser.add_argument(
        "--wait-s",
        type=float,
        default=30.0,
        help="how long to wait for sends and batches already in flight (default 30)",
    )
    parser.add_argument("--list", action="store_true", help="past erasures, newest first")
    parser.add_argument(
        "--limit", type=int, default=100, help="with --list: how many (default: 100)"
    )
    parser.add_argument("--json", action="store_true", help="with --list: one JSON array")
    parser.set_defaults(func=_run)
