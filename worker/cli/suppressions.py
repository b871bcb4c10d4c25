"""``cio-pipeline suppressions list|show|add|remove``: the command line over
:class:`cio_pipeline.worker.webhooks.store.SuppressionStore` (parsing and printing only).

``show ADDRESS`` exits 0 and prints the reason when the address is suppressed, 1 when not.
``remove ADDRESS`` exits 0 when it removed every reason, 3 when nothing was in force (nothing
written), 1 when a newer change keeps a reason in force. A stored entry that cannot be read is
shown as damaged (and counts as suppressed).
``ADDRESS`` is an e-mail address, or ``id:<id>`` / ``cio_id:<cio id>`` for a person. Every
change is logged (``suppression_changed``: subject type, action, reason; never the address).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from cio_pipeline.producer.errors import ValidationError
from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.suppressions import REASONS, Suppression
from cio_pipeline.worker.core.logs import configure_logging, get_logger
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import worker_connection
from cio_pipeline.worker.webhooks.store import Removal, SuppressionStore

__all__ = ["register"]

log = get_logger("cio.suppressions")


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _print(entries: list[Suppression]) -> None:
    for s in entries:
        if s.damaged is not None:
            print(f"{s.subject:<50} {s.reason:<13} DAMAGED: {s.damaged}")
        else:
            print(f"{s.subject:<50} {s.reason:<13} {_when(s.at)} UTC  event {s.event_id}")


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    store = SuppressionStore(worker_connection(settings), Keys.of(settings.queue))
    try:
        return _command(store, args)
    except ValidationError as exc:
        print(f"cio-pipeline suppressions: {exc}", file=sys.stderr)
        return 2


def _command(store: SuppressionStore, args: argparse.Namespace) -> int:
    command = args.suppressions_command
    if command == "list":
        entries = store.list(args.limit)
        _print(entries)
        print(f"{len(entries)} suppression(s)")
        return 0
    if command == "show":
        entries = store.show(args.address)
        if not entries:
            print("not suppressed")
            return 1
        print(entries[0].reason)
        _print(entries)
        return 0
    kind = args.address.partition(":")[0] if ":" in args.address else "email"
    if command == "add":
        changed = store.add(args.address, args.reason)
        log.info(
            "suppression_changed",
            action="add",
            subject_type=kind,
            reason=args.reason,
            changed=changed,
        )
        print("suppressed" if changed else "already suppressed (a newer change is recorded)")
        return 0
    result = store.remove(args.address)
    log.info(
        "suppression_changed",
        action="remove",
        subject_type=kind,
        why=args.reason,
        outcome=result.outcome.value,
    )
    if result.outcome is Removal.NOT_SUPPRESSED:
        print("not suppressed: nothing to remove", file=sys.stderr)
        return 3
    if result.outcome is Removal.KEPT:
        print("not removed: a newer change keeps it suppressed", file=sys.stderr)
        _print(result.remaining)
        return 1
    print("removed: every reason cleared")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``suppressions`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "suppressions",
        help="list, show, add or remove suppressed addresses (kept by reporting webhooks)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="suppressions_command", required=True)
    listing = sub.add_parser("list", help="suppressed subjects, most recent first")
    listing.add_argument("--limit", type=int, default=1000)
    show = sub.add_parser("show", help="exit 0 and print the reason if suppressed, else 1")
    show.add_argument("address")
    add = sub.add_parser("add", help="suppress an address by hand")
    add.add_argument("address")
    add.add_argument("--reason", choices=REASONS, default="manual")
    remove = sub.add_parser("remove", help="clear every reason of an address")
    remove.add_argument("address")
    remove.add_argument(
        "--reason", required=True, help="why it may be sent to again (logged), e.g. 'mailbox fixed'"
    )
    parser.set_defaults(func=_run)
