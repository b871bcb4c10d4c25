"""Variables with our prefixes that cio-pipeline never reads: refused or warned about.

An unknown ``CIO_*`` or ``CUSTOMERIO_*`` variable (checked against
:data:`cio_pipeline.producer.variables.BY_NAME`, with a "did you mean") is an error for the
worker and the commands (:func:`check_unknown`) and a warning for the producer
(:func:`warn_unknown`), which runs in an application's process whose environment may hold
variables of its own with these prefixes.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Mapping
from typing import Final

from cio_pipeline.producer.errors import SettingsError, UnknownSettingWarning
from cio_pipeline.producer.variables import BY_NAME

__all__ = ["check_unknown", "unknown_variables", "warn_unknown"]

_PREFIXES: Final = ("CIO_", "CUSTOMERIO_")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """The ``CIO_*``/``CUSTOMERIO_*`` variables of ``environ`` cio-pipeline never reads, each
    with a "did you mean" hint when one is close, sorted."""
    found = []
    for name in sorted(environ):
        if name.startswith(_PREFIXES) and name not in BY_NAME:
            close = difflib.get_close_matches(name, BY_NAME, n=1)
            found.append(f"{name} (did you mean {close[0]}?)" if close else name)
    return found


def check_unknown(environ: Mapping[str, str]) -> None:
    """Raise :class:`SettingsError` for a ``CIO_*``/``CUSTOMERIO_*`` variable we never read
    (the worker and the commands: a misspelt knob that does nothing is worse than a stop)."""
    unknown = unknown_variables(environ)
    if unknown:
        raise SettingsError(
            f"{unknown[0]} is not a variable cio-pipeline reads; see config/example.env for "
            "the list"
        )


_warned: set[str] = set()


def warn_unknown(environ: Mapping[str, str]) -> None:
    """Warn (:class:`UnknownSettingWarning`, once per variable and process) about
    ``CIO_*``/``CUSTOMERIO_*`` variables we never read, and go on: the producer runs in an
    application's process, whose environment may hold its own variables with our prefixes."""
    fresh = [text for text in unknown_variables(environ) if text not in _warned]
    if not fresh:
        return
    _warned.update(fresh)
    warnings.warn(
        f"cio-pipeline does not read {', '.join(fresh)}; ignored (the worker and the "
        "cio-pipeline commands refuse unknown CIO_/CUSTOMERIO_ variables; see "
        "config/example.env for the list)",
        UnknownSettingWarning,
        stacklevel=_caller_level(),
    )


def _caller_level() -> int:
    """The ``stacklevel`` that points a warning at the first frame outside the producer
    package (the application's call), however deep inside it the warning is issued."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__):
        frame, level = frame.f_back, level + 1  # type: ignore[assignment]
    return level
