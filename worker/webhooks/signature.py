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
from typing import Final

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "SignatureError",
    "parse_signing_keys",
    "sign",
    "verify_signature",
]

#: How far (either way) a request's timestamp may be from our clock
#: (``CIO_WEBHOOK_TOLERANCE_S``).
DEFAULT_TOLERANCE_S: Final = 300
_HEX_DIGITS: Final = frozenset("0123456789abcdefABCDEF")


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


def _text(value: str | bytes | None, header: str) -> str:
    if value is None:
        raise SignatureError(f"missing {header} header")
    if isinstance(value, bytes):
        try:
            value = value.decode("ascii")
        except UnicodeDecodeError:
            raise SignatureError(f"malformed {header} header") from None
    value = value.strip()
    if not value:
        raise SignatureError(f"missing {header} header")
    return value


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
    :class:`SignatureError`.

    ``signing_keys`` is one key, a comma-separated list, or an iterable (several keys are
    accepted while a key is being rotated). Every key is compared in constant time.
    """
    if isinstance(signing_keys, str):
        keys = parse_signing_keys(signing_keys)
    else:
        keys = [key for key in signing_keys if key]
    if not keys:
        raise SignatureError("no webhook signing key is configured")
    stamp_text = _text(timestamp_header, "X-CIO-Timestamp")
    signature = _text(signature_header, "X-CIO-Signature")
    if not stamp_text.isdigit() or len(stamp_text) > 12:
        raise SignatureError("malformed X-CIO-Timestamp header")
    if len(signature) != 64 or not set(signature) <= _HEX_DIGITS:
        raise SignatureError("malformed X-CIO-Signature header")
    now = time.time() if now is None else now
    if abs(now - int(stamp_text)) > tolerance_s:
        raise SignatureError(f"timestamp outside the {tolerance_s:g} s tolerance")
    wanted = signature.lower().encode()
    # Compare against every key (no early exit) so the time taken says nothing about which.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(sign(raw_body, stamp_text, key).encode(), wanted)
    if not matched:
        raise SignatureError("signature does not match")
