"""HTTP clients for Customer.io: :class:`TrackClient`, :class:`AppClient` and their Outcomes."""

from cio_pipeline.worker.clients.app import SEND_KINDS, AppClient, SendKind
from cio_pipeline.worker.clients.base import MissingCredential, encode_json
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
from cio_pipeline.worker.clients.track import TrackClient

__all__ = [
    "SEND_KINDS",
    "Ambiguous",
    "AppClient",
    "BatchItemError",
    "MissingCredential",
    "Outcome",
    "Partial",
    "Permanent",
    "RateLimited",
    "SendKind",
    "Success",
    "TrackClient",
    "Transient",
    "encode_json",
]
