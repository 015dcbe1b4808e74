"""Id tokens (RFID cards, eMAIDs, app tokens): issue, change, list, and the lookup csms makes
when a charger presents one.

A customer's own token may list its id tokens and block one (a lost card); issuing and any other
change are for operators, so a customer cannot unblock what an operator blocked.
"""

from __future__ import annotations

from aiohttp import web

from accounts.api.common import (
    READ,
    WRITE,
    Forbidden,
    caller_customer_id,
    operators_only,
    optional_time,
    path_customer_id,
    routes,
    service,
)
from accounts.api.schemas import ID_TOKEN_CHANGES, NEW_ID_TOKEN
from accounts.api.views import id_token_json
from accounts.domain import IdTokenStatus, IdTokenType, UnknownIdToken
from accounts.service import UNSET, IssueIdToken, UpdateIdToken
from chargepark.auth import requires
from chargepark.http.body import read_json
from chargepark.http.openapi import operation

TAGS = ["id tokens"]


@routes.post("/customers/{customer_id}/id-tokens")
@requires(WRITE)
@operation(
    "Issue an id token to a customer (operators)",
    request=NEW_ID_TOKEN,
    responses={
        201: "Issued",
        404: "No such customer",
        409: "Token already issued, or the customer is deactivated",
        422: "Invalid",
    },
    tags=TAGS,
)
async def issue_id_token(request: web.Request) -> web.Response:
    customer_id = path_customer_id(request)
    operators_only(request, "issue id tokens")
    body = await read_json(request, NEW_ID_TOKEN)
    issue = IssueIdToken(
        customer_id=customer_id,
        token=body["id_token"],
        type=IdTokenType(body["type"]),
        status=IdTokenStatus(body.get("status", IdTokenStatus.ACCEPTED)),
        expires_at=optional_time(body.get("expires_at")),
    )
    info = await service(request).issue_id_token(issue)
    return web.json_response(id_token_json(info), status=201)


@routes.get("/customers/{customer_id}/id-tokens")
@requires(READ)
@operation("A customer's id tokens", responses={200: "OK", 404: "No such customer"}, tags=TAGS)
async def list_id_tokens(request: web.Request) -> web.Response:
    infos = await service(request).list_id_tokens(path_customer_id(request))
    return web.json_response({"items": [id_token_json(i) for i in infos]})


@routes.patch("/customers/{customer_id}/id-tokens/{token}")
@requires(WRITE)
@operation(
    "Change an id token's status or expiry (a customer may only block its own)",
    request=ID_TOKEN_CHANGES,
    responses={200: "Changed", 404: "Not this customer's token", 409: "Customer deactivated"},
    tags=TAGS,
)
async def update_id_token(request: web.Request) -> web.Response:
    customer_id = path_customer_id(request)
    body = await read_json(request, ID_TOKEN_CHANGES)
    if caller_customer_id(request) is not None and body != {"status": "Blocked"}:
        raise Forbidden("a customer's token can only block its id tokens")
    change = UpdateIdToken(
        customer_id,
        request.match_info["token"],
        IdTokenStatus(body["status"]) if "status" in body else None,
        optional_time(body["expires_at"]) if "expires_at" in body else UNSET,
    )
    return web.json_response(id_token_json(await service(request).update_id_token(change)))


@routes.get("/id-tokens/{token}")
@requires(READ)
@operation(
    "An id token's status now, as a charger should treat it (a customer's token: its own only)",
    responses={200: "OK", 404: "No such id token"},
    tags=TAGS,
)
async def lookup_id_token(request: web.Request) -> web.Response:
    token = request.match_info["token"]
    info = await service(request).lookup_id_token(token)
    own = caller_customer_id(request)
    if own is not None and info.customer_id != own:
        raise UnknownIdToken(token)
    return web.json_response(id_token_json(info))
