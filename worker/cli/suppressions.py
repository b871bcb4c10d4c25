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
import re
from datetime import UTC, datetime
from typing import Any, Final

from cio_pipeline.producer.keys import Keys
from cio_pipeline.producer.suppressions import REASONS, Suppression
from cio_pipeline.worker.cli.errors import CannotTell, NotFound, Refused
from cio_pipeline.worker.core.logs import configure_logging, get_logger
from cio_pipeline.worker.core.settings import WorkerSettings
from cio_pipeline.worker.runner.context import worker_connection
from cio_pipeline.worker.webhooks.store import Removal, SuppressionStore

__all__ = ["register"]

log = get_logger("cio.suppressions")


#: What the store keys suppressions by (an e-mail address, ``id:``, ``cio_id:``).
_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+")
_PERSON: Final = re.compile(r"(id|cio_id):\S+")
_FORMS: Final = "an e-mail address (ann@example.com), id:<person id> (id:42) or cio_id:<cio id>"

#: What the user-facing help says (the module docstring is for developers).
_DESCRIPTION: Final = f"""\
Addresses and people that must not be sent to, kept by the reporting webhooks (bounced,
spammed, dropped, unsubscribed) and by hand (manual).

IDENTIFIER is {_FORMS}.

  show IDENTIFIER    exit 0 and print the reason when suppressed, 1 when not
  add IDENTIFIER     suppress by hand (--reason, default manual)
  remove IDENTIFIER  clear every reason (exit 3 when nothing is suppressed)

Exit 2 when the identifier is not one of the forms above or Redis cannot be asked."""


def _identifier(text: str) -> str:
    """``text`` if it is a form the store keys by (raises :class:`CannotTell` otherwise)."""
    value = text.strip()
    if value.startswith("email:"):
        value = value.removeprefix("email:")
    if _PERSON.fullmatch(value) or _EMAIL.fullmatch(value):
        return text.strip()
    raise CannotTell(f"{text!r} is not an identifier: give {_FORMS}")


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _print(entries: list[Suppression]) -> None:
    for s in entries:
        if s.damaged is not None:
            print(f"{s.subject:<50} {s.reason:<13} DAMAGED: {s.damaged}")
        else:
            print(f"{s.subject:<50} {s.reason:<13} {_when(s.at)}  event {s.event_id}")


def _run(args: argparse.Namespace) -> int:
    if args.suppressions_command != "list":
        args.address = _identifier(args.address)
    settings = WorkerSettings.from_env()
    configure_logging(settings.log_format, settings.log_level)
    store = SuppressionStore(worker_connection(settings), Keys.of(settings.queue))
    return _command(store, args)


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
            raise Refused("not suppressed")
        print(entries[0].reason)
        _print(entries)
        return 0
    kind = args.address.partition(":")[0] if not _EMAIL.fullmatch(args.address) else "email"
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
        raise NotFound("not suppressed: nothing to remove")
    if result.outcome is Removal.KEPT:
        _print(result.remaining)
        raise Refused("not removed: a newer change keeps it suppressed")
    print("removed: every reason cleared")
    return 0


def register(subparsers: Any) -> None:
    """Add the ``suppressions`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "suppressions",
        help="list, show, add or remove suppressed addresses (kept by reporting webhooks)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="suppressions_command", metavar="ACTION", required=True)
    listing = sub.add_parser(
        "list",
        help="suppressed subjects, most recent first",
        description="Suppressed subjects, most recent first.",
    )
    listing.add_argument(
        "--limit", type=int, default=1000, help="at most this many (default: 1000)"
    )
    show = sub.add_parser(
        "show",
        help="exit 0 and print the reason if suppressed, else 1",
        description=f"Exit 0 and print the reason if suppressed, 1 if not. IDENTIFIER: {_FORMS}.",
    )
    show.add_argument("address", metavar="IDENTIFIER")
    add = sub.add_parser(
        "add",
        help="suppress an address or person by hand",
        description=f"Suppress by hand. IDENTIFIER: {_FORMS}.",
    )
    add.add_argument("address", metavar="IDENTIFIER")
    add.add_argument(
        "--reason", choices=REASONS, default="manual", help="the reason recorded (default: manual)"
    )
    remove = sub.add_parser(
        "remove",
        help="clear every reason of an address or person",
        description=f"Clear every reason (exit 3 when none is in force). IDENTIFIER: {_FORMS}.",
    )
    remove.add_argument("address", metavar="IDENTIFIER")
    remove.add_argument(
        "--reason", required=True, help="why it may be sent to again (logged), e.g. 'mailbox fixed'"
    )
    parser.set_defaults(func=_run)
