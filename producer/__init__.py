"""cio-pipeline producer: the official ``customerio`` SDK's API, enqueueing RQ jobs.

Switch by changing one import::

    from cio_pipeline import CustomerIO, APIClient, SendEmailRequest

Every method validates and normalises its input, enqueues one RQ job and returns its id.

Modules:

- :mod:`.api_client` ``APIClient``: the official SDK's transactional client, enqueueing sends
  instead of sending
- :mod:`.chunks` how many jobs go into one write: chunk bounds and the pure cutting rule
- :mod:`.client` ``CustomerIO`` (and the base both clients share): the official SDK's API,
  enqueueing instead of sending
- :mod:`.compat` compatibility seams: every use of a dependency's private or version-specific
  API
- :mod:`.connection` the producer's Redis connection: bounded timeouts and no silent retries
- :mod:`.erase` erasing a person everywhere in the pipeline (``CustomerIO.erase``,
  ``cio-pipeline erase``)
- :mod:`.erase_scan` finding one person's jobs wherever they wait: the read-only half of an
  erase
- :mod:`.erase_store` the writes of an erase (:mod:`cio_pipeline.producer.erase`): deleting
  jobs, taking them out of RQ queues atomically with the workers' dequeue, and re-keying
  suppression entries
- :mod:`.errors` the exceptions the producer raises
- :mod:`.ids` event ids (ULIDs), idempotency keys and the stable partition hash
- :mod:`.jobs` the job contract between producer and worker, and the enqueueing of jobs
- :mod:`.keys` every queue name and Redis key the project uses, in one place
- :mod:`.marks` keyed hashes of people's identifiers: what an erase leaves behind instead of the
  identifier
- :mod:`.masking` masking a URL before it is printed, logged or put in an error message
- :mod:`.normalize` value normalisation and Customer.io's limits, applied before anything
  touches Redis
- :mod:`.operations` Track operations: built from the SDK's calls, validated and normalised to
  the v2 shape
- :mod:`.pipeline` writing a ``pipeline()`` block (or a long ``batch()``) of any size in bounded
  chunks
- :mod:`.redis_endpoint` where Redis is and how to reach it: the one place that builds a Redis
  client
- :mod:`.regions` Customer.io regions, as in the official SDK (``Regions.US``, ``Regions.EU``)
- :mod:`.replication` durable enqueues: waiting for replicas (``CIO_REDIS_MIN_REPLICAS``) after
  each write
- :mod:`.requests` transactional send requests: the SDK's ``Send*Request`` classes, with the
  same constructors
- :mod:`.rows` rows of a CSV or JSON Lines file as Track operations, for bulk imports
- :mod:`.send_records` a transactional send's delivery record and history: the part producer and
  worker share
- :mod:`.send_status` reading a send's life back: :func:`send_status` (one send) and
  :func:`recent_sends`
- :mod:`.sends` validation and normalisation of transactional send requests (App API)
- :mod:`.serializer` the job serializer: RQ's pickle format, restricted to primitive values both
  ways
- :mod:`.settings` producer settings: one frozen dataclass, built from the environment
- :mod:`.suppressions` the suppression store's stored form, and the one-round-trip question "is
  this suppressed?"
- :mod:`.variables` every environment variable cio-pipeline reads, declared once: name, default,
  range, meaning
- :mod:`.wire` one request to Redis on a connection we hold, so that a failure says whether it
  left
- :mod:`.writes` the write request: a chunk of prepared jobs as one ``enqueue.lua`` call, and
  what its answer (or its failure) means for each job
- :mod:`.unknown_variables` variables with our prefixes that cio-pipeline never reads: refused
  or warned about
- :mod:`.scalars` scalar values as Customer.io and JSON readers take them: text, integers, unix
  times
"""

from cio_pipeline.producer.api_client import APIClient
from cio_pipeline.producer.client import CustomerIO
from cio_pipeline.producer.errors import (
    CustomerIOException,
    EnqueueError,
    NotReplicated,
    PersonErased,
    ProducerUnavailable,
    RedisFull,
    SettingsError,
    UnknownSettingWarning,
    ValidationError,
)
from cio_pipeline.producer.pipeline import PipelineReport
from cio_pipeline.producer.regions import Region, Regions
from cio_pipeline.producer.requests import (
    SendEmailRequest,
    SendInAppRequest,
    SendInboxMessageRequest,
    SendPushRequest,
    SendSMSRequest,
    SendWhatsAppRequest,
)
from cio_pipeline.producer.send_records import CancelOutcome, CancelResult
from cio_pipeline.producer.send_status import SendStatus, SendSummary
from cio_pipeline.producer.settings import Settings

__all__ = [
    "APIClient",
    "CancelOutcome",
    "CancelResult",
    "CustomerIO",
    "CustomerIOException",
    "EnqueueError",
    "NotReplicated",
    "PersonErased",
    "PipelineReport",
    "ProducerUnavailable",
    "RedisFull",
    "Region",
    "Regions",
    "SendEmailRequest",
    "SendInAppRequest",
    "SendInboxMessageRequest",
    "SendPushRequest",
    "SendSMSRequest",
    "SendStatus",
    "SendSummary",
    "SendWhatsAppRequest",
    "Settings",
    "SettingsError",
    "UnknownSettingWarning",
    "ValidationError",
]
