"""OpenAPI 3.1 documents generated from the routes themselves, so they cannot drift.

Handlers describe themselves with `@operation(...)`; routes without it are still listed (with
their path parameters) so the document always names every route a service answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "__chargepark_operation__"
_PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")


def operation(
    summary: str,
    *,
    request: dict[str, Any] | None = None,
    responses: dict[int, str] | None = None,
    tags: list[str] | None = None,
) -> Callable[[F], F]:
    def mark(fn: F) -> F:
        setattr(
            fn,
            _ATTR,
            {
                "summary": summary,
                "request": request,
                "responses": responses or {200: "OK"},
                "tags": tags or [],
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
    }
    op: dict[str, Any] = {
        "summary": meta["summary"],
        "operationId": f"{route.method.lower()}_{route.handler.__name__}",
        "responses": {str(code): {"description": text} for code, text in meta["responses"].items()},
    }
    if meta["tags"]:
        op["tags"] = meta["tags"]
    params = _PARAM.findall(template)
    if params:
        op["parameters"] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ]
    if meta["request"] is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": meta["request"]}},
        }
    scope = getattr(route.handler, "__chargepark_scope__", None)
    if scope:
        op["security"] = [{"bearer": [scope]}]
    return op
