"""The App API client: transactional sends (``POST /v1/send/<kind>``) and the key check.

``Authorization: Bearer <CUSTOMERIO_APP_API_KEY>`` on ``settings.app_base_url``. There is no
idempotency key in this API: a send that ends ``Ambiguous`` may have been delivered, and the
caller (not this client) decides whether it may be tried again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

import httpx

from cio_pipeline.worker.clients.base import ApiClient, MissingCredential
from cio_pipeline.worker.clients.outcomes import Outcome
from cio_pipeline.worker.clients.responses import Api
from cio_pipeline.worker.core.settings import WorkerSettings

__all__ = ["SEND_KINDS", "AppClient", "SendKind"]

#: The message kinds with a ``/v1/send/<kind>`` endpoint.
SendKind = Literal["email", "push", "sms", "in_app", "inbox_message", "whatsapp"]
SEND_KINDS: Final[tuple[str, ...]] = get_args(SendKind)


class AppClient(ApiClient):
    """One workspace's App API. Every method sends one request and returns an Outcome.

    Raises :class:`MissingCredential` when ``CUSTOMERIO_APP_API_KEY`` is not set.
    """

    api: Api = "app"

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        if not settings.app_api_key:
            raise MissingCredential(["CUSTOMERIO_APP_API_KEY"])
        super().__init__(
            settings.app_base_url,
            f"Bearer {settings.app_api_key}",
            settings,
            secrets=(settings.app_api_key, settings.api_key or ""),
            transport=transport,
            http_client=http_client,
        )

    def send(self, kind: SendKind, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/{kind}`` with the request body as given (``from``, not ``_from``).

        Success's body holds ``delivery_id`` and ``queued_at``.
        """
        if kind not in SEND_KINDS:
            raise ValueError(f"unknown send kind {kind!r}; expected one of {SEND_KINDS}")
        return self.request("POST", f"/v1/send/{kind}", dict(request))

    def send_email(self, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/email``."""
        return self.send("email", request)

    def send_push(self, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/push``."""
        return self.send("push", request)

    def send_sms(self, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/sms``."""
        return self.send("sms", request)

    def send_in_app(self, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/in_app``."""
        return self.send("in_app", request)

    def send_inbox_message(self, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/inbox_message``."""
        return self.send("inbox_message", request)

    def send_whatsapp(self, request: Mapping[str, Any]) -> Outcome:
        """``POST /v1/send/whatsapp``."""
        return self.send("whatsapp", request)

    def check_key(self, *, api_key: str | None = None) -> Outcome:
        """``GET /v1/transactional``: lists templates, changes nothing; 401 for a wrong key.

        ``api_key`` tries another key instead of ours (``cio-pipeline check`` uses it to
        recognise swapped Track and App keys).
        """
        if api_key is None:
            return self.request("GET", "/v1/transactional")
        headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        return self._send("GET", "/v1/transactional", headers, None)
