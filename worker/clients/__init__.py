"""HTTP clients for Customer.io: :class:`TrackClient`, :class:`AppClient` and their Outcomes.

Modules:

- :mod:`.app` the App API client: transactional sends (``POST /v1/send/<kind>``) and the key
  check
- :mod:`.base` what the Track and App clients share: one pooled ``httpx.Client``, JSON, one
  request method
- :mod:`.check` are the credentials, region and hosts right? One line per API (``cio-pipeline
  check``)
- :mod:`.outcomes` typed outcomes of one HTTP call to Customer.io
- :mod:`.responses` map what came back from Customer.io (an HTTP answer or an httpx exception)
  to an Outcome
- :mod:`.track` the Track API client (v1 per-operation endpoints, v2 entity/batch, the region
  check)
"""

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
