"""cio-pipeline producer: the official ``customerio`` SDK's API, enqueueing RQ jobs.

Switch by changing one import::

    from producer import CustomerIO, APIClient, SendEmailRequest

Every method validates and normalises its input, enqueues one RQ job and returns its id.
"""

from producer.api_client import APIClient
from producer.client import CustomerIO
from producer.errors import (
    CustomerIOException,
    EnqueueError,
    NotReplicated,
    ProducerUnavailable,
    RedisFull,
    SettingsError,
    ValidationError,
)
from producer.pipeline import PipelineReport
from producer.regions import Region, Regions
from producer.requests import (
    SendEmailRequest,
    SendInAppRequest,
    SendInboxMessageRequest,
    SendPushRequest,
    SendSMSRequest,
    SendWhatsAppRequest,
)
from producer.settings import Settings

__all__ = [
    "APIClient",
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
    "SendWhatsAppRequest",
    "Settings",
    "SettingsError",
    "ValidationError",
]
