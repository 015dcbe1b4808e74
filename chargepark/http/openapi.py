"""OpenAPI 3.1 documents generated from the routes themselves, so they cannot drift.

Handlers describe themselves with `@operation(...)`; routes without it are still listed (with
their path parameters) so the document always names every route a service answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from chargepark.auth import PUBLIC_ATTR, SCOPE_ATTR
from chargepark.http.body import BODY_RESPONSES
from chargepark.http.problem import PROBLEM_JSON

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__chargepark_operation__"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


# RFC 9457 section 3.1: the members every error of ours carries (problem.py writes them).
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
    },
}
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
# What the kernel's middlewares answer on a protected route before its handler runs.
AUTH_RESPONSES = {401: "No token, or an invalid or expired one"}
SCOPE_RESPONSES = {403: "The token lacks the scope this operation needs"}
UNAVAILABLE_RESPONSES = {503: "A service this request needs is unavailable; see Retry-After"}


def operation(
    summary: str,
    *,
    request: dict[str, Any] | None = None,
    responses: dict[int, str | dict[str, Any]] | None = None,
    tags: list[str] | None = None,
    parameters: dict[str, dict[str, Any]] | None = None,
    query: dict[str, dict[str, Any]] | None = None,
) -> Callable[[F], F]:
    """Describes a handler. `responses` maps a status to its description, or to a whole OpenAPI
    response object where the body is not problem+json; `parameters` gives the schema of path
    parameters the handler checks (a string of any form otherwise); `query` the schemas of the
    optional query parameters it reads (chargepark/http/query.py has their rules)."""

    def mark(fn: F) -> F:
        setattr(
            fn,
            _ATTR,
            {
                "summary": summary,
                "request": request,
                "responses": responses or {200: "OK"},
                "tags": tags or [],
                "parameters": parameters or {},
                "query": query or {},
            },
        )
        return fn

    return mark


def build_openapi(app: web.Application, *, title: str, version: str, base: str = "") -> dict:
    paths: dict[str, dict[str, Any]] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        template = _template(resource.canonical)
        if base and template.startswith(base):
            template = template[len(base) :] or "/"
        paths.setdefault(template, {})[route.method.lower()] = _describe(route, template)
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {"Problem": PROBLEM_SCHEMA},
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
    if base:
        doc["servers"] = [{"url": base}]
    return doc


def _template(canonical: str) -> str:
    # aiohttp allows `{name:regex}`; OpenAPI wants `{name}`.
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", canonical)


def _describe(route: web.AbstractRoute, template: str) -> dict[str, Any]:
    meta = getattr(route.handler, _ATTR, None) or {
        "summary": route.handler.__name__.replace("_", " "),
        "request": None,
        "responses": {200: "OK"},
        "tags": [],
        "parameters": {},
        "query": {},
    }
    public = getattr(route.handler, PUBLIC_ATTR, False)
    scope = getattr(route.handler, SCOPE_ATTR, None)
    # What the kernel answers around the handler is documented here, once for every route:
    # reading the body (body.py), the bearer check (auth.py), a dependency down (problem.py).
    responses: dict[int, str | dict[str, Any]] = {}
    if meta["request"] is not None:
        responses |= BODY_RESPONSES
    if not public:
        responses |= AUTH_RESPONSES | UNAVAILABLE_RESPONSES
    if scope:
        responses |= SCOPE_RESPONSES
    responses |= meta["responses"]
    op: dict[str, Any] = {
        "summary": meta["summary"],
        "operationId": f"{route.method.lower()}_{route.handler.__name__}",
        "responses": {str(code): _response(code, text) for code, text in sorted(responses.items())},
    }
    if meta["tags"]:
        op["tags"] = meta["tags"]
    parameters = [
        {
            "name": p,
            "in": "path",
            "required": True,
            "schema": meta["parameters"].get(p, {"type": "string"}),
        }
        for p in _PARAM.findall(template)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in meta["query"].items()
    ]
    if parameters:
        op["parameters"] = parameters
    if meta["request"] is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta["request"]}},
        }
    if scope:
        op["security"] = [{"bearer": [scope]}]
    elif not public:
        op["security"] = [{"bearer": []}]
    return op


def _response(code: int, text: str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(text, dict):
        return text
    if code < 400:
        return {"description": text}
    return {"description": text, "content": {PROBLEM_JSON: {"schema": _PROBLEM_REF}}}
