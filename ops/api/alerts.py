"""Alert rules over REST, a dry run of a rule on recent data, and the incidents rules opened."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from chargepark.auth import requires
from chargepark.clock import isoformat_utc
from chargepark.errors import Invalid
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import TEXT_PARAM, choice_param, int_param, query_int
from ops.api.common import READ, WRITE, alerts, parse_time, query_choice, routes
from ops.api.schemas import RULE, RULE_TEST
from ops.domain import RuleSpec

TAGS = ["alerts"]
RULE_ROUTE = "ops-alert-rule"
DEFAULT_TEST_PERIOD = timedelta(hours=24)
MAX_TEST_PERIOD = timedelta(days=31)


@routes.get("/alerts/rules")
@requires(READ)
@operation("Every alert rule", tags=TAGS)
async def list_rules(request: web.Request) -> web.Response:
    return web.json_response({"items": await alerts(request).rules()})


@routes.post("/alerts/rules")
@requires(WRITE)
@operation(
    "Create an alert rule: kind (charger_faulted, charger_offline, occupancy_high, bay_idle, "
    "invoice_unpaid, site_over_limit, charger_over_limit, smart_charging_refused), window_sec "
    "the condition must hold for, severity; filters charger_id (charger rules) or lot_id "
    "(occupancy and energy rules: a site's id is its lot's); threshold_percent and ev_only for "
    "occupancy; tolerance_amps for the over-limit rules",
    request=RULE,
    responses={201: "Created", 422: "Invalid"},
    tags=TAGS,
)
async def create_rule(request: web.Request) -> web.Response:
    spec = RuleSpec.of(await read_json(request, RULE))
    rule = await alerts(request).create_rule(spec)
    location = request.app.router[RULE_ROUTE].url_for(rule_id=rule["id"])
    return web.json_response(rule, status=201, headers={"Location": str(location)})


@routes.get("/alerts/rules/{rule_id}", name=RULE_ROUTE)
@requires(READ)
@operation("An alert rule", responses={200: "OK", 404: "No such rule"}, tags=TAGS)
async def get_rule(request: web.Request) -> web.Response:
    return web.json_response(await alerts(request).rule(request.match_info["rule_id"]))


@routes.put("/alerts/rules/{rule_id}")
@requires(WRITE)
@operation(
    "Replace an alert rule's definition (enabled false: its open incidents are resolved)",
    request=RULE,
    responses={200: "Replaced", 404: "No such rule", 422: "Invalid"},
    tags=TAGS,
)
async def put_rule(request: web.Request) -> web.Response:
    spec = RuleSpec.of(await read_json(request, RULE))
    rule = await alerts(request).replace_rule(request.match_info["rule_id"], spec)
    return web.json_response(rule)


@routes.delete("/alerts/rules/{rule_id}")
@requires(WRITE)
@operation(
    "Delete an alert rule; its open incidents are resolved, its incidents kept",
    responses={204: "Deleted", 404: "No such rule"},
    tags=TAGS,
)
async def delete_rule(request: web.Request) -> web.Response:
    await alerts(request).delete_rule(request.match_info["rule_id"])
    return web.Response(status=204)


@routes.post("/alerts/test")
@requires(READ)
@operation(
    "Evaluate a rule definition on the data since `from` (default 24 h ago) without saving it: "
    "whether it would have fired, and when (per subject: since, fired_at, cleared_at)",
    request=RULE_TEST,
    responses={200: "OK", 422: "Invalid rule or time"},
    tags=TAGS,
)
async def test_rule(request: web.Request) -> web.Response:
    body = await read_json(request, RULE_TEST)
    spec = RuleSpec.of(body["rule"])
    service = alerts(request)
    now = service.clock.now()
    since = parse_time(body["from"], "from") if "from" in body else now - DEFAULT_TEST_PERIOD
    if since >= now or now - since > MAX_TEST_PERIOD:
        raise Invalid("from must be in the past, at most 31 days ago")
    found = await service.test_rule(spec, since)
    return web.json_response(
        {
            "rule": spec.as_json(),
            "from": isoformat_utc(since),
            "to": isoformat_utc(now),
            "would_fire": bool(found),
            "firing_now": any(f.active for f in found),
            "firings": [
                {
                    "subject": f.subject,
                    "since": isoformat_utc(f.since),
                    "fired_at": isoformat_utc(f.fired_at),
                    "cleared_at": None if f.cleared_at is None else isoformat_utc(f.cleared_at),
                    "detail": f.detail,
                }
                for f in found
            ],
        }
    )


@routes.get("/incidents")
@requires(READ)
@operation(
    "Incidents, newest first: state=open|resolved, rule_id, limit (default 100)",
    responses={200: "OK", 422: "Bad filter"},
    tags=TAGS,
    query={
        "state": choice_param(("open", "resolved")),
        "rule_id": TEXT_PARAM,
        "limit": int_param(1, 1000),
    },
)
async def list_incidents(request: web.Request) -> web.Response:
    state = query_choice(request, "state", ("open", "resolved"))
    limit = query_int(request, "limit", 100, low=1, high=1000)
    items = await alerts(request).incidents(state, request.query.get("rule_id"), limit)
    return web.json_response({"items": items})


@routes.get("/incidents/{incident_id}")
@requires(READ)
@operation(
    "An incident with its webhook deliveries",
    responses={200: "OK", 404: "No such incident"},
    tags=TAGS,
)
async def get_incident(request: web.Request) -> web.Response:
    return web.json_response(await alerts(request).incident(request.match_info["incident_id"]))
