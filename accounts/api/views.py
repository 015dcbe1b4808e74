"""The JSON each resource answers with. A password hash has no field here, by design."""

from __future__ import annotations

from typing import Any

from accounts.api.common import iso
from accounts.domain import Customer, Vehicle
from accounts.service import CustomerPage, IdTokenInfo


def customer_json(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.id,
        "name": customer.name,
        "email": customer.email,
        "status": customer.status.value,
        "created_at": iso(customer.created_at),
        "updated_at": iso(customer.updated_at),
    }


def page_json(page: CustomerPage) -> dict[str, Any]:
    return {
        "items": [customer_json(c) for c in page.items],
        "total": page.total,
        "limit": page.limit,
        "offset": page.offset,
    }


def vehicle_json(vehicle: Vehicle) -> dict[str, Any]:
    return {**owner_json(vehicle), "linked_at": iso(vehicle.linked_at)}


def owner_json(vehicle: Vehicle) -> dict[str, Any]:
    return {
        "regnum": vehicle.regnum,
        "kind": vehicle.kind.value,
        "fuel": vehicle.fuel.value,
        "customer_id": vehicle.customer_id,
    }


def id_token_json(info: IdTokenInfo) -> dict[str, Any]:
    return {
        "id_token": info.id_token,
        "type": info.type.value,
        "status": info.status.value,
        "expires_at": iso(info.expires_at),
        "customer_id": info.customer_id,
    }
