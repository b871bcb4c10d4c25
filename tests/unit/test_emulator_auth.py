"""Credentials: Basic site_id:api_key on Track, Bearer App key on App; 401 has no body."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from emulator_support import APP, TRACK, TestClient, emulator_client

from cio_pipeline.devtools.emulator import DEV_API_KEY, DEV_APP_API_KEY, DEV_SITE_ID

TRACK_CALLS = [
    ("PUT", "/api/v1/customers/42"),
    ("DELETE", "/api/v1/customers/42"),
    ("POST", "/api/v1/customers/42/events"),
    ("POST", "/api/v1/events"),
    ("PUT", "/api/v1/customers/42/devices"),
    ("DELETE", "/api/v1/customers/42/devices/t"),
    ("POST", "/api/v1/customers/42/suppress"),
    ("POST", "/api/v1/customers/42/unsuppress"),
    ("POST", "/api/v1/merge_customers"),
    ("GET", "/api/v1/accounts/region"),
    ("POST", "/api/v2/entity"),
    ("POST", "/api/v2/batch"),
]
APP_CALLS = [("POST", f"/v1/send/{k}") for k in ("email", "push", "sms")] + [
    ("GET", "/v1/transactional")
]


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    with emulator_client() as c:
        yield c


WRONG_TRACK = {
    "missing": {},
    "wrong key": basic(DEV_SITE_ID, "nope"),
    "wrong site": basic("other", DEV_API_KEY),
    "app key as bearer": {"Authorization": f"Bearer {DEV_APP_API_KEY}"},
    "track key as bearer": {"Authorization": f"Bearer {DEV_API_KEY}"},
    "garbage": {"Authorization": "Basic %%%"},
}
WRONG_APP = {
    "missing": {},
    "wrong key": {"Authorization": "Bearer nope"},
    "track basic auth": basic(DEV_SITE_ID, DEV_API_KEY),
    "app key in basic": basic(DEV_SITE_ID, DEV_APP_API_KEY),
    "no scheme": {"Authorization": DEV_APP_API_KEY},
}


@pytest.mark.parametrize(("method", "path"), TRACK_CALLS)
@pytest.mark.parametrize("headers", WRONG_TRACK.values(), ids=WRONG_TRACK.keys())
def test_track_rejects_wrong_credentials(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json={})
    assert (response.status_code, response.content) == (401, b"")


@pytest.mark.parametrize(("method", "path"), APP_CALLS)
@pytest.mark.parametrize("headers", WRONG_APP.values(), ids=WRONG_APP.keys())
def test_app_rejects_wrong_credentials(
    client: TestClient, method: str, path: str, headers: dict[str, str]
) -> None:
    response = client.request(method, path, headers=headers, json={})
    assert (response.status_code, response.content) == (401, b"")


def test_rejected_requests_change_nothing_and_are_logged(client: TestClient) -> None:
    client.put("/api/v1/customers/42", json={"a": "b"}, auth=("x", "y"))
    assert client.get("/_emulator/state").json()["people"] == {}
    (entry,) = client.get("/_emulator/requests").json()
    assert (entry["status"], entry["surface"]) == (401, "track")


def test_right_credentials_pass(client: TestClient) -> None:
    assert client.get("/api/v1/accounts/region", auth=TRACK).status_code == 200
    assert client.get("/v1/transactional", headers=APP).status_code == 200


def test_configured_credentials_replace_the_dev_ones() -> None:
    with emulator_client(site_id="s", api_key="k", app_api_key="a") as client:
        assert client.get("/api/v1/accounts/region", auth=("s", "k")).status_code == 200
        assert client.get("/api/v1/accounts/region", auth=TRACK).status_code == 401
        assert (
            client.get("/v1/transactional", headers={"Authorization": "Bearer a"}).status_code
            == 200
        )


def test_control_endpoints_need_no_credentials(client: TestClient) -> None:
    for path in (
        "/_emulator/state",
        "/_emulator/requests",
        "/_emulator/faults",
        "/_emulator/health",
    ):
        assert client.get(path).status_code == 200
