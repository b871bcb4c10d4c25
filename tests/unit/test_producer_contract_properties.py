"""The producer's contract, proved by generation: every entry point, given anything, either
raises a typed :class:`CustomerIOException` having written nothing, or enqueues jobs that the
worker's own reader decodes and encodes and that Customer.io's Track API spec accepts.

Values are JSON-like and hostile: huge integers, NaN and infinities, lone surrogates, bytes,
sets, objects, enums and lying subclasses, odd keys, deep nesting, values that contain
themselves, and shared-reference bombs (a few lists shared 40 levels deep). Every entry point
is driven: identify (its one-pass fast path and the general path), track, track_anonymous,
pageview, backfill, delete, devices, suppress/unsuppress, merge, batch, each of them also
inside ``pipeline()``, every transactional send, and the import's row path.

A modest count runs in the normal suite; ``-m slow`` runs at least 100,000 calls in all.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from enum import IntEnum, StrEnum
from typing import Any
from urllib.parse import quote

import fakeredis
import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from spec_contract import BUNDLED, SCHEMAS, URI

from cio_pipeline.producer import (
    APIClient,
    CustomerIO,
    CustomerIOException,
    SendEmailRequest,
    SendPushRequest,
    SendSMSRequest,
    Settings,
)
from cio_pipeline.producer.normalize import MAX_VALUES
from cio_pipeline.producer.rows.build import RowMapping, row_operation
from cio_pipeline.producer.serializer import SafeSerializer, inflate
from cio_pipeline.worker.clients.base import encode_json
from cio_pipeline.worker.core.allowed_jobs import SEND_JOBS, check_call
from cio_pipeline.worker.ops.imports import _submit as import_submit
from cio_pipeline.worker.track.items import Item, decode_item

#: Calls made by every run of this module's tests (the slow lane reports it).
CALLS = {"made": 0, "refused": 0, "enqueued": 0}


# ---- hostile values ----------------------------------------------------------------------
class Level(IntEnum):
    HIGH = 3


class Color(StrEnum):
    RED = "red"


class LyingStr(str):
    def __str__(self) -> str:
        return "\ud800"


class LyingInt(int):
    def __int__(self) -> int:
        return 10**5000

    def __index__(self) -> int:
        return 10**5000


class LyingFloat(float):
    def __float__(self) -> float:
        return math.inf


class Opaque:
    pass


def nested(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def bomb(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value, value]
    return value


def cycle(kind: str) -> Any:
    if kind == "list":
        loop: list[Any] = []
        loop.append(loop)
        return loop
    mapping: dict[str, Any] = {}
    mapping["self"] = {"again": mapping}
    return mapping


surrogate = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
any_char = st.one_of(st.characters(), surrogate)
texts = st.one_of(
    st.text(any_char, max_size=20),
    st.text(max_size=8),
    st.sampled_from(
        ["", " ", "²", "1\xb9", "9" * 25, "2024-01-01T00:00:00Z", "2024-01-01", "cio_", "a@b"]
    ),
    st.sampled_from([151, 1001, 40_000]).map(lambda n: "x" * n),
    st.just("é").map(lambda c: c * 600),
    st.just(LyingStr("ok")),
    st.just(Color.RED),
)
integers = st.one_of(
    st.integers(),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1]),
    # built, not listed: Hypothesis describes listed values, and these have no decimal text
    st.sampled_from([4300, 5000]).map(lambda digits: 10**digits),
    st.just(Level.HIGH),
    st.just(LyingInt(5)),
)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=23, minutes=59)), timezone.min])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(),
    st.just(LyingFloat(1.5)),
    texts,
    st.binary(max_size=8),
    st.datetimes(timezones=st.none() | offsets),
    st.dates(),
    st.builds(Opaque),
    st.just(print),
)
keys = st.one_of(
    texts,
    st.sampled_from(["timestamp", "created_at", "seen_at", "_timestamp", "last_used", "id"]),
    st.integers(-3, 3),
    st.none(),
    st.tuples(st.integers(0, 2)),
)
hashables = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4))
structures = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.tuples(inner, inner),
        st.frozensets(hashables, max_size=3),
        st.sets(hashables, max_size=3),
    ),
    max_leaves=20,
)
monsters = st.one_of(
    st.builds(nested, scalars, st.sampled_from([30, 31, 32, 33, 40, 64, 2000])),
    st.builds(bomb, st.sampled_from([5, 16, 17, 20, 40])),
    st.builds(cycle, st.sampled_from(["list", "dict"])),
    st.builds(lambda: list(range(MAX_VALUES + 1))),
)
#: Mostly structures; monsters cost the producer up to MAX_VALUES steps each.
values = st.one_of(structures, structures, structures, monsters)
#: Attribute names usable as ``**kwargs`` (strings, surrogates included).
kwarg_names = st.one_of(
    st.text(any_char, min_size=1, max_size=12),
    st.sampled_from(["created_at", "timestamp", "plan", "attributes", "last_used"]),
    st.just("x").map(lambda c: c * 151),
)
attributes = st.dictionaries(kwarg_names, values, max_size=6)


def kwargs_beside(*positional: str) -> st.SearchStrategy[dict[str, Any]]:
    """Attributes passed as ``**kwargs`` beside parameters of these names (Python itself
    refuses a keyword that repeats a parameter, before the producer sees the call)."""
    return attributes.map(lambda a: {k: v for k, v in a.items() if k not in positional})


ids = st.one_of(
    st.sampled_from(["42", "ann@example.com", "cio_abc", "user-7"]), texts, integers, values
)
names = st.one_of(st.sampled_from(["signed_up", "page /x", "é"]), texts, values)
event_ids = st.one_of(st.none(), st.just("01HZY3J9Q8Z5X2W7V6T4S3R2Q1"), texts, values)
stamps = st.one_of(st.none(), integers, st.floats(), st.datetimes(), texts, values)
id_types = st.one_of(st.sampled_from(["id", "email", "cio_id"]), texts, integers, st.none())


# ---- the calls ---------------------------------------------------------------------------
Call = Callable[[Any], Any]


def v2_operations() -> st.SearchStrategy[Any]:
    person = st.fixed_dictionaries(
        {
            "type": st.sampled_from(["person", "person", "object", 5]),
            "action": st.sampled_from(
                [
                    "identify",
                    "event",
                    "page",
                    "screen",
                    "delete",
                    "suppress",
                    "unsuppress",
                    "add_device",
                    "delete_device",
                    "merge",
                    "nope",
                ]
            ),
            "identifiers": st.one_of(st.dictionaries(id_types, ids, max_size=2), values),
        },
        optional={
            "attributes": st.one_of(attributes, values),
            "name": names,
            "id": event_ids,
            "timestamp": stamps,
            "device": st.one_of(
                st.fixed_dictionaries(
                    {"token": ids, "platform": st.sampled_from(["ios", "android", "x"])},
                    optional={"last_used": stamps, "attributes": attributes},
                ),
                values,
            ),
            "primary": st.dictionaries(id_types, ids, max_size=2),
            "secondary": st.dictionaries(id_types, ids, max_size=2),
        },
    )
    return st.one_of(person, values)


TRACK_CALLS: dict[str, st.SearchStrategy[Call]] = {
    "identify": st.builds(lambda i, a: lambda c: c.identify(i, **a), ids, kwargs_beside("id")),
    "identify_plain": st.builds(
        lambda i, a: lambda c: c.identify(i, **a),
        st.sampled_from(["42", "ann@example.com"]),
        st.dictionaries(
            kwarg_names.filter(lambda k: k != "id"),
            st.one_of(texts, integers, st.booleans(), st.none()),
        ),
    ),
    "track": st.builds(
        lambda i, n, d, e, t: lambda c: c.track(i, n, d, e, t),
        ids,
        names,
        st.one_of(st.none(), attributes, values),
        event_ids,
        stamps,
    ),
    "track_anonymous": st.builds(
        lambda i, n, d, e, t: lambda c: c.track_anonymous(i, n, d, e, t),
        st.one_of(st.none(), ids),
        names,
        st.one_of(st.none(), attributes, values),
        event_ids,
        stamps,
    ),
    "pageview": st.builds(
        lambda i, n, a: lambda c: c.pageview(i, n, **a),
        ids,
        names,
        kwargs_beside("customer_id", "page"),
    ),
    "backfill": st.builds(
        lambda i, n, t, a: lambda c: c.backfill(i, n, t, **a),
        ids,
        names,
        stamps,
        kwargs_beside("customer_id", "name", "timestamp"),
    ),
    "plain_actions": st.builds(
        lambda m, i: lambda c: getattr(c, m)(i),
        st.sampled_from(["delete", "suppress", "unsuppress"]),
        ids,
    ),
    "devices": st.builds(
        lambda i, d, p, a, delete: (
            (lambda c: c.delete_device(i, d)) if delete else (lambda c: c.add_device(i, d, p, **a))
        ),
        ids,
        ids,
        st.one_of(st.sampled_from(["ios", "android"]), values),
        kwargs_beside("customer_id", "device_id", "platform"),
        st.booleans(),
    ),
    "merge": st.builds(
        lambda a, b, c_, d: lambda c: c.merge_customers(a, b, c_, d), id_types, ids, id_types, ids
    ),
    "batch": st.builds(
        lambda ops: lambda c: c.batch(ops),
        st.one_of(st.lists(v2_operations(), min_size=1, max_size=3), values),
    ),
    "import_row": st.builds(
        lambda row, line: lambda c: import_submit(c, row_operation(row, line, RowMapping())),
        st.fixed_dictionaries(
            {"id": st.one_of(st.sampled_from(["7", "a@b.co"]), ids)},
            optional={"event": names, "timestamp": stamps, "plan": values, "email": ids},
        ),
        st.integers(1, 10**6),
    ),
}

_SEND_CLASSES = {"email": SendEmailRequest, "push": SendPushRequest, "sms": SendSMSRequest}
send_fields = st.fixed_dictionaries(
    {
        "transactional_message_id": st.one_of(st.sampled_from([1, "welcome"]), ids),
        "identifiers": st.one_of(st.dictionaries(id_types, ids, min_size=1, max_size=2), values),
        "to": st.one_of(st.just("ann@example.com"), texts, values),
    },
    optional={
        "message_data": st.one_of(attributes, values),
        "subject": texts,
        "send_at": stamps,
        "headers": values,
    },
)


def _request_object(kind: str, fields: dict[str, Any]) -> Any:
    """The ``Send*Request`` of ``kind`` with the fields its constructor takes."""
    cls = _SEND_CLASSES[kind]
    accepted = inspect.signature(cls).parameters
    return cls(**{k: v for k, v in fields.items() if k in accepted})


SEND_CALLS: dict[str, st.SearchStrategy[Call]] = {
    "send": st.builds(
        lambda kind, fields, as_object, key: (
            lambda api: getattr(api, f"send_{kind}")(
                _request_object(kind, fields) if as_object else fields, idempotency_key=key
            )
        ),
        st.sampled_from(sorted(_SEND_CLASSES)),
        send_fields,
        st.booleans(),
        st.one_of(st.none(), st.just("order-1"), texts, values),
    ),
}


# ---- the check ---------------------------------------------------------------------------
def _spec_validator(pointer: str) -> jsonschema.Draft202012Validator:
    spec = json.loads(BUNDLED.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(URI, DRAFT202012.create_resource(spec))
    return jsonschema.Draft202012Validator({"$ref": f"{URI}#{quote(pointer)}"}, registry=registry)


BATCH = _spec_validator(SCHEMAS[("POST", "/api/v2/batch")])
ANONYMOUS = _spec_validator(SCHEMAS[("POST", "/api/v1/events")])


def _check_track_job(job_id: str, data: bytes) -> None:
    item = decode_item(job_id, data)  # the worker's own reader: bounds, unpickling, encoding
    assert isinstance(item, Item), item
    body = json.loads(item.encoded)
    if item.anonymous:
        errors = list(ANONYMOUS.iter_errors(body))
    else:
        errors = list(BATCH.iter_errors({"batch": [body]}))
    assert not errors, jsonschema.exceptions.best_match(errors)


def _check_send_job(data: bytes) -> None:
    func, instance, args, kwargs = SafeSerializer.loads(inflate(data))
    assert check_call(SEND_JOBS, func, instance, args, kwargs) is None
    encode_json(args[0])  # what the worker sends; raises if it could not


def check(call: Call, client: Any, redis: fakeredis.FakeRedis, *, in_pipeline: bool) -> None:
    """Make ``call`` once; assert the contract (see the module docstring)."""
    redis.flushall()
    CALLS["made"] += 1
    try:
        if in_pipeline:
            with client.pipeline() as pipe:
                call(pipe)
        else:
            call(client)
    except CustomerIOException:
        CALLS["refused"] += 1
        assert redis.dbsize() == 0, "a refused call wrote to Redis"
        return
    # Anything else propagates and fails the test with its traceback: an untyped error.
    CALLS["enqueued"] += 1
    job_keys = [k.decode() for k in redis.keys("rq:job:*")]
    assert job_keys, "a call that returned wrote no job"
    for key in job_keys:
        origin = redis.hget(key, "origin")
        data = redis.hget(key, "data")
        assert origin is not None and data is not None
        if origin.decode().startswith("cio-track-"):
            _check_track_job(key.removeprefix("rq:job:"), data)
        else:
            _check_send_job(data)


_FAKE = fakeredis.FakeRedis()
_CIO = CustomerIO(redis=_FAKE, settings=Settings())
_API = APIClient("app-key", redis=_FAKE, settings=Settings())
_QUICK = settings(
    max_examples=12,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: 11 Track entry-point groups and the sends, each plain and in pipeline(): 24 tests of
#: 4,200 calls, 100,800 in all.
_SLOW = settings(_QUICK, max_examples=4_200)
#: A slow test's own timeout (the suite's is 120 s a test; 4,200 calls take minutes).
_SLOW_TIMEOUT_S = 1800

ENTRY_POINTS = [(name, False) for name in TRACK_CALLS] + [(name, True) for name in TRACK_CALLS]


def _run_track(name: str, in_pipeline: bool, data: st.DataObject) -> None:
    call = data.draw(TRACK_CALLS[name], label=name)
    check(call, _CIO, _FAKE, in_pipeline=in_pipeline)


def _run_send(in_pipeline: bool, data: st.DataObject) -> None:
    check(data.draw(SEND_CALLS["send"]), _API, _FAKE, in_pipeline=in_pipeline)


@pytest.mark.parametrize(("name", "in_pipeline"), ENTRY_POINTS)
@_QUICK
@given(data=st.data())
def test_a_track_call_is_refused_typed_or_enqueues_what_the_spec_accepts(
    name: str, in_pipeline: bool, data: st.DataObject
) -> None:
    _run_track(name, in_pipeline, data)


@pytest.mark.parametrize("in_pipeline", [False, True])
@_QUICK
@given(data=st.data())
def test_a_send_is_refused_typed_or_enqueues_what_the_worker_can_encode(
    in_pipeline: bool, data: st.DataObject
) -> None:
    _run_send(in_pipeline, data)


@pytest.mark.slow
@pytest.mark.timeout(_SLOW_TIMEOUT_S)
@pytest.mark.parametrize(("name", "in_pipeline"), ENTRY_POINTS)
@_SLOW
@given(data=st.data())
def test_at_scale_a_track_call_is_refused_typed_or_enqueues_what_the_spec_accepts(
    name: str, in_pipeline: bool, data: st.DataObject
) -> None:
    _run_track(name, in_pipeline, data)


@pytest.mark.slow
@pytest.mark.timeout(_SLOW_TIMEOUT_S)
@pytest.mark.parametrize("in_pipeline", [False, True])
@_SLOW
@given(data=st.data())
def test_at_scale_a_send_is_refused_typed_or_enqueues_what_the_worker_can_encode(
    in_pipeline: bool, data: st.DataObject
) -> None:
    _run_send(in_pipeline, data)


def test_the_hostile_values_reach_the_producer() -> None:
    """The generators make what the contract is about (a guard against a strategy that
    quietly stops making monsters): each kind is refused with a typed error."""
    for value in (
        10**5000,
        "\ud800",
        nested(1, 40),
        bomb(40),
        cycle("list"),
        b"x",
        {1},
        math.inf,
        Opaque(),
    ):
        redis = fakeredis.FakeRedis()
        cio = CustomerIO(redis=redis, settings=Settings())
        with pytest.raises(CustomerIOException):
            cio.track("42", "e", {"v": value, "w": [value]})
        with pytest.raises(CustomerIOException):
            cio.identify("42", v=value)
        assert redis.dbsize() == 0


@pytest.fixture(scope="module", autouse=True)
def _report_calls(request: pytest.FixtureRequest) -> Any:
    yield
    line = (
        f"producer contract: {CALLS['made']} calls, {CALLS['refused']} refused with a "
        f"typed error, {CALLS['enqueued']} enqueued and checked by the worker's reader"
    )
    terminal = request.config.pluginmanager.get_plugin("terminalreporter")
    if terminal is not None:
        terminal.write_line(line)
    report = os.environ.get("CIO_CONTRACT_REPORT")  # a file (xdist workers print nothing)
    if report:
        with open(report, "a", encoding="utf-8") as out:
            out.write(line + "\n")
