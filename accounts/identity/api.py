"""The issuer's public endpoints: OAuth2 token (RFC 6749), token introspection (RFC 7662), JWKS
and OpenID discovery."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import web

from accounts.identity.keys import ALG, KeyStore
from accounts.identity.scopes import ALL_SCOPES
from accounts.identity.tokens import GRANTS, ClientCredentials, OAuthError, TokenService
from chargepark.auth import public
from chargepark.http.app import MOUNTED_AT
from chargepark.http.openapi import operation

routes = web.RouteTableDef()
TOKENS = web.AppKey("token_service", TokenService)
KEYS = web.AppKey("key_store", KeyStore)

_MAX_FORM_BYTES = 8 * 1024
# RFC 6749 5.1: token responses must not be cached.
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# RFC 6749 5.2: OAuth errors are application/json {error, error_description}, not problems.
_OAUTH_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}


def _oauth(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _OAUTH_ERROR}}}


@routes.post("/auth/token")
@public
@operation(
    "OAuth2 token endpoint: client_credentials, password, refresh_token",
    responses={
        200: "Token",
        400: _oauth("RFC 6749 error"),
        401: _oauth("invalid_client"),
        429: _oauth("Locked"),
    },
    tags=["auth"],
)
async def token(request: web.Request) -> web.Response:
    try:
        form = await _form(request)
        credentials = _client_credentials(request, form)
        ip = request.remote or "unknown"
        body = await request.app[TOKENS].token(form, credentials, ip)
    except OAuthError as exc:
        return _oauth_error(exc)
    return web.json_response(body, headers=_NO_STORE)


@routes.post("/auth/introspect")
@public  # no bearer token: the caller authenticates as an API client (RFC 7662 section 2.1)
@operation(
    "OAuth2 token introspection (RFC 7662): form `token`; the caller authenticates as an API "
    "client with accounts:read (HTTP Basic, or client_id/client_secret in the form). With "
    "`auth_request=1` (nginx's auth_request) an inactive token answers 401 and a refused caller "
    "403, instead of 200 and 401",
    responses={
        200: "{active, scope, client_id, sub, exp, ...}",
        400: _oauth("RFC 6749 error (no token, bad form)"),
        # auth_request=1: an inactive token's introspection answer, with a 401
        401: {
            "description": "invalid_client (auth_request=1: the token is not active)",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        403: _oauth("the client may not introspect (auth_request=1: also a refused caller)"),
        429: _oauth("Locked after repeated failures"),
    },
    tags=["auth"],
)
async def introspect(request: web.Request) -> web.Response:
    for_gateway = False
    try:
        form = await _form(request)
        for_gateway = form.pop("auth_request", "").lower() in ("1", "true")
        form.pop("token_type_hint", None)  # only access tokens are introspected
        credentials = _client_credentials(request, form)
        if credentials is None:
            raise OAuthError("invalid_client", "client authentication is required", 401)
        introspector = request.app[TOKENS].introspector
        caller = await introspector.caller(
            credentials.client_id, credentials.secret, request.remote or "unknown"
        )
        if caller is None:
            raise OAuthError("insufficient_scope", "introspection needs accounts:read", 403)
        token = form.get("token", "")
        if not token:
            raise OAuthError("invalid_request", "token is required")
    except OAuthError as exc:
        if for_gateway and exc.status == 401:
            # The gateway's own credential was refused: a 401 would read as "bad token".
            exc.status = 403
        return _oauth_error(exc)
    body = await introspector.introspect(token)
    # For the gateway an inactive token is a 401 (with no challenge: nginx would pass it on, and
    # the gateway writes its own).
    status = 401 if for_gateway and not body["active"] else 200
    return web.json_response(body, status=status, headers=_NO_STORE)


@routes.get("/.well-known/jwks.json")
@public
@operation("The public keys that verify this issuer's tokens", tags=["auth"])
async def jwks(request: web.Request) -> web.Response:
    keys = await request.app[KEYS].jwks()
    return web.json_response(keys, headers={"Cache-Control": "public, max-age=60"})


@routes.get("/.well-known/openid-configuration")
@public
@operation("OpenID Provider metadata (discovery)", tags=["auth"])
async def discovery(request: web.Request) -> web.Response:
    base = f"{request.scheme}://{request.host}{request.app.get(MOUNTED_AT, '')}"
    return web.json_response(
        {
            "issuer": request.app[TOKENS].issuer,
            "token_endpoint": f"{base}/auth/token",
            "introspection_endpoint": f"{base}/auth/introspect",
            "introspection_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
            ],
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "grant_types_supported": list(GRANTS),
            "scopes_supported": sorted(ALL_SCOPES),
            "response_types_supported": ["token"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "id_token_signing_alg_values_supported": [ALG],
            "subject_types_supported": ["public"],
        }
    )


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type != "application/x-www-form-urlencoded":
        raise OAuthError(
            "invalid_request", "send the parameters as application/x-www-form-urlencoded (RFC 6749)"
        )
    raw = await request.content.read(_MAX_FORM_BYTES + 1)
    if len(raw) > _MAX_FORM_BYTES:
        raise OAuthError("invalid_request", "the request is too large")
    try:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=bool(raw))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError("invalid_request", "the form is malformed") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:  # RFC 6749 3.2: parameters must not be repeated
            raise OAuthError("invalid_request", f"parameter {key!r} is repeated")
        form[key] = value
    return form


def _client_credentials(request: web.Request, form: dict[str, str]) -> ClientCredentials | None:
    header = request.headers.get("Authorization", "")
    in_form = "client_id" in form or "client_secret" in form
    if header:
        if in_form:
            raise OAuthError("invalid_request", "use one client authentication method")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError("invalid_client", "use HTTP Basic client authentication", 401)
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials", 401) from None
        client_id, sep, secret = decoded.partition(":")
        if not sep:
            raise OAuthError("invalid_client", "malformed Basic credentials", 401)
        # RFC 6749 2.3.1: both parts are form-urlencoded before they are joined.
        return ClientCredentials(unquote_plus(client_id), unquote_plus(secret))
    if in_form:
        return ClientCredentials(form.pop("client_id", ""), form.pop("client_secret", ""))
    return None


def _oauth_error(exc: OAuthError) -> web.Response:
    headers = dict(_NO_STORE)
    if exc.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="chargepark"'
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    body = {"error": exc.error, "error_description": exc.description}
    return web.Response(
        status=exc.status, text=json.dumps(body), content_type="application/json", headers=headers
    )
