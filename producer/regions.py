"""Customer.io regions, as in the official SDK (``Regions.US``, ``Regions.EU``).

The one place that knows Customer.io's hosts: the worker's settings, ``cio-pipeline check``
and the emulator all read them from here.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Region", "Regions"]


class Region(NamedTuple):
    """A Customer.io data centre: its Track and App API hosts."""

    name: str
    track_host: str
    api_host: str

    @property
    def track_url(self) -> str:
        """Base URL of the Track API (``https://track.customer.io``)."""
        return f"https://{self.track_host}"

    @property
    def api_url(self) -> str:
        """Base URL of the App API (``https://api.customer.io``)."""
        return f"https://{self.api_host}"


class Regions:
    """The two regions. The worker's ``CUSTOMERIO_REGION`` decides where requests go; the
    producer accepts ``region=`` for SDK compatibility when it agrees with that variable
    (:func:`cio_pipeline.producer.settings.check_region`)."""

    US = Region("us", "track.customer.io", "api.customer.io")
    EU = Region("eu", "track-eu.customer.io", "api-eu.customer.io")

    @classmethod
    def by_name(cls) -> dict[str, Region]:
        """Every region by its name (``us``, ``eu``)."""
        return {region.name: region for region in (cls.US, cls.EU)}
