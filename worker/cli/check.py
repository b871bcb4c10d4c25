"""``cio-pipeline check``: the command line over
:func:`cio_pipeline.worker.clients.check.run_checks`.

Exit codes: 0 both APIs work, 1 something is wrong (the lines say what), 2 bad settings.
"""

from __future__ import annotations

import argparse

from cio_pipeline.worker.clients.check import run_checks
from cio_pipeline.worker.core.settings import WorkerSettings

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    settings = WorkerSettings.from_env()
    lines = run_checks(settings)
    for line in lines:
        print(line)
    return 0 if all(line.ok for line in lines) else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``check`` sub-command to the ``cio-pipeline`` parser."""
    parser = subparsers.add_parser(
        "check",
        help="check Customer.io credentials, region and hosts (Track and App API)",
        description=(
            "Call GET /api/v1/accounts/region (Track) and GET /v1/transactional (App) with the "
            "configured credentials and print one line per API. Exit 0 when both work, "
            "1 when something is wrong, 2 when the settings are invalid."
        ),
    )
    parser.set_defaults(func=_run)
