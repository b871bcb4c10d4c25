"""Contract: a corpus of every Track operation, accepted by the emulator, is valid per the
official spec (``spec_contract``). Every other emulator unit test checks the bodies its own
emulator accepted the same way, when it closes (``emulator_support.emulator_client``), so no
test depends on another or on the order they run in.
"""

from __future__ import annotations

import json
from typing import Any

from emulator_support import TRACK, emulator_client, event_id, person_op
from spec_contract import BUNDLED, SCHEMAS, spec_violations, validator


def corpus() -> list[tuple[str, str, Any]]:
    """Send one of everything through an emulator; return what it accepted."""
    accepted: list[tuple[str, str, Any]] = []
    with emulator_client(accepted=accepted) as client:
        calls: list[tuple[str, str, Any]] = [
            (
                "PUT",
                "/api/v1/customers/42",
                {
                    "email": "a@b.co",
                    "created_at": 1_700_000_000,
                    "plan": "pro",
                    "vip": True,
                    "_update": False,
                },
            ),
            (
                "POST",
                "/api/v1/customers/42/events",
                {
                    "name": "buy",
                    "id": event_id(),
                    "timestamp": 1_700_000_000,
                    "data": {"price": 9.5},
                },
            ),
            ("POST", "/api/v1/customers/42/events", {"name": "/home", "type": "page"}),
            (
                "POST",
                "/api/v1/events",
                {"name": "visit", "anonymous_id": "anon", "id": event_id(), "data": {"k": [1]}},
            ),
            (
                "PUT",
                "/api/v1/customers/42/devices",
                {
                    "device": {
                        "id": "tok",
                        "platform": "ios",
                        "last_used": 1_700_000_000,
                        "attributes": {"app_version": "1.0"},
                    }
                },
            ),
            (
                "POST",
                "/api/v1/merge_customers",
                {"primary": {"id": "42"}, "secondary": {"email": "x@b.co"}},
            ),
            ("POST", "/api/v2/entity", person_op("event", name="e", id=event_id())),
            (
                "POST",
                "/api/v2/batch",
                {
                    "batch": [
                        person_op("identify", attributes={"n": {"nested": 1}}, timestamp=1),
                        person_op("event", name="e", id=event_id(), attributes={"a": 1}),
                        person_op("page", name="/p"),
                        person_op("screen", name="s"),
                        person_op("add_device", device={"token": "t", "platform": "android"}),
                        person_op("delete_device", device={"token": "t"}),
                        person_op("suppress"),
                        person_op("unsuppress"),
                        person_op("delete"),
                        {
                            "type": "person",
                            "action": "merge",
                            "primary": {"cio_id": "a"},
                            "secondary": {"email": "b@c.de"},
                        },
                        {
                            "type": "person",
                            "identifiers": {"phone": "+15555550100"},
                            "action": "identify",
                            "attributes": {},
                        },
                    ]
                },
            ),
        ]
        for method, path, body in calls:
            assert client.request(method, path, json=body, auth=TRACK).status_code == 200
    return accepted


def test_every_operation_the_emulator_accepts_matches_the_official_spec() -> None:
    checked, failures = spec_violations(corpus())
    assert checked >= 8
    assert not failures, "\n".join(failures)


def test_the_spec_still_has_the_v1_merge_defect() -> None:
    # When Customer.io fixes it, drop MERGE_FIXED here and the override in
    # cio_pipeline.devtools.emulator.
    body = {"primary": {"id": "1"}, "secondary": {"email": "a@b.co"}}
    assert not validator(SCHEMAS[("POST", "/api/v1/merge_customers")]).is_valid(body)
    assert validator("merge-fixed").is_valid(body)


def test_the_emulator_bundles_the_official_spec() -> None:
    spec = json.loads(BUNDLED.read_text(encoding="utf-8"))
    assert spec["info"]["title"] == "Customer.io Track API"
    assert "/api/v2/batch" in spec["paths"]
