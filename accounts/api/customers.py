"""Customers: create, read, search, change, deactivate."""

from __future__ import annotations

from aiohttp import web

from accounts.api.common import (
    READ,
    WRITE,
    operators_only,
    path_customer_id,
    routes,
    service,
)
from accounts.api.schemas import CUSTOMER_CHANGES, NEW_CUSTOMER
from accounts.api.views import customer_json, page_json
from accounts.service import (
    MAX_PAGE,
    MAX_QUERY_LENGTH,
    UNSET,
    CreateCustomer,
    SearchCustomers,
    UpdateCustomer,
)
from chargepark.auth import requires
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import NO_CONTROLS, int_param, query_int

TAGS = ["customers"]
CUSTOMER_ROUTE = "accounts-customer"


@routes.post("/customers")
@requires(WRITE)
@operation(
    "Create a customer (operators)",
    request=NEW_CUSTOMER,
    responses={201: "Created; Location names it", 409: "Email in use", 422: "Invalid"},
    tags=TAGS,
)
async def create_customer(request: web.Request) -> web.Response:
    operators_only(request, "create customers")
    body = await read_json(request, NEW_CUSTOMER)
    customer = await service(request).create_customer(CreateCustomer(**body))
    location = request.app.router[CUSTOMER_ROUTE].url_for(customer_id=customer.id)
    headers = {"Location": str(location)}
    return web.json_response(customer_json(customer), status=201, headers=headers)


@routes.get("/customers")
@requires(READ)
@operation(
    "Search customers by name or email (any case, any part) or exact id (operators)",
    responses={200: "One page, oldest first", 422: "Bad limit, offset or query"},
    tags=TAGS,
    query={
        "query": {"type": "string", "maxLength": MAX_QUERY_LENGTH, "pattern": NO_CONTROLS},
        "limit": int_param(1, MAX_PAGE),
        "offset": int_param(0),
    },
)
async def search_customers(request: web.Request) -> web.Response:
    operators_only(request, "search customers")
    query = SearchCustomers(
        query=request.query.get("query", ""),
        limit=query_int(request, "limit", 50),
        offset=query_int(request, "offset", 0),
    )
    return web.json_response(page_json(await service(request).search_customers(query)))


@routes.get("/customers/{customer_id}", name=CUSTOMER_ROUTE)
@requires(READ)
@operation("A customer", responses={200: "OK", 404: "No such customer"}, tags=TAGS)
async def get_customer(request: web.Request) -> web.Response:
    customer = await service(request).get_customer(path_customer_id(request))
    return web.json_response(customer_json(customer))


@routes.patch("/customers/{customer_id}")
@requires(WRITE)
@operation(
    "Change a customer's name, email or password",
    request=CUSTOMER_CHANGES,
    responses={200: "Changed", 404: "No such customer", 409: "Email in use", 422: "Invalid"},
    tags=TAGS,
)
async def update_customer(request: web.Request) -> web.Response:
    customer_id = path_customer_id(request)
    body = await read_json(request, CUSTOMER_CHANGES)
    change = UpdateCustomer(
        customer_id,
        name=body.get("name"),
        email=body.get("email", UNSET),
        password=body.get("password"),
    )
    return web.json_response(customer_json(await service(request).update_customer(change)))


@routes.post("/customers/{customer_id}/deactivate")
@requires(WRITE)
@operation(
    "Deactivate a customer: its id tokens are blocked, its vehicles stay linked",
    responses={200: "Deactivated (again is fine)", 404: "No such customer"},
    tags=TAGS,
)
async def deactivate_customer(request: web.Request) -> web.Response:
    customer = await service(request).deactivate_customer(path_customer_id(request))
    return web.json_response(customer_json(customer))
