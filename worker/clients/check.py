"""Are the credentials, region and hosts right? One line per API (``cio-pipeline check``).

Track: ``GET /api/v1/accounts/region`` with Basic auth, which also tells the workspace's region.
App: ``GET /v1/transactional`` with the Bearer key, which lists templates and changes nothing.
When a key is rejected, the other variable's key is tried against the same API, because swapped
Track and App keys are the most common set-up mistake (both answer a bare 401).

Exit codes: 0 both APIs work, 1 something is wrong (the lines say what), 2 bad settings.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from cio_pipeline.producer.masking import mask_url
from cio_pipeline.worker.clients.app import AppClient
from cio_pipeline.worker.clients.base import MissingCredential
from cio_pipeline.worker.clients.outcomes import (
    Ambiguous,
    Outcome,
    Partial,
    Permanent,
    RateLimited,
    Success,
    Transient,
)
from cio_pipeline.worker.clients.track import TrackClient
from cio_pipeline.worker.core.settings import WorkerSettings

__all__ = ["CheckLine", "check_app", "check_track", "run_checks"]

_SWAPPED = (
    "the keys are swapped: put the Track API key in CUSTOMERIO_API_KEY "
    "and the App API key in CUSTOMERIO_APP_API_KEY"
)


@dataclass(frozen=True)
class CheckLine:
    """The verdict for one API: ``str()`` gives the line that is printed."""

    api: str
    ok: bool
    text: str
    #: the workspace's region as the Track API reported it (None if unknown)
    region: str | None = None

    def __str__(self) -> str:
        return f"{self.api}: {self.text}"


def check_track(settings: WorkerSettings, client: TrackClient) -> CheckLine:
    """Check the Track credentials and that ``CUSTOMERIO_REGION`` is the workspace's region."""
    outcome = client.region()
    url = mask_url(client.base_url)  # a proxy URL may carry credentials
    if isinstance(outcome, Success):
        region = outcome.body.get("region")
        if not isinstance(region, str):
            return CheckLine("Track API", True, f"OK (region unknown, {url})")
        if region != settings.region:
            text = (
                f"the credentials work, but the workspace is in the {region} region and "
                f"CUSTOMERIO_REGION is {settings.region}: set CUSTOMERIO_REGION={region}"
            )
            return CheckLine("Track API", False, text, region=region)
        return CheckLine("Track API", True, f"OK (region {region}, {url})", region=region)
    if _is_auth_failure(outcome) and settings.app_api_key:
        if isinstance(client.region(api_key=settings.app_api_key), Success):
            text = f"rejected CUSTOMERIO_API_KEY but accepts CUSTOMERIO_APP_API_KEY: {_SWAPPED}"
            return CheckLine("Track API", False, text)
    return CheckLine("Track API", False, _problem(outcome, url, "CUSTOMERIO_TRACK_URL"))


def check_app(
    settings: WorkerSettings, client: AppClient, *, workspace_region: str | None = None
) -> CheckLine:
    """Check the App API key; ``workspace_region`` (from the Track check) adds a region hint."""
    outcome = client.check_key()
    url = mask_url(client.base_url)  # a proxy URL may carry credentials
    if isinstance(outcome, Success):
        return CheckLine("App API", True, f"OK ({url})")
    if _is_auth_failure(outcome) and settings.api_key:
        if isinstance(client.check_key(api_key=settings.api_key), Success):
            text = f"rejected CUSTOMERIO_APP_API_KEY but accepts CUSTOMERIO_API_KEY: {_SWAPPED}"
            return CheckLine("App API", False, text)
    text = _problem(outcome, url, "CUSTOMERIO_APP_URL")
    if _is_auth_failure(outcome) and workspace_region and workspace_region != settings.region:
        text += f" (the workspace is in the {workspace_region} region: "
        text += f"set CUSTOMERIO_REGION={workspace_region})"
    return CheckLine("App API", False, text)


def run_checks(
    settings: WorkerSettings,
    *,
    track: TrackClient | None = None,
    app: AppClient | None = None,
    transport: httpx.BaseTransport | None = None,
) -> list[CheckLine]:
    """Both checks. Clients not given are built from ``settings`` (on ``transport`` if given)
    and closed afterwards; a missing credential becomes that API's line."""
    owned: list[TrackClient | AppClient] = []
    try:
        try:
            if track is None:
                track = TrackClient(settings, transport=transport)
                owned.append(track)
            track_line = check_track(settings, track)
        except MissingCredential as exc:
            track_line = CheckLine("Track API", False, str(exc))
        try:
            if app is None:
                app = AppClient(settings, transport=transport)
                owned.append(app)
            app_line = check_app(settings, app, workspace_region=track_line.region)
        except MissingCredential as exc:
            app_line = CheckLine("App API", False, str(exc))
        return [track_line, app_line]
    finally:
        for client in owned:
            client.close()


def _is_auth_failure(outcome: Outcome) -> bool:
    return isinstance(outcome, Permanent) and outcome.status in (401, 403)


def _problem(outcome: Outcome, url: str, url_variable: str) -> str:
    """A one-line description of a failed check (never includes a credential)."""
    if isinstance(outcome, Permanent):
        if outcome.status in (401, 403):
            return outcome.message
        return (
            f"unexpected HTTP {outcome.status} from {url}: {outcome.message} "
            f"(is {url_variable} or CUSTOMERIO_REGION right?)"
        )
    if isinstance(outcome, Transient) and not outcome.sent:
        return (
            f"cannot reach {url} ({outcome.reason}); "
            f"check the network, CUSTOMERIO_REGION and {url_variable}"
        )
    if isinstance(outcome, Transient):
        return f"{url} answered with a server error ({outcome.reason}); try again later"
    if isinstance(outcome, RateLimited):
        return f"{url} answered 429 (rate limited); try again later"
    if isinstance(outcome, Ambiguous):
        return f"no answer from {url} ({outcome.reason})"
    if isinstance(outcome, Partial | Success):  # not reachable for these GET endpoints
        return f"unexpected HTTP {outcome.status} from {url}"
    raise AssertionError(f"unhandled outcome {outcome!r}")  # pragma: no cover
