"""A local stand-in for Customer.io's Track (v1, v2) and App APIs, for tests and demos.

``create_app(config)`` builds the Starlette app; ``cio-pipeline emulator`` serves it;
:mod:`worker.emulator.testing` runs it as a subprocess for integration tests.
"""

from __future__ import annotations

from worker.emulator.app import create_app
from worker.emulator.config import (
    DEV_API_KEY,
    DEV_APP_API_KEY,
    DEV_SITE_ID,
    EmulatorConfig,
)
from worker.emulator.faults import FaultPlan, ScriptedFault, SurfaceFaults

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
