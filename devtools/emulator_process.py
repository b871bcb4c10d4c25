"""Run the emulator as a real subprocess, for integration tests and benchmarks.

::

    from cio_pipeline.devtools.emulator_process import running_emulator

    with running_emulator(track_rate=100, faults={"app": {"lost_rate": 1.0}}) as emu:
        env = emu.worker_env()            # CUSTOMERIO_* variables that point at it
        ...                               # run the code under test against emu.url
        assert emu.state()["sends"]       # what the emulated workspace received
        emu.fail_next(2, status=503)      # the next 2 Track requests answer 503
        emu.reset()

The subprocess is ``python -m cio_pipeline.devtools.emulator --port 0 ...`` (the ``cio-pipeline
emulator`` command without the other sub-commands; ``via_cli=True`` runs ``python -m
cio_pipeline.worker.cli emulator`` itself); the context manager waits
(bounded by ``start_timeout_s``) for its "listening" line, and stops it (SIGTERM, then SIGKILL)
on exit. Credentials reach the child through its environment, never its command line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

import httpx

from cio_pipeline.devtools.emulator.cli import LISTENING_PREFIX
from cio_pipeline.devtools.emulator.config import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID
from cio_pipeline.worker.core.lifecycle import die_with_parent, listening_url, stop

__all__ = ["EmulatorHandle", "EmulatorStartError", "die_with_parent", "running_emulator"]


class EmulatorStartError(RuntimeError):
    """The emulator process exited or stayed silent instead of listening."""


@dataclass
class EmulatorHandle:
    """A running emulator: its URL, credentials, and its ``/_emulator`` control API."""

    url: str
    site_id: str = field(repr=False)
    api_key: str = field(repr=False)
    app_api_key: str = field(repr=False)
    process: subprocess.Popen[str] = field(repr=False)
    _client: httpx.Client = field(repr=False)

    @property
    def track_auth(self) -> tuple[str, str]:
        """HTTP Basic credentials for the Track API: ``(site_id, api_key)``."""
        return self.site_id, self.api_key

    @property
    def app_headers(self) -> dict[str, str]:
        """The ``Authorization`` header for the App API."""
        return {"Authorization": f"Bearer {self.app_api_key}"}

    def worker_env(self) -> dict[str, str]:
        """``CUSTOMERIO_*`` variables that point a worker (or ``check``) at this emulator."""
        return {
            "CUSTOMERIO_SITE_ID": self.site_id,
            "CUSTOMERIO_API_KEY": self.api_key,
            "CUSTOMERIO_APP_API_KEY": self.app_api_key,
            "CUSTOMERIO_TRACK_URL": self.url,
            "CUSTOMERIO_APP_URL": self.url,
        }

    def state(self) -> dict[str, Any]:
        """``GET /_emulator/state``: people, events, devices, suppressions, merges, sends."""
        return self._get("/_emulator/state")  # type: ignore[no-any-return]

    def requests(self, surface: str | None = None) -> list[dict[str, Any]]:
        """``GET /_emulator/requests``: the request log (``surface``: track or app)."""
        params = {"surface": surface} if surface else None
        return self._get("/_emulator/requests", params)  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Empty state and log; faults back to the ones given at start."""
        self._client.post("/_emulator/reset").raise_for_status()

    def faults(self) -> dict[str, Any]:
        """The current fault plan (scripted faults show what is left of them)."""
        return self._get("/_emulator/faults")  # type: ignore[no-any-return]

    def set_faults(
        self,
        plan: Mapping[str, Any] | None = None,
        *,
        track: Mapping[str, Any] | None = None,
        app: Mapping[str, Any] | None = None,
        seed: int | None = None,
    ) -> dict[str, Any]:
        """Replace the faults of the surfaces given (``plan`` in the JSON form, or ``track=``,
        ``app=``, ``seed=``); see :mod:`cio_pipeline.devtools.emulator.faults`. Returns the new
        plan."""
        body: dict[str, Any] = dict(plan or {})
        for key, value in (("track", track), ("app", app), ("seed", seed)):
            if value is not None:
                body[key] = value
        response = self._client.post("/_emulator/faults", json=body)
        if response.status_code == 400:
            raise ValueError(response.json()["error"])
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def clear_faults(self) -> None:
        """No faults at all on either surface."""
        self._client.delete("/_emulator/faults").raise_for_status()

    def fail_next(
        self, count: int, status: int = 500, *, surface: str = "track", fault: str = "status"
    ) -> None:
        """Script the next ``count`` requests of ``surface``: ``fault`` (status, rate_limit,
        hang, reset or lost), answering ``status`` for ``status`` faults. Replaces the
        surface's other fault settings."""
        self.set_faults({surface: {"next": [{"count": count, "fault": fault, "status": status}]}})

    def post_delivery_events(self, delivery_id: str, *metrics: str) -> None:
        """``POST /_emulator/webhooks/delivery``: post signed reporting webhooks (``delivered``,
        ``opened``, ``bounced``, ...) for the send that got ``delivery_id`` (needs
        ``--webhook-url``)."""
        response = self._client.post(
            "/_emulator/webhooks/delivery",
            json={"delivery_id": delivery_id, "metrics": list(metrics)},
        )
        if response.status_code in (400, 404, 409):
            raise ValueError(response.json()["error"])
        response.raise_for_status()

    def set_webhook_outcome(self, address: str, outcome: str) -> None:
        """``POST /_emulator/webhooks/outcomes``: what later sends to ``address`` post
        (``delivered``, ``bounced``, ``spammed``, ``unsubscribed`` or ``none``)."""
        response = self._client.post(
            "/_emulator/webhooks/outcomes", json={"address": address, "outcome": outcome}
        )
        response.raise_for_status()

    def wait_for(
        self,
        predicate: Callable[[dict[str, Any]], bool],
        timeout_s: float = 10.0,
        interval_s: float = 0.02,
    ) -> dict[str, Any]:
        """Poll :meth:`state` until ``predicate(state)`` holds; returns that state.

        Raises ``TimeoutError`` (with the last state's counts) after ``timeout_s``.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.state()
            if predicate(state):
                return state
            if time.monotonic() >= deadline:
                counts = {k: len(v) for k, v in state.items()}
                raise TimeoutError(f"emulator state did not match within {timeout_s}s: {counts}")
            time.sleep(interval_s)

    def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        response = self._client.get(path, params=params)
        response.raise_for_status()
        return response.json()


@contextmanager
def running_emulator(
    *,
    site_id: str = DEV_SITE_ID,
    api_key: str = DEV_API_KEY,
    app_api_key: str = DEV_APP_API_KEY,
    region: str = "us",
    track_rate: float = 0.0,
    app_rate: float = 0.0,
    retry_after: bool = True,
    faults: Mapping[str, Any] | None = None,
    seed: int | None = None,
    record_bodies: bool = True,
    host: str = "127.0.0.1",
    extra_args: Sequence[str] = (),
    start_timeout_s: float = 20.0,
    via_cli: bool = False,
) -> Iterator[EmulatorHandle]:
    """Start ``cio-pipeline emulator`` on a free port; yield an :class:`EmulatorHandle`.

    ``track_rate``/``app_rate``: requests per second before 429 (0 = unlimited);
    ``retry_after=False``: 429s come without ``Retry-After``; ``faults``: the start-up fault
    plan in the JSON form of :mod:`cio_pipeline.devtools.emulator.faults` (``reset()`` returns to
    it);
    ``seed``: makes random faults repeatable; ``record_bodies``: keep request bodies in the
    request log; ``extra_args``: more ``cio-pipeline emulator`` flags; ``via_cli``: start
    through ``python -m cio_pipeline.worker.cli emulator`` (every sub-command imported) instead of
    ``python -m cio_pipeline.devtools.emulator``.
    Raises :class:`EmulatorStartError` if it is not listening within ``start_timeout_s``.
    """
    command = (
        ["-m", "cio_pipeline.worker.cli", "emulator"]
        if via_cli
        else ["-m", "cio_pipeline.devtools.emulator"]
    )
    args = [
        sys.executable,
        *command,
        "--host",
        host,
        "--port",
        "0",
        "--region",
        region,
        "--track-rate",
        str(track_rate),
        "--app-rate",
        str(app_rate),
    ]
    args += [] if retry_after else ["--no-retry-after"]
    args += ["--faults", json.dumps(dict(faults))] if faults else []
    args += ["--seed", str(seed)] if seed is not None else []
    args += ["--record-bodies"] if record_bodies else []
    args += list(extra_args)
    env = {
        **os.environ,
        "CUSTOMERIO_SITE_ID": site_id,
        "CUSTOMERIO_API_KEY": api_key,
        "CUSTOMERIO_APP_API_KEY": app_api_key,
        "PYTHONUNBUFFERED": "1",
    }
    with tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            preexec_fn=die_with_parent,
            env=env,
        )
        try:
            url = _await_listening(process, stderr, start_timeout_s)
            with httpx.Client(base_url=url, timeout=10.0) as client:
                yield EmulatorHandle(url, site_id, api_key, app_api_key, process, client)
        finally:
            stop(process)


def _await_listening(process: subprocess.Popen[str], stderr: IO[str], timeout_s: float) -> str:
    try:
        url = listening_url(process, LISTENING_PREFIX, timeout_s)
    except TimeoutError:
        raise EmulatorStartError(f"emulator not listening after {timeout_s}s") from None
    if url is None:
        process.wait(timeout=5)
        stderr.seek(0)
        tail = stderr.read()[-2000:]
        raise EmulatorStartError(f"emulator exited with {process.returncode}: {tail}")
    return url
