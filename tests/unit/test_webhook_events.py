"""Reporting-webhook events: the envelope check, and every example of the official spec.

The spec is Customer.io's official one, shipped with the emulator
(``devtools/emulator/reporting-webhooks.openapi.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cio_pipeline.worker.webhooks.events import EventError, SuppressionChange, parse_event

SPEC = (
    Path(__file__).resolve().parents[2]
    / "devtools"
    / "emulator"
    / "reporting-webhooks.openapi.json"
)


def _spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC.read_text(encoding="utf-8"))
    return loaded


def _examples() -> dict[str, dict[str, Any]]:
    post = _spec()["webhooks"]["reportingWebhook"]["post"]
    examples = post["requestBody"]["content"]["application/json"]["examples"]
    return {name: example["value"] for name, example in examples.items()}


def _metrics() -> list[tuple[str, str]]:
    """(object_type, metric) of every event schema in the spec (``email_bounced``, ...)."""
    pairs = []
    for name, schema in _spec()["components"]["schemas"].items():
        for part in schema.get("allOf", [schema]):
            metric = part.get("properties", {}).get("metric", {}).get("enum")
            if metric:
                object_type = "customer" if name.startswith("person_") else name.split("_")[0]
                object_type = "in_app" if name.startswith("in_app_") else object_type
                pairs.append((object_type, metric[0]))
    return sorted(set(pairs))


@pytest.mark.parametrize(("name", "event"), sorted(_examples().items()))
def test_every_example_event_of_the_spec_parses(name: str, event: dict[str, Any]) -> None:
    parsed = parse_event(json.dumps(event).encode())
    assert (parsed.event_id, parsed.metric) == (event["event_id"], event["metric"])
    assert parsed.identifiers["id"] == "42"
    assert parsed.counter == f"webhook_metric_{event['object_type']}_{event['metric']}"


def test_the_spec_lists_every_metric_we_act_on() -> None:
    pairs = _metrics()
    assert len(pairs) > 60
    for wanted in [
        ("email", "bounced"),
        ("email", "spammed"),
        ("email", "dropped"),
        ("email", "unsubscribed"),
        ("customer", "subscribed"),
        ("customer", "unsubscribed"),
        ("in_app", "clicked"),
    ]:
        assert wanted in pairs


@pytest.mark.parametrize(("object_type", "metric"), _metrics())
def test_an_event_of_every_metric_is_accepted(object_type: str, metric: str) -> None:
    event = parse_event(
        {
            "event_id": "01E4C4CT6YDC7Y5M7FE1GWWPQJ",
            "object_type": object_type,
            "metric": metric,
            "timestamp": 1613063089,
            "data": {"identifiers": {"id": "42"}, "failure_message": "x"},
        }
    )
    change = event.suppression_change()
    acts = {"bounced", "spammed", "unsubscribed", "subscribed"}
    assert (change is not None) == (
        metric in acts and (object_type == "email" or metric in ("unsubscribed", "subscribed"))
    )


@pytest.mark.parametrize(
    ("object_type", "metric", "failure", "change"),
    [
        ("email", "bounced", None, SuppressionChange("set", "bounced")),
        ("email", "spammed", None, SuppressionChange("set", "spammed")),
        ("email", "dropped", "Address is suppressed", SuppressionChange("set", "dropped")),
        ("email", "dropped", "template error", None),
        ("email", "unsubscribed", None, SuppressionChange("set", "unsubscribed")),
        ("customer", "unsubscribed", None, SuppressionChange("set", "unsubscribed")),
        ("customer", "subscribed", None, SuppressionChange("clear", "unsubscribed")),
        ("email", "delivered", None, None),
        ("push", "bounced", None, None),
    ],
)
def test_suppression_changes(
    object_type: str, metric: str, failure: str | None, change: SuppressionChange | None
) -> None:
    data: dict[str, Any] = {"recipient": "Ann@Example.com"}
    if failure:
        data["failure_message"] = failure
    event = parse_event(
        {
            "event_id": "e1",
            "object_type": object_type,
            "metric": metric,
            "timestamp": 5,
            "data": data,
        }
    )
    assert event.suppression_change() == change


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"object_type": "email", "metric": "sent", "timestamp": 1, "data": {}}', "event_id"),
        (b'{"event_id": "e", "metric": "sent", "timestamp": 1, "data": {}}', "object_type"),
        (b'{"event_id": "e", "object_type": "email", "timestamp": 1, "data": {}}', "metric"),
        (b'{"event_id": "e", "object_type": "email", "metric": "sent", "data": {}}', "timestamp"),
        (
            b'{"event_id": "e", "object_type": "email", "metric": "sent", "timestamp": "1",'
            b' "data": {}}',
            "timestamp",
        ),
        (b'{"event_id": "e", "object_type": "email", "metric": "sent", "timestamp": 1}', "data"),
        (
            b'{"event_id": "e", "object_type": "a b", "metric": "sent", "timestamp": 1,'
            b' "data": {}}',
            "object_type",
        ),
        (b"[" * 100_000, "not JSON"),
    ],
)
def test_what_is_not_an_event(body: bytes, message: str) -> None:
    with pytest.raises(EventError, match=message):
        parse_event(body)
