"""The application's hook (``CIO_WEBHOOK_HOOK=package.module:function``), loaded once.

A worker loads it at start-up, so a hook that cannot be imported stops the worker with a
message naming the variable (exit 2) instead of dead-lettering every webhook job later.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.worker.webhooks.events import WebhookEvent

__all__ = ["Hook", "load_hook"]

#: What the hook is: called with each event; its return value is ignored; raising retries.
Hook = Callable[[WebhookEvent], Any]


def load_hook(spec: str | None) -> Hook | None:
    """The function ``spec`` names (``package.module:function``), None when unset; raises
    :class:`SettingsError` naming ``CIO_WEBHOOK_HOOK`` when it cannot be loaded."""
    if not spec:
        return None
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise SettingsError(f"CIO_WEBHOOK_HOOK must be package.module:function, got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # any import-time error of the app's module stops the worker
        raise SettingsError(
            f"CIO_WEBHOOK_HOOK: cannot import {module_name!r} ({type(exc).__name__}: {exc})"
        ) from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise SettingsError(f"CIO_WEBHOOK_HOOK: {module_name!r} has no {attr!r}")
    if not callable(target):
        raise SettingsError(f"CIO_WEBHOOK_HOOK: {spec!r} is not callable")
    hook: Hook = target
    return hook
