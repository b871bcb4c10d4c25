"""Customer.io regions, as in the official SDK (``Regions.US``, ``Regions.EU``)."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Region", "Regions"]


class Region(NamedTuple):
    """A Customer.io data centre: its Track and App API hosts."""

    name: str
    track_host: str
    api_host: str


class Regions:
    """The two regions. The producer accepts them for SDK compatibility; the worker's
    ``CUSTOMERIO_REGION`` decides where requests go."""

    US = Region("us", "track.customer.io", "api.customer.io")
    EU = Region("eu", "track-eu.customer.io", "api-eu.customer.io")
