"""Request-body validation against Customer.io's published Track API spec.

The spec (OpenAPI 3.1, i.e. JSON Schema 2020-12) ships with this package as
``track-api.openapi.json``, an unmodified copy of ``customerio-track-api.openapi.json``. Its
schemas are resolved through a :mod:`referencing` registry, so ``$ref`` works as written.
v2 person operations are validated against the schema of their ``action`` (the spec's
discriminator): the full ``oneOf`` over every action is ten times slower and its errors say
nothing useful.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

import jsonschema
import jsonschema_rs
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = ["SPEC_FILE", "Problem", "schema_problems", "spec_document"]

SPEC_FILE = "track-api.openapi.json"
_URI = "urn:customerio:track-api"

#: Request kinds (our names) -> JSON pointer of their schema inside the spec.
_POINTERS: dict[str, str] = {
    "v1_identify": "/paths/~1api~1v1~1customers~1{identifier}/put/requestBody/content/"
    "application~1json/schema",
    "v1_device": "/paths/~1api~1v1~1customers~1{identifier}~1devices/put/requestBody/"
    "content/application~1json/schema",
    "v1_event": "/components/schemas/eventsRequest",
    "v1_anonymous_event": "/components/schemas/anonymousEventsRequest",
    "v2_object": "/components/schemas/object_operations",
    "v2_delivery": "/components/schemas/delivery_operations",
    "v2_identify": "/components/schemas/identify_person",
    "v2_delete": "/components/schemas/person_delete",
    "v2_event": "/components/schemas/person_event",
    "v2_page": "/components/schemas/person_page",
    "v2_screen": "/components/schemas/person_screen",
    "v2_add_relationships": "/components/schemas/person_add_relationships",
    "v2_delete_relationships": "/components/schemas/person_delete_relationships",
    "v2_add_device": "/components/schemas/person_add_device",
    "v2_delete_device": "/components/schemas/person_delete_device",
    "v2_merge": "/components/schemas/person_merge",
    "v2_suppress": "/components/schemas/person_suppress",
    "v2_unsuppress": "/components/schemas/person_unsuppress",
}


#: The spec's own v1 merge schema is defective: its ``primary``/``secondary`` alternatives
#: (``oneOf``) have no ``required`` key, so ``{"id": "1"}`` matches all three and every merge
#: fails. The v2 merge operation spells the same identifiers correctly; v1 borrows them.
_PERSON_MERGE = f"{_URI}#/components/schemas/person_merge/properties"
_OVERRIDES: dict[str, dict[str, Any]] = {
    "v1_merge": {
        "type": "object",
        "required": ["primary", "secondary"],
        "properties": {
            "primary": {"$ref": f"{_PERSON_MERGE}/primary"},
            "secondary": {"$ref": f"{_PERSON_MERGE}/secondary"},
        },
    },
}


@dataclass(frozen=True)
class Problem:
    """One reason a request (or batch item) is rejected; never quotes the rejected value."""

    field: str
    message: str
    reason: str = "invalid"


@cache
def spec_document() -> dict[str, Any]:
    """The bundled Track API spec, parsed once."""
    text = resources.files(__package__).joinpath(SPEC_FILE).read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@cache
def _validator(kind: str) -> jsonschema.Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        _URI, DRAFT202012.create_resource(spec_document())
    )
    schema = _OVERRIDES.get(kind) or {"$ref": f"{_URI}#{quote(_POINTERS[kind])}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def _fast_validator(kind: str) -> Any:
    registry = jsonschema_rs.Registry([(_URI, spec_document())])
    schema = _OVERRIDES.get(kind) or {"$ref": f"{_URI}#{quote(_POINTERS[kind])}"}
    return jsonschema_rs.Draft202012Validator(schema, registry=registry)


def schema_problems(kind: str, instance: object, prefix: str = "") -> list[Problem]:
    """The spec violations of ``instance`` as request kind ``kind`` (see ``_POINTERS``).

    A valid body (nearly every one) is recognised by jsonschema-rs, compiled, in well under a
    microsecond; only an invalid one goes through the pure-Python validator, whose errors we
    turn into messages that never repeat the rejected value. (The Python validator alone
    spent ~110 us per batch item: the emulator could not keep up with a batching worker.)
    """
    if _fast_validator(kind).is_valid(instance):
        return []
    problems = []
    for error in _validator(kind).iter_errors(instance):
        path = ".".join(str(p) for p in error.absolute_path)
        field = ".".join(p for p in (prefix, path) if p)
        problems.append(Problem(field or "body", _describe(error), _reason(error)))
    return problems


def _reason(error: jsonschema.ValidationError) -> str:
    return "required" if error.validator == "required" else "invalid"


def _describe(error: jsonschema.ValidationError) -> str:
    # jsonschema's own messages repeat the offending value, which may be personal data.
    rule, expected = error.validator, error.validator_value
    if rule == "required":
        return str(error.message)
    if rule == "type":
        return f"must be of type {expected}"
    if rule == "enum":
        return f"must be one of {', '.join(map(str, expected))}"
    if rule in ("oneOf", "anyOf"):
        return "does not match any form the spec allows"
    if rule == "maxProperties":
        return f"must have at most {expected} properties"
    return f"fails the spec's {rule} rule"
