"""Verifying a reporting webhook's signature: a plain function, usable from any web framework.

Customer.io signs ``b"v0:" + X-CIO-Timestamp + b":" + raw body`` with HMAC-SHA256 keyed with
the workspace's webhook signing key and sends the hex digest in ``X-CIO-Signature``. The
body must be the bytes as received: re-serialised JSON (``json.dumps(json.loads(body))``,
or ``JSON.stringify(req.body)`` in the source document's sketch) differs from them as soon
as Customer.io's key order or whitespace does, and every signature then fails. Imports the
standard library only, so a Django or Flask view can use it without our web stack.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SignatureError",
    "VerifiedRequest",
    "parse_signing_keys",
    "sign",
    "verify_request",
    "verify_signature",
]

#: How far (either way) a request's timestamp may be from our clock
#: (``CIO_WEBHOOK_TOLERANCE_S``).
DEFAULT_TOLERANCE_S: Final = 300
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")
_ASCII_DIGITS: Final = frozenset("0123456789")


class SignatureError(ValueError):
    """The request is not a genuine, fresh Customer.io webhook; the message says which check
    failed (never the body, the key or the signature)."""


def parse_signing_keys(setting: str | None) -> list[str]:
    """The keys in ``CUSTOMERIO_WEBHOOK_SIGNING_KEY``: comma-separated, for key rotation."""
    return [key.strip() for key in (setting or "").split(",") if key.strip()]


def sign(raw_body: bytes, timestamp: str | int, key: str) -> str:
    """The hex signature Customer.io sends for ``raw_body`` at ``timestamp`` (for tests and
    the emulator)."""
    message = b"v0:" + str(timestamp).encode() + b":" + raw_body
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def _text(value: object, header: str) -> str:
    if value is None:
        raise SignatureError(f"missing {header} header")
    if isinstance(value, bytes | bytearray):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise SignatureError(f"malformed {header} header") from None
    # Headers are ASCII; a web framework may hand us other characters decoded as Latin-1.
    if not isinstance(value, str) or not value.isascii():
        raise SignatureError(f"malformed {header} header")
    value = value.strip()
    if not value:
        raise SignatureError(f"missing {header} header")
    return value


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """What a verified request was signed with: its timestamp (unix seconds) and its
    signature (64 lower-case hex digits), e.g. to refuse a replay of the same signature."""

    timestamp: int
    signature: str


def _keys(signing_keys: Any) -> list[str]:
    if isinstance(signing_keys, str):
        return parse_signing_keys(signing_keys)
    try:
        keys = [key for key in signing_keys if key]
    except TypeError:
        raise SignatureError("the signing keys must be a string or strings") from None
    if not all(isinstance(key, str) for key in keys):
        raise SignatureError("the signing keys must be a string or strings")
    return keys


def _body(raw_body: Any) -> bytes:
    if isinstance(raw_body, bytes):
        return raw_body
    if isinstance(raw_body, bytearray | memoryview):
        return bytes(raw_body)
    raise SignatureError("the raw body must be bytes (the request body as received)")


def _matches(body: bytes, stamp_text: str, keys: list[str], wanted: bytes) -> bool:
    matched = False
    # Compare against every key (no early exit) so the time taken says nothing about which.
    for key in keys:
        try:
            expected = sign(body, stamp_text, key).encode()
        except UnicodeEncodeError:
            continue  # a key that is not text (a lone surrogate) can sign nothing
        matched |= hmac.compare_digest(expected, wanted)
    return matched


def verify_request(
    raw_body: bytes,
    timestamp_header: str | bytes | None,
    signature_header: str | bytes | None,
    signing_keys: str | Iterable[str],
    now: float | None = None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> VerifiedRequest:
    """:func:`verify_signature`, returning the verified timestamp and signature."""
    keys = _keys(signing_keys)
    if not keys:
        raise SignatureError("no webhook signing key is configured")
    body = _body(raw_body)
    stamp_text = _text(timestamp_header, "X-CIO-Timestamp")
    signature = _text(signature_header, "X-CIO-Signature")
    # ASCII digits only: str.isdigit() also accepts "²" or "¹", which int() refuses.
    if len(stamp_text) > 12 or not set(stamp_text) <= _ASCII_DIGITS:
        raise SignatureError("malformed X-CIO-Timestamp header")
    if len(signature) != 64 or not set(signature) <= _HEX_DIGITS:
        raise SignatureError("malformed X-CIO-Signature header")
    stamp = int(stamp_text)
    now = time.time() if now is None else now
    if not abs(now - stamp) <= tolerance_s:  # "not <=": a NaN clock refuses too
        raise SignatureError(f"timestamp outside the {tolerance_s:g} s tolerance")
    wanted = signature.lower().encode()
    if not _matches(body, stamp_text, keys, wanted):
        raise SignatureError("signature does not match")
    return VerifiedRequest(stamp, wanted.decode())


def verify_signature(
    raw_body: bytes,
    timestamp_header: str | bytes | None,
    signature_header: str | bytes | None,
    signing_keys: str | Iterable[str],
    now: float | None = None,
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> None:
    """Return when the request is signed by one of ``signing_keys`` and its timestamp is
    within ``tolerance_s`` of ``now`` (default: the clock) in either direction; otherwise raise
    :class:`SignatureError`, and nothing else, whatever the headers hold.

    ``signing_keys`` is one key, a comma-separated list, or an iterable (several keys are
    accepted while a key is being rotated). Every key is compared in constant time. The same
    signed request is accepted again while its timestamp is fresh: refusing replays needs
    shared state (the receiver keeps it in Redis, see ``docs/webhooks-receiver.md``).
    """
    verify_request(
        raw_body, timestamp_header, signature_header, signing_keys, now, tolerance_s=tolerance_s
    )
