"""An application's webhook hook, for the integration test: records each event id it gets
in the Redis list ``test:hook-calls`` (the worker imports it by CIO_WEBHOOK_HOOK)."""

from __future__ import annotations

import os

import redis

from cio_pipeline.worker.webhooks.events import WebhookEvent

_client = redis.Redis.from_url(os.environ["REDIS_URL"])


def record(event: WebhookEvent) -> None:
    """Remember that the hook saw ``event``."""
    _client.rpush("test:hook-calls", event.event_id)
