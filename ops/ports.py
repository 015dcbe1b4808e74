"""What ops' use cases need from the world: storage (read inside a unit of work, or on their own
connections outside one), and the webhook receiver. The SQL adapters (ops.adapters) and the
webhook sender implement them; the tests' in-memory fakes (tests/support/fakes/ops.py) do too."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from chargepark.clock import Clock
from chargepark.ports import Transaction
from ops.domain import RuleData, RuleSpec
from ops.domain.alerts import Delivery, Incident, Rule
from ops.domain.capacity import SlotCount
from ops.domain.energy import ChargerLoad, Refusal, SiteLoad
from ops.domain.facts import InvoiceFact, Reading, SessionFact, StatusFact, StayFact

# --- inside a unit of work --------------------------------------------------------------------


class RuleRepository(Protocol):
    async def add(self, rule: Rule) -> None: ...

    async def locked(self, rule_id: str) -> Rule:
        """The rule, locked until the unit of work ends (one process evaluates or changes a
        rule at a time); raises UnknownRule."""

    async def save(self, rule: Rule) -> None:
        """Its definition and times."""

    async def evaluated(self, rule_id: str, at: datetime) -> None: ...

    async def remove(self, rule_id: str) -> None: ...


class IncidentRepository(Protocol):
    async def open_of(self, rule_id: str) -> list[Incident]: ...

    async def add(self, incident: Incident) -> None:
        """At most one open incident per rule and subject: adding a second one fails."""

    async def resolve(
        self, incident_id: str, cleared_at: datetime | None, resolved_at: datetime
    ) -> None: ...

    async def covers(
        self, rule_id: str, subject: str, since: datetime, cleared_at: datetime
    ) -> bool:
        """An incident of this rule and subject already spans [since, cleared_at]."""


class DeliveryRepository(Protocol):
    async def add(self, delivery: Delivery) -> None: ...

    async def claim(self, delivery: Delivery, until: datetime) -> bool:
        """Moves a pending delivery's next attempt to `until` if nobody changed it since it was
        read; False when another process did (it is that one's to send)."""

    async def save(self, delivery: Delivery) -> None:
        """Its state, attempts, next attempt, last error and delivery time."""


class FactStore(Protocol):
    """Ingestion's writes, each keyed so that a late or repeated fact lands where it belongs."""

    async def stay_arrived(self, stay: StayFact) -> None:
        """A leave that came first made the stay already: only its level, regnum and kind of
        slot are filled in."""

    async def stay_left(self, stay: StayFact) -> None:
        """Sets left_at (the stay is made if its park has not arrived)."""

    async def status_changed(self, change: StatusFact) -> None:
        """Appends the change; the connector's current status becomes it if it is newer."""

    async def session_started(self, session: SessionFact) -> None:
        """Its start and meter start; a close that came first stays closed."""

    async def session_closed(self, session: SessionFact) -> None:
        """Its end and energy; the rest as the start (or this close) gave it."""

    async def session(self, session_id: str) -> SessionFact: ...

    async def add_readings(self, readings: list[Reading]) -> None:
        """One per EVSE and time: a reading already kept stays as it is."""

    async def seen(self, last_seen: Mapping[str, datetime]) -> None:
        """Each charger's last_seen, where it is newer."""

    async def invoice(self, invoice_id: str) -> InvoiceFact | None: ...

    async def invoice_issued(
        self, invoice_id: str, currency: str, total: int, at: datetime
    ) -> None:
        """Sets its total and issue time (the invoice is made if needed)."""

    async def invoice_paid(self, invoice_id: str, currency: str, amount: int, at: datetime) -> None:
        """Sets its paid amount and payment time (the invoice is made if needed)."""

    async def add_total(self, name: str, currency: str, value: int) -> None: ...

    async def site_load(self, site: SiteLoad, chargers: list[ChargerLoad]) -> None:
        """Keeps a site's report and its chargers' lines (a repeat changes nothing); the
        site's newest report time moves to it if it is newer."""

    async def smart_charging_refused(self, refusal: Refusal) -> None:
        """Keeps the refusal (one per charger and time)."""


class CapacityRepository(Protocol):
    async def replace(self, lot_id: str, counts: list[SlotCount], now: datetime) -> None: ...


class OpsUnitOfWork(Transaction, Protocol):
    @property
    def rules(self) -> RuleRepository: ...

    @property
    def incidents(self) -> IncidentRepository: ...

    @property
    def deliveries(self) -> DeliveryRepository: ...

    @property
    def facts(self) -> FactStore: ...

    @property
    def capacities(self) -> CapacityRepository: ...

    def emit(self, event: Mapping[str, Any]) -> Mapping[str, Any]:
        """Queues an event for the outbox (written at commit) and returns it as it will go."""


# --- outside a unit of work (reads on connections of their own) -------------------------------


class AlertReads(Protocol):
    async def rules(self) -> list[Rule]:
        """Every rule, oldest first."""

    async def rule(self, rule_id: str) -> Rule | None: ...

    async def enabled_rule_ids(self) -> list[str]: ...

    async def incidents(self, state: str | None, rule_id: str | None, limit: int) -> list[Incident]:
        """Newest opened first."""

    async def incident(self, incident_id: str) -> Incident | None: ...

    async def deliveries_of(self, incident_id: str) -> list[Delivery]:
        """In the order they were queued."""

    async def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due by `now`, in order, none of an incident while an earlier one
        of it is pending."""


class RuleFacts(Protocol):
    async def rule_data(self, spec: RuleSpec, since: datetime, now: datetime) -> RuleData:
        """The facts of [since, now] a rule of this kind is evaluated on."""


class MetricsReads(RuleFacts, Protocol):
    """What the metrics routes and the Prometheus gauges read."""

    clock: Clock

    async def occupancy_now(self, lot_id: str | None = None) -> list[dict[str, Any]]: ...

    async def occupancy_series(
        self,
        lot_id: str,
        since: datetime,
        until: datetime,
        bucket_sec: int,
        *,
        level: str | None = None,
        ev: bool | None = None,
    ) -> dict[str, Any]: ...

    async def charger_metrics(
        self, charger_id: str, since: datetime, until: datetime
    ) -> dict[str, Any]: ...

    async def summary(self) -> dict[str, Any]: ...

    async def sites_now(self, site_id: str | None = None) -> list[dict[str, Any]]:
        """Each site's newest report (with its chargers' lines), by site id."""

    async def site_series(
        self, site_id: str, since: datetime, until: datetime, bucket_sec: int
    ) -> dict[str, Any]:
        """A site's reports over [since, until) per bucket, and its chargers'."""

    async def gauges(self) -> dict[str, Any]: ...


# --- outside services -------------------------------------------------------------------------


class WebhookSender(Protocol):
    async def send(self, url: str, body: str, headers: dict[str, str]) -> tuple[bool, str]:
        """POSTs `body` (JSON); (True, outcome) when the receiver answered 2xx."""

    async def close(self) -> None: ...
