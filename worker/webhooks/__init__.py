"""Customer.io reporting webhooks in: verify, enqueue, process once, keep a suppression store.

Customer.io posts an event (delivered, opened, bounced, spammed, unsubscribed, ...) to our
URL, signed with the workspace's webhook signing key, waits 4 s for an answer and retries
non-2xx answers for days, holding later events meanwhile. So the path is split in two:

1. :mod:`~cio_pipeline.worker.webhooks.receiver` (``cio-pipeline webhooks``, the ``webhooks`` extra)
   checks the signature (:mod:`~cio_pipeline.worker.webhooks.signature`: raw bytes, constant time,
   key rotation, a timestamp tolerance; standard library only, so a Django or Flask view can use
   it), the size and the envelope (:mod:`~cio_pipeline.worker.webhooks.events`), enqueues one job on
   ``cio-webhooks`` and answers 200, whether or not a worker runs; its Redis calls
   (:mod:`~cio_pipeline.worker.webhooks.intake`: a replayed signature is refused, a Redis that
   does not answer within ``CIO_WEBHOOK_REDIS_TIMEOUT_S`` gets 503) never block its event loop;
   :mod:`~cio_pipeline.worker.webhooks.serve` runs it under uvicorn.
2. Workers run ``cio_pipeline.worker.jobs.process_webhook``
   (:mod:`~cio_pipeline.worker.webhooks.process`): a repeat of an ``event_id`` is a duplicate with
   no effect; bounces, spam complaints, suppressed drops and unsubscribes go into the suppression
   store (:mod:`~cio_pipeline.worker.webhooks.store`, in Redis, by address and person identifiers; a
   later-timestamped event always wins); then the application's hook (``CIO_WEBHOOK_HOOK``,
   :mod:`~cio_pipeline.worker.webhooks.hook`) gets the typed
   :class:`~cio_pipeline.worker.webhooks.events.WebhookEvent`, with retries and a dead letter if it
   keeps failing; every event is counted in ``<prefix>:counters``.

Applications read the store with ``is_suppressed`` (:mod:`cio_pipeline.producer.suppressions`) and
guard sends with ``skip_if_suppressed=True`` (checked by the worker at send time).

Modules:

- :mod:`.intake` the receiver's Redis side: refuse a replayed signature, enqueue the event,
  within a bound
- :mod:`.serve` serve the webhook receiver with uvicorn (needs the ``webhooks`` extra)
"""

from cio_pipeline.worker.webhooks.events import EventError, WebhookEvent, parse_event
from cio_pipeline.worker.webhooks.signature import SignatureError, sign, verify_signature

__all__ = [
    "EventError",
    "SignatureError",
    "WebhookEvent",
    "parse_event",
    "sign",
    "verify_signature",
]
