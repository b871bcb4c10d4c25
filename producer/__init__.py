"""cio-pipeline producer: the official ``customerio`` SDK's API, enqueueing RQ jobs.

Switch by changing one import::

    from cio_pipeline import CustomerIO, APIClient, SendEmailRequest

Every method validates and normalises its input, enqueues one RQ job and returns its id.
"""

from cio_pipeline.producer.api_client import APIClient
from cio_pipeline.producer.client import CustomerIO
from cio_pipeline.producer.errors import (
    CustomerIOException,
    EnqueueError,
    NotReplicated,
    ProducerUnavailable,
    RedisFull,
    SettingsError,
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
    "ValidationError",
]
