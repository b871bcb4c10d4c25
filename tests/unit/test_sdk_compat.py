"""Our public classes must be drop-in replacements for the official customerio 3.2 SDK's.

For every public method and constructor of the SDK class, ours has the same parameters in the
same order, with the same kinds and defaults. Extra parameters are allowed only as keyword-only
with defaults (``redis=``, ``settings=``, ``idempotency_key=``), so every SDK call still works.
"""

from __future__ import annotations

import inspect
from types import ModuleType
from typing import Any

import customerio
import pytest

import cio_pipeline
import cio_pipeline.producer

PAIRS = [
    (customerio.CustomerIO, cio_pipeline.CustomerIO),
    (customerio.APIClient, cio_pipeline.APIClient),
    (customerio.SendEmailRequest, cio_pipeline.SendEmailRequest),
    (customerio.SendPushRequest, cio_pipeline.SendPushRequest),
    (customerio.SendSMSRequest, cio_pipeline.SendSMSRequest),
    (customerio.SendWhatsAppRequest, cio_pipeline.SendWhatsAppRequest),
    (customerio.SendInboxMessageRequest, cio_pipeline.SendInboxMessageRequest),
    (customerio.SendInAppRequest, cio_pipeline.SendInAppRequest),
]

#: SDK methods that are about its HTTP session, which a producer does not have.
TRANSPORT_ONLY = {
    "send_request",
    "setup_base_url",
    "get_customer_query_string",
    "get_device_query_string",
    "get_event_query_string",
    "get_events_query_string",
    "is_valid_id_type",
}


def _public_methods(cls: type) -> dict[str, Any]:
    return {
        name: member
        for name, member in inspect.getmembers(cls, inspect.isfunction)
        if not name.startswith("_") or name == "__init__"
    }


def _assert_compatible(sdk: Any, ours: Any, where: str) -> None:
    sdk_params = list(inspect.signature(sdk).parameters.values())
    our_params = list(inspect.signature(ours).parameters.values())
    assert [p.name for p in our_params[: len(sdk_params)]] == [p.name for p in sdk_params], where
    for theirs, mine in zip(sdk_params, our_params, strict=False):
        assert mine.kind == theirs.kind, f"{where}: {mine.name} kind"
        assert mine.default == theirs.default, f"{where}: {mine.name} default"
    for extra in our_params[len(sdk_params) :]:
        assert extra.kind is inspect.Parameter.KEYWORD_ONLY, f"{where}: extra {extra.name}"
        assert extra.default is not inspect.Parameter.empty, f"{where}: extra {extra.name}"


@pytest.mark.parametrize(("sdk_cls", "our_cls"), PAIRS, ids=lambda c: c.__name__)
def test_signatures_match_the_sdk(sdk_cls: type, our_cls: type) -> None:
    ours = _public_methods(our_cls)
    for name, method in _public_methods(sdk_cls).items():
        if name in TRANSPORT_ONLY:
            continue
        assert name in ours, f"{our_cls.__name__}.{name} is missing"
        _assert_compatible(method, ours[name], f"{our_cls.__name__}.{name}")


def test_regions_and_exception_match() -> None:
    assert tuple(cio_pipeline.Regions.US) == tuple(customerio.Regions.US)
    assert tuple(cio_pipeline.Regions.EU) == tuple(customerio.Regions.EU)
    assert issubclass(cio_pipeline.ValidationError, cio_pipeline.CustomerIOException)
    assert issubclass(cio_pipeline.ProducerUnavailable, cio_pipeline.CustomerIOException)
    assert issubclass(cio_pipeline.RedisFull, cio_pipeline.CustomerIOException)


@pytest.mark.parametrize(("sdk_cls", "our_cls"), PAIRS[2:], ids=lambda c: c.__name__)
def test_request_bodies_match_the_sdk(sdk_cls: type, our_cls: type) -> None:
    names = [p for p in inspect.signature(sdk_cls).parameters if p != "self"]
    kwargs = {name: f"v-{name}" for name in names}
    assert our_cls(**kwargs)._to_dict() == sdk_cls(**kwargs)._to_dict()


def test_attach_matches_the_sdk() -> None:
    theirs, mine = customerio.SendEmailRequest(), cio_pipeline.SendEmailRequest()
    for request in (theirs, mine):
        request.attach("a.txt", "hello")
        request.attach("b.bin", b"\x00\x01")
        request.attach("c.txt", "aGk=", encode=False)
    assert mine.attachments == theirs.attachments
    with pytest.raises(cio_pipeline.CustomerIOException):
        mine.attach("a.txt", "again")


@pytest.mark.parametrize("package", [cio_pipeline, cio_pipeline.producer])
def test_public_names_are_exactly_the_documented_ones(package: ModuleType) -> None:
    # Submodules appear as attributes once imported; they are not exported names.
    assert sorted(package.__all__) == sorted(
        name
        for name in dir(package)
        if not name.startswith("_") and not isinstance(getattr(package, name), ModuleType)
    )


def test_the_root_exports_what_the_producer_exports() -> None:
    assert set(cio_pipeline.__all__) == set(cio_pipeline.producer.__all__)


def test_invalid_region_is_refused_like_the_sdk() -> None:
    with pytest.raises(cio_pipeline.CustomerIOException, match="invalid region"):
        cio_pipeline.CustomerIO(region="us")  # type: ignore[arg-type]
