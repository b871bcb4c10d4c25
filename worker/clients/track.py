"""The Track API client (v1 per-operation endpoints, v2 entity/batch, the region check).

Basic auth with ``CUSTOMERIO_SITE_ID``/``CUSTOMERIO_API_KEY`` on ``settings.track_base_url``.
Bodies are exactly the spec's (``../reference/customerio-track-api.openapi.json``); optional
fields left as None are omitted rather than sent as ``null``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from cio_pipeline.worker.clients.base import USER_AGENT, ApiClient, MissingCredential, path_segment
from cio_pipeline.worker.clients.outcomes import Outcome
from cio_pipeline.worker.clients.responses import Api
from cio_pipeline.worker.core.settings import WorkerSettings

__all__ = ["TrackClient"]


def _basic(site_id: str, api_key: str) -> str:
    token = base64.b64encode(f"{site_id}:{api_key}".encode()).decode("ascii")
    return f"Basic {token}"


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class TrackClient(ApiClient):
    """One Track API workspace. Every method sends one request and returns an Outcome.

    Raises :class:`MissingCredential` (naming the variable) when ``settings`` lacks the site id
    or the Track API key.
    """

    api: Api = "track"

    def __init__(
        self,
        settings: WorkerSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
    ) -> None:
        missing = [
            name
            for name, value in (
                ("CUSTOMERIO_SITE_ID", settings.site_id),
                ("CUSTOMERIO_API_KEY", settings.api_key),
            )
            if not value
        ]
        if missing or settings.site_id is None or settings.api_key is None:
            raise MissingCredential(missing)
        self._site_id = settings.site_id
        super().__init__(
            settings.track_base_url,
            _basic(settings.site_id, settings.api_key),
            settings,
            secrets=(settings.api_key, settings.app_api_key or ""),
            transport=transport,
            http_client=http_client,
        )

    # -- v1: one operation per call ---------------------------------------------------------

    def identify(self, identifier: str, attributes: Mapping[str, Any]) -> Outcome:
        """``PUT /api/v1/customers/{identifier}``: create or update a person's attributes."""
        return self.request("PUT", _customer(identifier), dict(attributes))

    def delete(self, identifier: str) -> Outcome:
        """``DELETE /api/v1/customers/{identifier}``."""
        return self.request("DELETE", _customer(identifier))

    def track(
        self,
        identifier: str,
        name: str,
        *,
        data: Mapping[str, Any] | None = None,
        id: str | None = None,
        type: str | None = None,
        timestamp: int | None = None,
    ) -> Outcome:
        """``POST /api/v1/customers/{identifier}/events``; ``id`` is the event's ULID."""
        body = _present(name=name, id=id, type=type, timestamp=timestamp, data=data)
        return self.request("POST", _customer(identifier) + "/events", body)

    def track_anonymous(
        self,
        name: str,
        *,
        anonymous_id: str | None = None,
        data: Mapping[str, Any] | None = None,
        id: str | None = None,
        type: str | None = None,
        timestamp: int | None = None,
    ) -> Outcome:
        """``POST /api/v1/events``: an event without a known person (there is no v2 form)."""
        body = _present(
            name=name, anonymous_id=anonymous_id, id=id, type=type, timestamp=timestamp, data=data
        )
        return self.request("POST", "/api/v1/events", body)

    def add_device(
        self,
        identifier: str,
        device_id: str,
        platform: str,
        *,
        last_used: int | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Outcome:
        """``PUT /api/v1/customers/{identifier}/devices`` (v1 calls the token ``id``)."""
        device = _present(
            id=device_id, platform=platform, last_used=last_used, attributes=attributes
        )
        return self.request("PUT", _customer(identifier) + "/devices", {"device": device})

    def delete_device(self, identifier: str, device_id: str) -> Outcome:
        """``DELETE /api/v1/customers/{identifier}/devices/{device_id}``."""
        path = f"{_customer(identifier)}/devices/{path_segment(device_id)}"
        return self.request("DELETE", path)

    def suppress(self, identifier: str) -> Outcome:
        """``POST /api/v1/customers/{identifier}/suppress``."""
        return self.request("POST", _customer(identifier) + "/suppress")

    def unsuppress(self, identifier: str) -> Outcome:
        """``POST /api/v1/customers/{identifier}/unsuppress``."""
        return self.request("POST", _customer(identifier) + "/unsuppress")

    def merge_customers(self, primary: Mapping[str, str], secondary: Mapping[str, str]) -> Outcome:
        """``POST /api/v1/merge_customers``; each side is ``{"id"|"email"|"cio_id": value}``."""
        body = {"primary": dict(primary), "secondary": dict(secondary)}
        return self.request("POST", "/api/v1/merge_customers", body)

    # -- v2 ---------------------------------------------------------------------------------

    def entity(self, operation: Mapping[str, Any]) -> Outcome:
        """``POST /api/v2/entity``: one v2 operation (``{"type": "person", ...}``), < 32 KB."""
        return self.request("POST", "/api/v2/entity", dict(operation))

    def batch(self, operations: Sequence[Mapping[str, Any]]) -> Outcome:
        """``POST /api/v2/batch``: ``{"batch": [...]}``, < 500 KB; 207 gives ``Partial``."""
        return self.request("POST", "/api/v2/batch", {"batch": [dict(op) for op in operations]})

    def batch_encoded(self, operations: Sequence[bytes]) -> Outcome:
        """``POST /api/v2/batch`` from operations already encoded with ``encode_json``.

        The batching worker encodes each operation once, to measure it while it cuts batches,
        and sends those bytes as they are.
        """
        body = b'{"batch":[' + b",".join(operations) + b"]}"
        headers = {
            "Authorization": self._authorization,
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
        }
        return self._send("POST", "/api/v2/batch", headers, body)

    # -- workspace --------------------------------------------------------------------------

    def region(self, *, api_key: str | None = None) -> Outcome:
        """``GET /api/v1/accounts/region``: ``{"url", "region", "environment_id"}`` or 401.

        ``api_key`` tries another key with the same site id instead of ours; ``cio-pipeline
        check`` uses it to recognise swapped Track and App keys.
        """
        if api_key is None:
            return self.request("GET", "/api/v1/accounts/region")
        headers = {"Authorization": _basic(self._site_id, api_key), "Accept": "application/json"}
        return self._send("GET", "/api/v1/accounts/region", headers, None)


def _customer(identifier: str) -> str:
    return f"/api/v1/customers/{path_segment(identifier)}"
