"""The application's hook (``CIO_WEBHOOK_HOOK=package.module:function``), loaded once.

A worker loads it at start-up, so a hook that cannot be imported stops the worker with a
message naming the variable (exit 2) instead of dead-lettering every webhook job later.
Modules are found as ``rq worker`` finds job modules: on ``sys.path`` plus the folders
:func:`add_import_paths` adds (``cio-pipeline worker --path DIR``, the current directory by
default), so ``CIO_WEBHOOK_HOOK=myapp.webhooks:on_event`` works when run from the app's folder.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from cio_pipeline.producer.errors import SettingsError
from cio_pipeline.worker.webhooks.events import WebhookEvent

__all__ = ["Hook", "add_import_paths", "load_hook"]

#: What the hook is: called with each event; its return value is ignored; raising retries.
Hook = Callable[[WebhookEvent], Any]


def add_import_paths(paths: Iterable[str]) -> None:
    """Append each folder to ``sys.path`` (made absolute, so a later change of directory
    does not move it; once), as ``rq worker --path`` does."""
    for path in paths:
        folder = os.path.abspath(path)
        if folder not in sys.path:
            sys.path.append(folder)


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
        where = (
            " (run the worker from the folder that holds it, or name that folder with --path)"
            if isinstance(exc, ModuleNotFoundError)
            else ""
        )
        raise SettingsError(
            f"CIO_WEBHOOK_HOOK: cannot import {module_name!r} ({type(exc).__name__}: {exc}){where}"
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
