"""Masking a URL before it is printed, logged or put in an error message.

A URL may carry credentials in two places: its userinfo (``redis://user:secret@host``,
``http://user:secret@proxy:3128``) and its query (``redis://host/0?password=secret``, which
redis-py reads). :func:`mask_url` replaces both with ``***``; every command, log line and
error of this project that shows a URL (``REDIS_URL``, ``CUSTOMERIO_TRACK_URL``, a proxy's)
goes through it, so there is one place to get right.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = ["describe_redis", "mask_url"]

#: Query parameters whose values are secrets (redis-py reads ``password``; the others are
#: common spellings in connection strings).
_SECRET_QUERY_KEYS = frozenset({"password", "pass", "pwd", "secret", "token"})


def mask_url(url: str) -> str:
    """``url`` with any userinfo and any ``password=`` (or similar) query value replaced by
    ``***``; the scheme, host, port, path and other query parameters are kept. A string that
    is not a URL is returned with anything before an ``@`` masked."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a malformed port or bracket: show no userinfo at all
        scheme, sep, rest = url.partition("://")
        tail = rest.rsplit("@", 1)[1] if "@" in rest else rest
        return f"{scheme}{sep}***@{tail}" if "@" in rest else url
    netloc = parts.netloc
    if "@" in netloc:
        host = parts.hostname or ""
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        netloc = f"***@{host}" + (f":{port}" if port is not None else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(key.lower() in _SECRET_QUERY_KEYS for key, _ in pairs):
            query = urlencode(
                [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in pairs],
                safe="*",
            )
    if netloc == parts.netloc and query == parts.query:
        return url  # nothing to hide: keep the text exactly (urlsplit drops "unix:///"'s //)
    masked = parts._replace(netloc=netloc, query=query).geturl()
    if not netloc and url.startswith(f"{parts.scheme}://") and "://" not in masked:
        masked = masked.replace(":", "://", 1)
    return masked


def describe_redis(url: str, sentinels: str | None = None, master: str | None = None) -> str:
    """Where Redis is, for a person and without credentials: the masked ``REDIS_URL``, and
    with Sentinel the Sentinels' addresses and the master's name."""
    where = mask_url(url)
    if sentinels:
        return f"{where} through the Sentinels at {sentinels} (master {master!r})"
    return where
