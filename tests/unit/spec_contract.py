"""Checking Track request bodies against Customer.io's official spec (a test helper).

The spec is ``../shared/reference`` (Customer.io's published OpenAPI 3.1 spec, outside the
repository); bodies are checked with a validator written here, not the emulator's, so the
emulator cannot agree with itself by construction. App API sends are not part of that spec.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT202012

__all__ = ["BUNDLED", "SCHEMAS", "SPEC", "spec_violations", "validator"]

#: Customer.io's official Track API spec, shipped unchanged with the emulator.
BUNDLED = Path(__file__).resolve().parents[2] / "devtools" / "emulator" / "track-api.openapi.json"
SPEC = BUNDLED
URI = "urn:reference:track-api"


def _body_schema(path: str, method: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method}/requestBody/content/application~1json/schema"


#: (method, path pattern) -> pointer of the request body schema in the spec.
SCHEMAS = {
    ("PUT", "customer"): _body_schema("/api/v1/customers/{identifier}", "put"),
    ("POST", "events"): _body_schema("/api/v1/customers/{identifier}/events", "post"),
    ("PUT", "devices"): _body_schema("/api/v1/customers/{identifier}/devices", "put"),
    ("POST", "/api/v1/events"): _body_schema("/api/v1/events", "post"),
    ("POST", "/api/v1/merge_customers"): _body_schema("/api/v1/merge_customers", "post"),
    ("POST", "/api/v2/entity"): _body_schema("/api/v2/entity", "post"),
    ("POST", "/api/v2/batch"): _body_schema("/api/v2/batch", "post"),
}

#: The published v1 merge schema's primary/secondary alternatives have no ``required`` key,
#: so ``{"id": "1"}`` matches all three and ``oneOf`` fails for every body. Checked with the
#: v2 merge operation's (correct) spelling of the same identifiers instead.
MERGE_FIXED = {
    "type": "object",
    "required": ["primary", "secondary"],
    "properties": {
        "primary": {"$ref": f"{URI}#/components/schemas/person_merge/properties/primary"},
        "secondary": {"$ref": f"{URI}#/components/schemas/person_merge/properties/secondary"},
    },
}


@cache
def validator(pointer: str) -> jsonschema.Draft202012Validator:
    spec = json.loads(SPEC.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(URI, DRAFT202012.create_resource(spec))
    schema = MERGE_FIXED if pointer == "merge-fixed" else {"$ref": f"{URI}#{quote(pointer)}"}
    return jsonschema.Draft202012Validator(schema, registry=registry)


def schema_key(method: str, path: str) -> tuple[str, str] | None:
    if path.startswith("/api/v1/customers/"):
        tail = path.rsplit("/", 1)[1] if path.count("/") > 4 else "customer"
        return (method, tail) if (method, tail) in SCHEMAS else None
    return (method, path) if (method, path) in SCHEMAS else None


def spec_violations(bodies: Iterable[tuple[str, str, Any]]) -> tuple[int, list[str]]:
    """(how many bodies were checked, one line per body the spec refuses)."""
    checked, failures = 0, []
    for method, path, body in bodies:
        key = schema_key(method, path)
        if key is None:
            continue  # App API sends, and Track calls without a body
        pointer = "merge-fixed" if key[1] == "/api/v1/merge_customers" else SCHEMAS[key]
        error = jsonschema.exceptions.best_match(validator(pointer).iter_errors(body))
        checked += 1
        if error is not None:
            failures.append(f"{method} {path}: {error.json_path}: {error.message[:200]}")
    return checked, failures
