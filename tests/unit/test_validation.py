"""Every validation and normalisation rule of the producer, as tables.

Each refused call must raise ValidationError naming the field and must write nothing.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any

import fakeredis
import pytest

from cio_pipeline.producer import (
    APIClient,
    CustomerIO,
    SendEmailRequest,
    SendPushRequest,
    Settings,
    ValidationError,
)
from cio_pipeline.producer.ids import is_ulid
from cio_pipeline.producer.normalize import normalize_mapping, to_unix
from cio_pipeline.producer.operations import validate_v2_operation

ULID = "01HZY3J9Q8Z5X2W7V6T4S3R2Q1"


@pytest.fixture
def fake() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis()


@pytest.fixture
def cio(fake: fakeredis.FakeRedis) -> CustomerIO:
    return CustomerIO(redis=fake, settings=Settings())


@pytest.fixture
def api(fake: fakeredis.FakeRedis) -> APIClient:
    return APIClient("app-key", redis=fake, settings=Settings())


LONG = "x" * 151
E_ACUTE = "\u00e9"  # two bytes of UTF-8


class Obj:
    pass


TRACK_REFUSALS: list[tuple[str, tuple[Any, ...], dict[str, Any], str]] = [
    # (method, args, kwargs, field named in the error)
    ("identify", ("",), {}, "customer_id"),
    ("identify", ("   ",), {}, "customer_id"),
    ("identify", (None,), {}, "customer_id"),
    ("identify", (1.5,), {}, "customer_id"),
    ("identify", (True,), {}, "customer_id"),
    ("identify", (["a"],), {}, "customer_id"),
    ("identify", (LONG,), {}, "customer_id"),
    ("identify", ("1",), {"tags": {"a", "b"}}, "attributes.tags"),
    ("identify", ("1",), {"blob": b"bytes"}, "attributes.blob"),
    ("identify", ("1",), {"thing": Obj()}, "attributes.thing"),
    ("identify", ("1",), {"nested": {1: "x"}}, "attributes.nested"),
    ("identify", ("1",), {"score": math.inf}, "attributes.score"),
    ("identify", ("1",), {"created_at": "yesterday"}, "attributes.created_at"),
    ("identify", ("1",), {"trial_ends_at": "soon"}, "attributes.trial_ends_at"),
    ("identify", ("1",), {"created_at": True}, "attributes.created_at"),
    ("identify", ("1",), {"n" * 151: 1}, "attributes." + "n" * 151 + " (name)"),
    ("identify", ("1",), {"bio": "b" * 1001}, "attributes.bio"),
    ("identify", ("1",), {"bio": "é" * 501}, "attributes.bio"),
    ("identify", ("1",), {"prefs": {"k": "v" * 1000}}, "attributes.prefs"),
    ("identify", ("1",), {f"a{i}": i for i in range(301)}, "attributes"),
    ("identify", ("1",), {f"a{i}": "v" * 999 for i in range(40)}, "operation"),
    # the fast paths for plain values: keys, date keys and the byte bound still hold
    ("identify", ("1",), {"nested": {1: 5}}, "attributes.nested"),
    ("identify", ("1",), {"nested": {2: None}}, "attributes.nested"),
    ("identify", ("1",), {"nested": {"ok": 1, 3: True}}, "attributes.nested"),
    ("identify", ("1",), {"last_used": "nope"}, "attributes.last_used"),
    ("identify", ("1",), {"seen_at": False}, "attributes.seen_at"),
    ("identify", ("1",), {"bio": "\U0001d11e" * 251}, "attributes.bio"),
    ("identify", ("1",), {"n" * 38: "v", E_ACUTE * 76: 1}, f"attributes.{E_ACUTE * 76} (name)"),
    ("track", ("1", ""), {}, "name"),
    ("track", ("1", None), {}, "name"),
    ("track", ("1", "n" * 101), {}, "name"),
    ("track", ("1", "buy"), {"data": {"x": "y" * 100_001}}, "attributes"),
    ("track", ("1", "buy"), {"data": ["not", "a", "dict"]}, "attributes"),
    ("track", ("1", "buy"), {"id": "not-a-ulid"}, "id"),
    ("track", ("1", "buy"), {"id": "8" + ULID[1:]}, "id"),
    ("track", ("1", "buy"), {"timestamp": "tomorrow"}, "timestamp"),
    ("track", ("", "buy"), {}, "customer_id"),
    ("track_anonymous", ("anon", ""), {}, "name"),
    ("track_anonymous", ("anon", "visit"), {"id": "nope"}, "id"),
    ("track_anonymous", ("a" * 151, "visit"), {}, "anonymous_id"),
    ("pageview", ("1", ""), {}, "name"),
    ("backfill", ("1", "buy", None), {}, "timestamp"),
    ("backfill", ("1", "buy", "not a date"), {}, "timestamp"),
    ("delete", ("",), {}, "customer_id"),
    ("add_device", ("1", "", "ios"), {}, "device.token"),
    ("add_device", ("1", "tok", "windows"), {}, "device.platform"),
    ("add_device", ("1", "tok", ""), {}, "device.platform"),
    ("delete_device", ("1", None), {}, "device.token"),
    ("suppress", (None,), {}, "customer_id"),
    ("unsuppress", ("",), {}, "customer_id"),
    ("merge_customers", ("phone", "1", "id", "2"), {}, "primary.phone"),
    ("merge_customers", ("id", "1", "username", "2"), {}, "secondary.username"),
    ("merge_customers", ("id", "", "id", "2"), {}, "primary.id"),
    ("merge_customers", ("id", "1", "email", None), {}, "secondary.email"),
    ("merge_customers", (None, "1", "id", "2"), {}, "primary"),
]


@pytest.mark.parametrize(("method", "args", "kwargs", "field"), TRACK_REFUSALS)
def test_track_refusals_name_the_field_and_write_nothing(
    cio: CustomerIO,
    fake: fakeredis.FakeRedis,
    method: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    field: str,
) -> None:
    with pytest.raises(ValidationError) as info:
        getattr(cio, method)(*args, **kwargs)
    assert info.value.field == field
    assert fake.keys("*") == []


def test_errors_never_echo_values(cio: CustomerIO) -> None:
    with pytest.raises(ValidationError) as info:
        cio.identify("1", bio="secret-" + "b" * 1000)
    assert "secret" not in str(info.value)


BATCH_REFUSALS: list[tuple[Any, str]] = [
    ([], "operations"),
    ("nope", "operations"),
    ([{"type": "object", "action": "identify"}], "operations[0].type"),
    ([{"type": "person", "action": "fly", "identifiers": {"id": "1"}}], "operations[0].action"),
    ([{"type": "person", "action": "identify"}], "operations[0].identifiers"),
    (
        [{"type": "person", "action": "identify", "identifiers": {"id": "1", "email": "a@b"}}],
        "operations[0].identifiers",
    ),
    (
        [{"type": "person", "action": "identify", "identifiers": {"phone": "+1"}}],
        "operations[0].identifiers.phone",
    ),
    (
        [
            {"type": "person", "action": "identify", "identifiers": {"id": "1"}},
            {"type": "person", "action": "event", "identifiers": {"id": "1"}},
        ],
        "operations[1].name",
    ),
    (
        [{"type": "person", "action": "merge", "primary": {"id": "1"}}],
        "operations[0].secondary",
    ),
    (
        [
            {
                "type": "person",
                "action": "event",
                "name": "x",
                "identifiers": {"id": "1"},
                "timestamp": "never",
            }
        ],
        "operations[0].timestamp",
    ),
    (
        [
            {
                "type": "person",
                "action": "add_device",
                "identifiers": {"id": "1"},
                "device": {"platform": "ios"},
            }
        ],
        "operations[0].device.token",
    ),
]


@pytest.mark.parametrize(("operations", "field"), BATCH_REFUSALS)
def test_batch_refusals(
    cio: CustomerIO, fake: fakeredis.FakeRedis, operations: Any, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        cio.batch(operations)
    assert info.value.field == field
    assert fake.keys("*") == []  # all or none: the valid first operation was not written either


def _email(**fields: Any) -> SendEmailRequest:
    base: dict[str, Any] = {
        "transactional_message_id": 7,
        "to": "ann@example.com",
        "identifiers": {"id": "1"},
    }
    base.update(fields)
    return SendEmailRequest(**base)


SEND_REFUSALS: list[tuple[str, Any, str]] = [
    ("send_email", _email(identifiers=None), "identifiers"),
    ("send_email", _email(identifiers={"id": "1", "email": "a@b.c"}), "identifiers"),
    ("send_email", _email(identifiers={"phone": "+1"}), "identifiers.phone"),
    ("send_email", _email(identifiers={"id": ""}), "identifiers.id"),
    ("send_email", _email(to=None), "to"),
    ("send_email", _email(transactional_message_id=None), "body"),
    (
        "send_email",
        _email(transactional_message_id=None, body="<p>hi</p>", subject="Hi"),
        "from",
    ),
    ("send_email", _email(transactional_message_id=True), "transactional_message_id"),
    ("send_email", _email(transactional_message_id=" "), "transactional_message_id"),
    (
        "send_email",
        _email(to=",".join(f"p{i}@x.io" for i in range(10)), cc=[f"c{i}@x.io" for i in range(6)]),
        "to",
    ),
    ("send_email", _email(message_data={"when": {1, 2}}), "message_data.when"),
    ("send_email", _email(send_at=datetime.now(UTC) + timedelta(days=91)), "send_at"),
    ("send_email", _email(attachments={"a.txt": b"raw"}), "attachments.a.txt"),
    ("send_email", SendPushRequest(transactional_message_id=1, identifiers={"id": "1"}), "request"),
    ("send_email", "not a request", "request"),
    ("send_push", SendPushRequest(identifiers={"id": "1"}), "transactional_message_id"),
    ("send_sms", {"identifiers": {"id": "1"}}, "transactional_message_id"),
]


@pytest.mark.parametrize(("method", "request_", "field"), SEND_REFUSALS)
def test_send_refusals(
    api: APIClient, fake: fakeredis.FakeRedis, method: str, request_: Any, field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        getattr(api, method)(request_)
    assert info.value.field == field
    assert fake.keys("*") == []


def test_caller_idempotency_key_is_validated(api: APIClient) -> None:
    with pytest.raises(ValidationError, match="idempotency_key"):
        api.send_email(_email(), idempotency_key="")


# ---- normalisation -------------------------------------------------------------------------

PARIS = timezone(timedelta(hours=2))
DATES: list[tuple[Any, int]] = [
    (datetime(2024, 1, 1, tzinfo=UTC), 1704067200),
    (datetime(2024, 1, 1, 2, 0, tzinfo=PARIS), 1704067200),  # aware: converted correctly
    (datetime(2024, 1, 1), 1704067200),  # naive: taken as UTC
    (date(2024, 1, 1), 1704067200),
    ("2024-01-01T00:00:00Z", 1704067200),
    ("2024-01-01T02:00:00+02:00", 1704067200),
    ("2024-01-01", 1704067200),
    ("2024-01-01T00:00:00.999Z", 1704067200),
    ("2024-01-01t00:00:00z", 1704067200),  # lowercase: not read by fromisoformat itself
    ("2024-01-01Z", 1704067200),
    ("1704067200", 1704067200),
    (1704067200, 1704067200),
    (1704067200.7, 1704067200),
]


@pytest.mark.parametrize(("value", "unix"), DATES)
def test_dates_become_unix_seconds(value: Any, unix: int) -> None:
    assert to_unix(value, "f") == unix
    out = normalize_mapping({"created_at": value, "paid_at": value, "timestamp": value}, "a")
    assert out == {"created_at": unix, "paid_at": unix, "timestamp": unix}


def test_datetimes_anywhere_and_nan() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    out = normalize_mapping(
        {
            "order": {"items": [{"added": when}], "note": "2024-01-01"},
            "score": math.nan,
            "tags": ("a", "b"),
        },
        "attributes",
    )
    # datetimes become ints at any depth; ISO strings only under date-like keys
    assert out == {
        "order": {"items": [{"added": 1704067200}], "note": "2024-01-01"},
        "score": None,
        "tags": ["a", "b"],
    }


def test_plain_values_pass_unchanged_and_subclasses_become_plain() -> None:
    class Plan(StrEnum):
        PRO = "pro"

    class Level(IntEnum):
        TWO = 2

    out = normalize_mapping(
        {
            "plan": Plan.PRO,
            "level": Level.TWO,
            "name": "x",
            "n": 1,
            "ok": True,
            "none": None,
            "paid_at": 1704067200,
            "seen_at": None,
            "score": 1.5,
        },
        "attributes",
    )
    assert out == {
        "plan": "pro",
        "level": 2,
        "name": "x",
        "n": 1,
        "ok": True,
        "none": None,
        "paid_at": 1704067200,
        "seen_at": None,
        "score": 1.5,
    }
    assert type(out["plan"]) is str and type(out["level"]) is int


def test_identify_shapes_and_normalises(cio: CustomerIO, fake: fakeredis.FakeRedis) -> None:
    from cio_pipeline.producer.jobs import TRACK_OPERATION_FUNC  # noqa: F401  (documents the contract)

    op = validate_v2_operation(
        {
            "type": "person",
            "action": "identify",
            "identifiers": {"id": 42},
            "attributes": {"created_at": datetime(2024, 1, 1), "plan": "pro"},
        }
    )
    assert op.operation == {
        "type": "person",
        "action": "identify",
        "identifiers": {"id": "42"},
        "attributes": {"created_at": 1704067200, "plan": "pro"},
    }
    assert op.route == ("id", "42")


def test_event_ids_are_ulids_and_callers_kept() -> None:
    op = validate_v2_operation(
        {"type": "person", "action": "event", "name": "buy", "identifiers": {"email": "a@b.c"}}
    )
    assert is_ulid(op.operation["id"])
    given = validate_v2_operation(
        {
            "type": "person",
            "action": "page",
            "name": "/",
            "identifiers": {"cio_id": "x"},
            "id": ULID.lower(),
        }
    )
    assert given.operation["id"] == ULID


def test_device_attributes_are_strings_and_a_null_last_used_is_left_out(
    cio: CustomerIO, fake: fakeredis.FakeRedis
) -> None:
    """Customer.io's spec: device attributes are strings, last_used an integer."""
    with pytest.raises(ValidationError) as info:
        cio.add_device("42", "tok", "ios", app_version=3)
    assert info.value.field == "device.attributes.app_version"
    assert fake.dbsize() == 0
    cio.add_device("42", "tok", "ios", last_used=None, app_version="3")
