"""How one emulator instance behaves: credentials, region, rate limits, faults.

The development credentials below are deliberately fake and public: they only ever open the
local emulator. Real keys come from ``CUSTOMERIO_SITE_ID`` / ``CUSTOMERIO_API_KEY`` /
``CUSTOMERIO_APP_API_KEY`` (the CLI reads them, so a worker configured for the emulator and
the emulator agree without extra flags).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cio_pipeline.devtools.emulator.faults import FaultPlan
from cio_pipeline.producer.regions import Regions

__all__ = [
    "DEV_API_KEY",
    "DEV_APP_API_KEY",
    "DEV_SITE_ID",
    "REGION_URLS",
    "EmulatorConfig",
]

#: Fixed development credentials used when neither a flag nor the environment gives one.
DEV_SITE_ID = "emulator-site-id"
DEV_API_KEY = "emulator-track-api-key"
DEV_APP_API_KEY = "emulator-app-api-key"

#: What ``GET /api/v1/accounts/region`` reports per region (Customer.io's Track hosts).
REGION_URLS: dict[str, str] = {name: r.track_url for name, r in Regions.by_name().items()}


@dataclass(frozen=True)
class EmulatorConfig:
    """Settings of one emulator; ``create_app(EmulatorConfig())`` works out of the box."""

    site_id: str = field(default=DEV_SITE_ID, repr=False)
    api_key: str = field(default=DEV_API_KEY, repr=False)
    app_api_key: str = field(default=DEV_APP_API_KEY, repr=False)
    region: str = "us"
    environment_id: int = 1
    # requests per second per API surface; 0 switches the limiter off
    track_rate: float = 0.0
    app_rate: float = 0.0
    # Customer.io does not document Retry-After on 429; clients must cope with both.
    send_retry_after: bool = True
    faults: FaultPlan = field(default_factory=FaultPlan)
    seed: int | None = None
    # keep each request's parsed JSON body in the request log (tests, debugging)
    record_bodies: bool = False
    # reporting webhooks: where to post them and the key to sign them with (both or neither)
    webhook_url: str | None = None
    webhook_signing_key: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.region not in REGION_URLS:
            raise ValueError(f"region must be us or eu, got {self.region!r}")
        if self.track_rate < 0 or self.app_rate < 0:
            raise ValueError("rates must be >= 0 requests per second (0 = no limit)")
        if bool(self.webhook_url) != bool(self.webhook_signing_key):
            raise ValueError("--webhook-url and --webhook-signing-key go together")
        if not (self.site_id and self.api_key and self.app_api_key):
            raise ValueError("site id, Track API key and App API key must not be empty")
