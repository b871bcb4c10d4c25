"""Map what came back from Customer.io (an HTTP answer or an httpx exception) to an Outcome.

Pure functions, no I/O: the clients call them and the tests drive them with tables.

Which exceptions are *ambiguous* is what matters most here: a transactional send is retried only
when Customer.io certainly did not act on it (invariant I, docs/design.md). httpx raises:

* ``ConnectError`` / ``ConnectTimeout``: the TCP (or TLS) connection was never established, so no
  byte of the request left. ``PoolTimeout``: we never even got a connection. ``ProxyError`` and
  ``UnsupportedProtocol`` also happen before the request is written, and ``LocalProtocolError``
  is h11 refusing to *write* an invalid message. -> ``Transient(sent=False)``.
* ``ReadTimeout``, ``ReadError``, ``RemoteProtocolError`` (e.g. "server disconnected without
  sending a response"): the request was written and the answer was lost. The server may have
  processed it. -> ``Ambiguous``. This includes a stale keep-alive connection closed by the
  server just as we reused it: that case is harmless, but we cannot tell it apart.
* ``WriteError``: httpcore swallows it while sending and goes on to read the answer (servers may
  answer early and close), so it normally surfaces as one of the read errors above. If another
  transport raises it we do not know how much was written. -> ``Ambiguous``.
* ``WriteTimeout``: part of the request was handed to the kernel. A server cannot act on an
  incomplete request, but "certainly" is the bar for invariant I and the cost is asymmetric (a
  needless dead letter that an operator replays versus an e-mail sent twice). -> ``Ambiguous``.
* ``DecodingError`` / ``CloseError``: an answer arrived but could not be read or closed cleanly:
  the request reached the server. -> ``Ambiguous``.
* Anything else unknown that httpx raises -> ``Ambiguous`` (the safe side).
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from cio_pipeline.worker.clients.outcomes import (
    Ambiguous,
    BatchItemError,
    Outcome,
    Partial,
    Permanent,
    RateLimited,
    Success,
    Transient,
)

__all__ = [
    "MAX_MESSAGE_CHARS",
    "Api",
    "auth_message",
    "error_message",
    "outcome_from_exception",
    "outcome_from_response",
    "parse_retry_after",
]

#: Which API answered; it decides the wording of 401/403 messages.
Api = Literal["track", "app"]

#: Error texts taken from a response are cut to this many characters (they end up in dead
#: letters and logs; an error page must not flood them).
MAX_MESSAGE_CHARS = 300

_TEXT_PREFIX_BYTES = 16 * MAX_MESSAGE_CHARS

_AUTH_MESSAGES: dict[str, str] = {
    "track": (
        "Track API rejected CUSTOMERIO_SITE_ID/CUSTOMERIO_API_KEY (Basic auth). "
        "The App API key (CUSTOMERIO_APP_API_KEY) does not work here."
    ),
    "app": (
        "App API rejected CUSTOMERIO_APP_API_KEY (Bearer). "
        "The Track API key (CUSTOMERIO_API_KEY) does not work here."
    ),
}

_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


def auth_message(api: Api) -> str:
    """What a 401/403 from ``api`` means: which credential, which env var, which auth scheme."""
    return _AUTH_MESSAGES[api]


def outcome_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    api: Api,
    latency_s: float = 0.0,
    now: datetime | None = None,
    secrets: Iterable[str] = (),
) -> Outcome:
    """The Outcome of one HTTP answer. ``headers`` keys are matched case-insensitively.

    ``now`` resolves an HTTP-date Retry-After (default: the current UTC time); every string in
    ``secrets`` is blanked out of error texts, in case a server echoes a credential.
    """
    if status == 207:
        return Partial(errors=_batch_errors(_json_or_none(body)), latency_s=latency_s)
    if 200 <= status < 300:
        parsed = _json_or_none(body)
        return Success(status, parsed if isinstance(parsed, dict) else {}, latency_s=latency_s)
    if status == 429:
        retry_after = _header(headers, "retry-after")
        return RateLimited(parse_retry_after(retry_after, now=now), latency_s=latency_s)
    message = error_message(body, secrets=secrets)
    if status == 408 or status >= 500:
        reason = f"HTTP {status}" + (f": {message}" if message else "")
        return Transient(reason, status=status, latency_s=latency_s)
    if status in (401, 403):
        text = auth_message(api) + (f" Customer.io said: {message}" if message else "")
        return Permanent(status, text, latency_s=latency_s)
    if 300 <= status < 400:
        # We never follow redirects: a POST that is redirected was not acted on, and following
        # one could carry the credentials to another host. It means a wrong base URL.
        where = _cap(_redact(_header(headers, "location") or "?", secrets))
        return Permanent(status, f"unexpected redirect to {where}: check the base URL", latency_s)
    return Permanent(status, message or f"HTTP {status}", latency_s=latency_s)


def outcome_from_exception(exc: Exception, *, latency_s: float = 0.0) -> Outcome:
    """The Outcome of an httpx exception raised while sending (see the module docstring)."""
    name = type(exc).__name__
    detail = _cap(str(exc)) or name
    if isinstance(exc, _NOT_SENT) or isinstance(exc, httpx.InvalidURL):
        return Transient(f"not sent: {name}: {detail}", sent=False, latency_s=latency_s)
    if isinstance(exc, httpx.TimeoutException):
        return Ambiguous(f"no complete answer in time: {name}: {detail}", latency_s=latency_s)
    return Ambiguous(f"the request may have been received: {name}: {detail}", latency_s)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), else None.

    A date in the past means "now" (0.0); a negative, non-finite or unparsable value is ignored.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(int(value))
    try:
        seconds = float(value)  # not RFC 9110, but some servers send "1.5"
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # RFC 9110 dates are GMT
    reference = now or datetime.now(UTC)
    return max(0.0, (when - reference).total_seconds())


def error_message(body: bytes, *, secrets: Iterable[str] = ()) -> str:
    """Customer.io's error text from an error body, redacted and capped; ``""`` if empty.

    Shapes: v1 ``{"meta": {"errors": [...]}}`` or ``{"meta": {"error": "..."}}``, v2
    ``{"errors": [{"reason", "field", "message"}]}``, App ``{"meta": {"error": ...}}``. A body
    that is none of these (an HTML error page, plain text) is kept as capped text.
    """
    parsed = _json_or_none(body)
    if isinstance(parsed, dict):
        parts = _meta_errors(parsed.get("meta")) + _v2_errors(parsed.get("errors"))
        if not parts and isinstance(parsed.get("error"), str | dict):
            parts = [_text(parsed["error"])]
        if parts:
            return _cap(_redact("; ".join(p for p in parts if p), secrets))
    # an error page can be large; only its start can end up in the (capped) message
    text = " ".join(body[:_TEXT_PREFIX_BYTES].decode("utf-8", errors="replace").split())
    return _cap(_redact(text, secrets))


def _meta_errors(meta: object) -> list[str]:
    if not isinstance(meta, dict):
        return []
    errors = meta.get("errors")
    if isinstance(errors, list):
        return [_text(e) for e in errors]
    if "error" in meta:
        return [_text(meta["error"])]
    return []


def _v2_errors(errors: object) -> list[str]:
    if not isinstance(errors, list):
        return []
    parts = []
    for item in errors:
        if isinstance(item, dict):
            pieces = [_text(item.get(k)) for k in ("field", "reason", "message") if item.get(k)]
            parts.append(": ".join(pieces))
        else:
            parts.append(_text(item))
    return parts


def _batch_errors(parsed: object) -> tuple[BatchItemError, ...]:
    """The items of a 207 body; entries without an integer ``batch_index`` are skipped."""
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(errors, list):
        return ()
    items = []
    for item in errors:
        if not isinstance(item, dict):
            continue
        index = item.get("batch_index")
        if not isinstance(index, int) or isinstance(index, bool):
            continue
        items.append(
            BatchItemError(
                batch_index=index,
                reason=_cap(_text(item.get("reason"))),
                field=_cap(_text(item.get("field"))),
                message=_cap(_text(item.get("message"))),
            )
        )
    return tuple(items)


def _json_or_none(body: bytes) -> Any:
    if not body.strip():
        return None
    try:
        return json.loads(body)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    if isinstance(headers, httpx.Headers):
        value: str | None = headers.get(name)
        return value
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def _cap(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 1] + "…"


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return text
