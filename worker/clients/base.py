"""What the Track and App clients share: one pooled ``httpx.Client``, JSON, one request method.

A client sends exactly one HTTP request per call and turns whatever happens into an
:data:`~cio_pipeline.worker.clients.outcomes.Outcome`; it never retries (the retry policy owns that)
and never raises for an HTTP answer or a network failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from importlib.metadata import PackageNotFoundError, version
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote

import httpx

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.worker.clients.outcomes import Outcome
from cio_pipeline.worker.clients.responses import Api, outcome_from_exception, outcome_from_response
from cio_pipeline.worker.core.settings import WorkerSettings

__all__ = [
    "USER_AGENT",
    "ApiClient",
    "MissingCredential",
    "encode_json",
    "path_segment",
    "timeout_from",
]


def _user_agent() -> str:
    try:
        return f"cio-pipeline/{version('cio-pipeline')}"
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "cio-pipeline/0+unknown"


#: Sent on every request, so Customer.io (and the emulator's request log) can tell us apart.
USER_AGENT = _user_agent()

# A worker is one thread and sends one request at a time per API, so a few connections are
# plenty. Idle connections are dropped after 4 s, before common server keep-alive timeouts (uvicorn
# 5 s, load balancers 60 s): a request written on a connection the server is closing at that
# moment fails as Ambiguous, and an ambiguous send is dead-lettered rather than retried.
_LIMITS = httpx.Limits(max_connections=4, max_keepalive_connections=4, keepalive_expiry=4.0)


class MissingCredential(SettingsError):
    """A credential a client needs is not set; the message names the variable(s)."""

    def __init__(self, variables: Iterable[str]) -> None:
        self.variables = tuple(variables)
        verb = "is" if len(self.variables) == 1 else "are"
        super().__init__(f"{' and '.join(self.variables)} {verb} not set")


def encode_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as sent on the wire (and as the batcher should measure sizes).

    Raises ``ValueError``/``TypeError`` for values JSON cannot carry (NaN, objects): the
    producer normalises operations, so such a value here is a bug, not a delivery failure.
    """
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def path_segment(value: object) -> str:
    """``value`` URL-encoded as one path segment (``/``, ``@``, spaces and all).

    ``.`` and ``..`` are unreserved characters, but as a whole segment a URL library removes
    them as dot-segments (``customers/../suppress`` becomes ``/suppress``), so they are
    percent-encoded too.
    """
    segment = quote(str(value), safe="")
    if segment in (".", ".."):
        return segment.replace(".", "%2E")
    return segment


def timeout_from(settings: WorkerSettings) -> httpx.Timeout:
    """Explicit timeouts: connect and pool waits use the connect timeout, read and write the
    read timeout (a 500 KB batch must be written within it too)."""
    return httpx.Timeout(
        connect=settings.http_connect_timeout_s,
        read=settings.http_read_timeout_s,
        write=settings.http_read_timeout_s,
        pool=settings.http_connect_timeout_s,
    )


class ApiClient:
    """Base of :class:`TrackClient` and :class:`AppClient`: one request -> one Outcome.

    Give ``transport`` (e.g. ``httpx.MockTransport``) to keep our client configuration with a
    fake network, or ``http_client`` to use a ready ``httpx.Client`` (it is then not closed by
    :meth:`close`). Requests use absolute URLs and carry their own auth header, so an injected
    client needs no base URL or auth of its own.
    """

    api: Api

    def __init__(
        self,
        base_url: str,
        authorization: str,
        settings: WorkerSettings,
        *,
        secrets: Iterable[str],
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._authorization = authorization
        self._secrets = tuple(s for s in secrets if s)
        self._owns_client = http_client is None
        self.http = http_client or httpx.Client(
            # retries=0: the worker's retry policy decides, with the outcome in hand
            transport=transport or httpx.HTTPTransport(retries=0, limits=_LIMITS),
            timeout=timeout_from(settings),
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def request(self, method: str, path: str, body: Any = None) -> Outcome:
        """Send one request to ``base_url + path`` (``body`` JSON-encoded unless None)."""
        headers = {
            "Authorization": self._authorization,
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        content = None
        if body is not None:
            content = encode_json(body)
            headers["Content-Type"] = "application/json"
        return self._send(method, path, headers, content)

    def _send(
        self, method: str, path: str, headers: Mapping[str, str], content: bytes | None
    ) -> Outcome:
        started = time.perf_counter()
        try:
            response = self.http.request(
                method, self.base_url + path, headers=headers, content=content
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return outcome_from_exception(exc, latency_s=time.perf_counter() - started)
        return outcome_from_response(
            response.status_code,
            response.headers,
            response.content,
            api=self.api,
            latency_s=time.perf_counter() - started,
            secrets=self._secrets,
        )

    def close(self) -> None:
        """Close the pooled connections (unless the ``httpx.Client`` was injected)."""
        if self._owns_client:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
