"""A local stand-in for Customer.io's Track (v1, v2) and App APIs, for tests and demos.

``create_app(config)`` builds the Starlette app; ``cio-pipeline emulator`` serves it;
:mod:`cio_pipeline.devtools.emulator_process` runs it as a subprocess for integration tests.

Importing this package (or :mod:`cio_pipeline.devtools.emulator.cli`, which registers the command)
needs only the core dependencies: ``create_app`` and the modules behind it need the ``emulator``
extra (Starlette), so they are imported on first use.

Modules:

- :mod:`.app_routes` app API routes: transactional sends and one harmless read
- :mod:`.app_rules` validation of transactional (App API) send requests
- :mod:`.config` how one emulator instance behaves: credentials, region, rate limits, faults
- :mod:`.control_routes` the emulator's own endpoints under ``/_emulator`` (no auth, never
  faulted or limited)
- :mod:`.faults` fault injection: which requests fail, and how
- :mod:`.middleware` the gate every Track and App request passes: log, faults, auth, rate limit
- :mod:`.ratelimit` A per-surface sliding-window rate limit, the way a strict server would apply
  one
- :mod:`.runtime` the live parts of one emulator instance, shared by the middleware and the
  routes
- :mod:`.schemas` request-body validation against Customer.io's published Track API spec
- :mod:`.serve` serve the emulator app with uvicorn (needs the ``emulator`` extra)
- :mod:`.state` what the emulator has accepted: people, events, devices, sends, and the request
  log
- :mod:`.track_ops` turning Track v1 requests and v2 operations into validated
  :class:`AcceptedOp` values
- :mod:`.track_routes` track API routes: v1 (one operation per call) and v2 (``/entity``,
  ``/batch``)
- :mod:`.track_rules` track API rules beyond the spec's schemas, and the normalised operation
  they produce
- :mod:`.webhooks` the emulator sends reporting webhooks, signed, the way Customer.io does
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cio_pipeline.devtools.emulator.config import (
    DEV_API_KEY,
    DEV_APP_API_KEY,
    DEV_SITE_ID,
    EmulatorConfig,
)
from cio_pipeline.devtools.emulator.faults import FaultPlan, ScriptedFault, SurfaceFaults

if TYPE_CHECKING:
    from cio_pipeline.devtools.emulator.app import create_app

__all__ = [
    "DEV_API_KEY",
    "DEV_APP_API_KEY",
    "DEV_SITE_ID",
    "EmulatorConfig",
    "FaultPlan",
    "ScriptedFault",
    "SurfaceFaults",
    "create_app",
]


def __getattr__(name: str) -> Any:
    # PEP 562: only create_app pulls in Starlette, so it is resolved on first access.
    if name == "create_app":
        from cio_pipeline.devtools.emulator.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
