"""Reading JSON request bodies: 415 for the wrong type, 400 for bad JSON, 422 for bad shape."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import fastjsonschema
from aiohttp import web

from chargepark.errors import DomainError, Invalid
from chargepark.http.problem import BadRequest

# What reading a body can answer besides the handler's own statuses, for every route with one;
# the OpenAPI generator adds these to each such operation so the documents cannot leave them out.
BODY_RESPONSES: dict[int, str] = {
    400: "The body is not valid JSON",
    413: "The body is larger than this service accepts",
    415: "The body is not application/json",
    422: "The body does not match the request schema",
}


class UnsupportedMediaType(DomainError):
    status = 415
    kind = "unsupported-media-type"


# Keyed by identity: route schemas are module constants, compiled on first use and kept.
_validators: dict[int, tuple[dict[str, Any], Callable[[Any], Any]]] = {}


def _compiled(schema: dict[str, Any]) -> Callable[[Any], Any]:
    entry = _validators.get(id(schema))
    if entry is None or entry[0] is not schema:
        entry = (schema, fastjsonschema.compile(schema))
        _validators[id(schema)] = entry
    return entry[1]


async def read_json(request: web.Request, schema: dict[str, Any] | None = None) -> Any:
    """The request body as JSON, checked against `schema` (compiled once per schema)."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    try:
        raw = await request.read()  # aiohttp raises 413 past client_max_size
    except web.RequestPayloadError as exc:
        # The body could not be decoded (`Content-Encoding: gzip` that is not gzip).
        raise BadRequest(f"the body cannot be read: {exc}") from None
    except ConnectionResetError:
        # The client closed the connection before the whole body came: its fault, not a
        # dependency's (problem.py would take a ConnectionError for one), and nobody reads this.
        raise BadRequest("the connection closed before the whole body arrived") from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {exc}") from None
    if schema is not None:
        try:
            _compiled(schema)(body)
        except fastjsonschema.JsonSchemaValueException as exc:
            raise Invalid(
                exc.message.replace("data.", "", 1).replace("data ", "body ", 1)
            ) from None
    return body
