"""A local stand-in for Customer.io's Track (v1, v2) and App APIs, for tests and demos.

``create_app(config)`` builds the Starlette app; ``cio-pipeline emulator`` serves it;
:mod:`cio_pipeline.devtools.emulator_process` runs it as a subprocess for integration tests.

Importing this package (or :mod:`cio_pipeline.devtools.emulator.cli`, which registers the command)
needs only the core dependencies: ``create_app`` and the modules behind it need the ``emulator``
extra (Starlette), so they are imported on first use.
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
