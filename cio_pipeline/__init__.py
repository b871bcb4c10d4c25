"""cio-pipeline: Customer.io work through Redis queues, delivered by RQ workers.

The one import root of the distribution. Switch from the official SDK by changing one
import::

    from cio_pipeline import CustomerIO, APIClient, SendEmailRequest

This root re-exports the producer's public API (:mod:`cio_pipeline.producer`). The rest:

- :mod:`cio_pipeline.producer` the library applications import (redis and rq only);
- :mod:`cio_pipeline.worker` everything that talks to Customer.io, and the ``cio-pipeline``
  command;
- :mod:`cio_pipeline.devtools` development tooling: the Customer.io emulator, the demo and
  the subprocess helpers of tests and benchmarks (the product never imports it).

In the repository the three live in the top-level folders ``producer/``, ``worker/`` and
``devtools/``; this folder holds only this file, the ``py.typed`` marker (PEP 561) and a
symbolic link to each, so that the wheel, an editable install, mypy and the tests all see one
package tree (see ``pyproject.toml``).
"""

from cio_pipeline.producer import (
    APIClient,
    CancelOutcome,
    CancelResult,
    CustomerIO,
    CustomerIOException,
    EnqueueError,
    NotReplicated,
    PersonErased,
    PipelineReport,
    ProducerUnavailable,
    RedisFull,
    Region,
    Regions,
    SendEmailRequest,
    SendInAppRequest,
    SendInboxMessageRequest,
    SendPushRequest,
    SendSMSRequest,
    SendStatus,
    SendSummary,
    SendWhatsAppRequest,
    Settings,
    SettingsError,
    UnknownSettingWarning,
    ValidationError,
)

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
