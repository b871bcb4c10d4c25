"""The demo's workload: what a small web shop sends Customer.io, through the producer API.

New users are identified, then tracked (a signup, page views, purchases); an anonymous
visitor's event is recorded and the e-mail profile a newsletter form created is merged into
the person who signed up; devices are added; a few receipts are sent as transactional e-mails.
One operation is poison on purpose: an identify whose ``created_at`` is ``-1`` (a client's
"unknown" sentinel). The producer accepts it (it is an integer timestamp), Customer.io refuses
it (timestamps are unix seconds, never negative), so it must end as a dead letter with
Customer.io's reason while every other operation is delivered.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cio_pipeline.producer import APIClient, CustomerIO, SendEmailRequest

__all__ = [
    "MIN_OPERATIONS",
    "Call",
    "Produced",
    "email_address",
    "plan_workload",
    "produce_wave",
    "user_id",
]

#: Below this a workload cannot hold one of each kind of operation.
MIN_OPERATIONS = 40

_PAGES = ("/", "/pricing", "/docs", "/blog/launch", "/cart", "/account")
_PLANS = ("free", "starter", "pro")


@dataclass(frozen=True)
class Call:
    """One producer call: ``kind`` for the summary, the method and its arguments."""

    kind: str
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    poison: bool = False


@dataclass
class Produced:
    """Job ids produced so far, by kind; ``poison`` holds the planned dead letter's id."""

    by_kind: dict[str, list[str]] = field(default_factory=dict)
    poison: str | None = None

    @property
    def job_ids(self) -> list[str]:
        """Every produced job id."""
        return [job_id for ids in self.by_kind.values() for job_id in ids]

    def add(self, call: Call, job_id: str) -> None:
        """Record the job id of ``call``."""
        self.by_kind.setdefault(call.kind, []).append(job_id)
        if call.poison:
            self.poison = job_id


def user_id(n: int) -> str:
    """The id of the demo's ``n``-th person."""
    return f"demo-user-{n:05d}"


def email_address(n: int) -> str:
    """The e-mail address of the demo's ``n``-th person (receipts go to the first few)."""
    return f"user{n}@example.com"


def _signup_calls(n: int, now: datetime, rng: random.Random) -> list[Call]:
    return [
        Call(
            "identify",
            "identify",
            (user_id(n),),
            {
                "email": email_address(n),
                "created_at": now - timedelta(minutes=rng.randint(0, 600)),
                "plan": rng.choice(_PLANS),
                "first_name": f"User {n}",
            },
        ),
        Call("signup event", "track", (user_id(n), "signed_up"), {"data": {"source": "web"}}),
    ]


def plan_workload(operations: int, seed: int = 7) -> list[list[Call]]:
    """``operations`` producer calls in waves, each person's calls in order.

    The first waves identify new users; later waves track what they do. Raises ``ValueError``
    below :data:`MIN_OPERATIONS`.
    """
    if operations < MIN_OPERATIONS:
        raise ValueError(f"--operations must be at least {MIN_OPERATIONS}")
    rng = random.Random(seed)
    now = datetime.now(UTC)
    sends = max(2, operations // 100)
    visitors = max(1, operations // 200)
    devices = max(1, operations // 50)
    # a visitor costs 3 calls (event, e-mail profile, merge); +1 for the poison
    fixed = sends + 3 * visitors + devices + 1
    activity = operations - fixed
    users = max(visitors, devices, sends, activity // 4)
    calls: list[Call] = []
    for n in range(users):
        calls += _signup_calls(n, now, rng)
    calls.append(
        Call(
            "identify",
            "identify",
            (user_id(users),),
            {"email": email_address(users), "created_at": -1},
            poison=True,
        )
    )
    for n in range(visitors):
        anonymous = f"anon-{n:04d}"
        calls += [
            Call(
                "anonymous event",
                "track_anonymous",
                (anonymous, "viewed_landing_page"),
                {"data": {"page": "/"}},
            ),
            Call("identify", "identify", (email_address(n),), {"newsletter": True}),
            Call("merge", "merge_customers", ("id", user_id(n), "email", email_address(n))),
        ]
    for n in range(devices):
        calls.append(
            Call(
                "device",
                "add_device",
                (user_id(n), f"device-token-{n:05d}", "ios"),
                {"last_used": now},
            )
        )
    remaining = operations - len(calls) - sends
    for _ in range(max(0, remaining)):
        n = rng.randrange(users)
        if rng.random() < 0.8:
            calls.append(Call("page view", "pageview", (user_id(n), rng.choice(_PAGES))))
        else:
            calls.append(
                Call(
                    "purchase",
                    "track",
                    (user_id(n), "purchased"),
                    {"data": {"total": round(rng.uniform(5, 200), 2)}},
                )
            )
    for n in range(sends):
        calls.append(
            Call(
                "transactional send",
                "send_email",
                (
                    SendEmailRequest(
                        transactional_message_id=1,
                        to=email_address(n),
                        identifiers={"id": user_id(n)},
                        message_data={"order": 1000 + n},
                    ),
                ),
                {"idempotency_key": f"demo-receipt-{n}"},
            )
        )
    calls = calls[:operations]
    return list(_waves(calls, 10))


def _waves(calls: list[Call], count: int) -> Iterator[list[Call]]:
    size = -(-len(calls) // count)
    for start in range(0, len(calls), size):
        yield calls[start : start + size]


def produce_wave(wave: list[Call], cio: CustomerIO, api: APIClient, produced: Produced) -> None:
    """Enqueue ``wave`` (one Redis round trip per API) and record the job ids."""
    track = [c for c in wave if c.method != "send_email"]
    sends = [c for c in wave if c.method == "send_email"]
    for client, part in ((cio, track), (api, sends)):
        if not part:
            continue
        with client.pipeline() as pipe:
            ids = [getattr(pipe, c.method)(*c.args, **c.kwargs) for c in part]
        for call, job_id in zip(part, ids, strict=True):
            produced.add(call, job_id)
