"""The commands the demo suggests at its end, written so that they work as printed.

cio-pipeline is not on PyPI and ``bash demo.sh`` installs it into the checkout's ``.venv``
without activating it, so a bare ``cio-pipeline`` would be "command not found" and
``pip install 'cio-pipeline[dashboard]'`` would fail: each command names the script in the
demo's own environment (``.venv/bin/cio-pipeline`` from the checkout), and a missing extra
comes with the install command for this install
(:func:`cio_pipeline.worker.core.install.install_command`).
"""

from __future__ import annotations

import importlib.util

from cio_pipeline.worker.core.install import install_command, script_command

__all__ = ["keep_command", "look_next"]


def keep_command() -> str:
    """The demo again, leaving everything running: ``.venv/bin/cio-pipeline demo --keep``."""
    return f"{script_command('cio-pipeline')} demo --keep"


def look_next(url: str, prefix: str) -> list[str]:
    """The dashboard, the dead letters and the suppressions of a kept demo, one command each.

    The dashboard reads its Redis URL from the environment (never from its arguments, where
    ``ps`` shows a password); without the ``dashboard`` extra, the command that adds it.
    """
    cio = script_command("cio-pipeline")
    dashboard = (
        f"  RQ_DASHBOARD_REDIS_URL={url} {script_command('rq-dashboard')} "
        "--bind 127.0.0.1 --port 9181"
    )
    if importlib.util.find_spec("rq_dashboard") is None:
        dashboard += f"   # first: {install_command('dashboard')}"
    return [
        dashboard,
        f"  REDIS_URL={url} CIO_QUEUE_PREFIX={prefix} {cio} dlq list",
        f"  REDIS_URL={url} CIO_QUEUE_PREFIX={prefix} {cio} suppressions list",
    ]
