"""Invoices over REST (the seed API): manual drafts and their lines, capture, read and list."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from billing.api.common import READ, WRITE, customer_of, iso, query_time, routes, service
from billing.api.schemas import LINES, NEW_INVOICE
from billing.domain.invoices import InvoiceStatus, UnknownInvoice
from billing.domain.invoices.views import InvoiceSummary, InvoiceView
from billing.domain.pricing import Line, LineKind
from chargepark.auth import requires
from chargepark.errors import Invalid
from chargepark.http.body import read_json
from chargepark.http.openapi import operation
from chargepark.http.query import TIME_PARAM, choice_param, int_param, query_int

TAGS = ["invoices"]
INVOICE_ROUTE = "billing-invoice"
STATUSES = tuple(s.value for s in InvoiceStatus)


@routes.post("/invoices")
@requires(WRITE)
@operation(
    "Create a draft invoice for a customer (null: the anonymous account), with optional lines",
    request=NEW_INVOICE,
    responses={201: "Created: {invoice_id}", 422: "Invalid"},
    tags=TAGS,
)
async def create_invoice(request: web.Request) -> web.Response:
    body = await read_json(request, NEW_INVOICE)
    tax = body.get("tax_percent")
    rate = None if tax is None else Decimal(str(tax))
    if rate is not None and rate > 100:
        raise Invalid("tax_percent must be from 0 to 100")
    invoice_id = await service(request).create_draft(
        body["customer_id"],
        lines_of(body.get("lines", [])),
        currency=body.get("currency"),
        tax_percent=rate,
    )
    location = request.app.router[INVOICE_ROUTE].url_for(invoice_id=invoice_id)
    return web.json_response(
        {"invoice_id": invoice_id}, status=201, headers={"Location": str(location)}
    )


@routes.post("/invoices/{invoice_id}/lines")
@requires(WRITE)
@operation(
    "Add manual adjustment lines (negative: a credit) while the invoice is a draft",
    request=LINES,
    responses={200: "The invoice", 404: "No such invoice", 409: "Not a draft", 422: "Invalid"},
    tags=TAGS,
)
async def add_lines(request: web.Request) -> web.Response:
    body = await read_json(request, LINES)
    inv = await service(request).add_lines(
        request.match_info["invoice_id"], lines_of(body["lines"])
    )
    return web.json_response(invoice_json(inv))


@routes.post("/invoices/{invoice_id}/capture")
@requires(WRITE)
@operation(
    "Finalize (a draft becomes open, InvoiceIssued) and collect now, for the anonymous account "
    "too (pay at exit); answers the status after the attempt",
    responses={
        200: "{status}",
        404: "No such invoice",
        409: "Void, or a negative total",
    },
    tags=TAGS,
)
async def capture(request: web.Request) -> web.Response:
    status = await service(request).capture(request.match_info["invoice_id"])
    return web.json_response({"status": str(status)})


@routes.get("/invoices/{invoice_id}", name=INVOICE_ROUTE)
@requires(READ)
@operation(
    "An invoice: lines, totals, tax, status, provider ids and payment attempts",
    responses={200: "OK", 404: "No such invoice (or not the customer's own)"},
    tags=TAGS,
)
async def get_invoice(request: web.Request) -> web.Response:
    invoice_id = request.match_info["invoice_id"]
    inv = await service(request).invoice(invoice_id)
    customer = customer_of(request)
    if customer is not None and inv["customer_id"] != customer:
        raise UnknownInvoice(invoice_id)
    return web.json_response(invoice_json(inv))


@routes.get("/invoices")
@requires(READ)
@operation(
    "Invoices, oldest first, by customer_id, status and from <= created < to; a page of "
    "`limit` after `after` (the answer's `next_after`). A customer's token lists its own",
    responses={200: "OK", 422: "Bad filter"},
    tags=TAGS,
    query={
        "customer_id": {"type": "string", "minLength": 1, "maxLength": 128},
        "status": choice_param(STATUSES),
        "from": TIME_PARAM,
        "to": TIME_PARAM,
        "limit": int_param(1, 1000),
        "after": int_param(0),
    },
)
async def list_invoices(request: web.Request) -> web.Response:
    limit = query_int(request, "limit", 100, low=1, high=1000)
    after = query_int(request, "after", 0)
    status = request.query.get("status")
    if status is not None and status not in STATUSES:
        raise Invalid(f"status must be one of {', '.join(STATUSES)}")
    since, until = query_time(request, "from"), query_time(request, "to")
    if since is not None and until is not None and until < since:
        raise Invalid("to is before from")
    customer_id = customer_of(request) or request.query.get("customer_id")
    if customer_id is not None and not 0 < len(customer_id) <= 128:
        raise Invalid("customer_id must be 1 to 128 characters")
    rows = await service(request).invoices(
        customer_id=customer_id, status=status, since=since, until=until, after=after, limit=limit
    )
    return web.json_response(
        {
            "items": [summary_json(r) for r in rows],
            "next_after": rows[-1]["seq"] if len(rows) == limit else None,
        }
    )


def lines_of(raw: list[dict[str, Any]]) -> list[Line]:
    return [
        Line(
            LineKind(item.get("kind", "ADJUSTMENT")),
            item["description"],
            item["amount_minor"],
            item.get("quantity_note"),
        )
        for item in raw
    ]


def summary_json(inv: InvoiceSummary) -> dict[str, Any]:
    return {
        "id": inv["id"],
        "visit_id": inv["visit_id"],
        "customer_id": inv["customer_id"],
        "status": inv["status"],
        "currency": inv["currency"],
        "net_minor": inv["net_minor"],
        "tax_minor": inv["tax_minor"],
        "total_minor": inv["total_minor"],
        "provider": inv["provider"],
        "created_at": iso(inv["created_at"]),
        "issued_at": iso(inv["issued_at"]),
        "paid_at": iso(inv["paid_at"]),
    }


def invoice_json(inv: InvoiceView) -> dict[str, Any]:
    return {
        **summary_json(inv),
        "tax_percent": inv["tax_percent"],
        "note": inv["note"],
        "anonymous": inv["customer_id"] is None,
        "charge_automatically": bool(inv["charge_automatically"]),
        "provider_customer_id": inv["provider_customer_id"],
        "provider_invoice_id": inv["provider_invoice_id"],
        "hosted_url": inv["hosted_url"],
        "amount_paid_minor": inv["amount_paid_minor"],
        "declines": inv["declines"],
        "next_attempt_at": iso(inv["next_attempt_at"]),
        "last_error": inv["last_error"],
        "lines": [
            {
                "line_no": line["line_no"],
                "kind": line["kind"],
                "description": line["description"],
                "amount_minor": line["amount_minor"],
                "quantity_note": line["quantity_note"],
                "session_id": line["session_id"],
            }
            for line in inv["lines"]
        ],
        "payment_attempts": [
            {
                "attempt": a["attempt"],
                "source": a["source"],
                "status": a["status"],
                "provider_ref": a["provider_ref"],
                "failure_code": a["failure_code"],
                "failure_message": a["failure_message"],
                "amount_minor": a["amount_minor"],
                "at": iso(a["at"]),
            }
            for a in inv["payment_attempts"]
        ],
    }
