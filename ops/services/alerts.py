"""The alert use cases behind one object, as the REST API and the alert job see them: rules
(ops.services.rules), their evaluation (ops.services.evaluation), the incidents they open
(ops.services.incidents) and the webhook deliveries (ops.services.deliveries)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chargepark.clock import Clock
from ops.domain.rules import Firing, RuleSpec
from ops.ports import AlertReads, OpsUnitOfWork, RuleFacts, WebhookSender
from ops.services.deliveries import WebhookDeliveries
from ops.services.evaluation import RuleEvaluation
from ops.services.incidents import IncidentLog
from ops.services.rules import AlertRules


class AlertService:
    def __init__(
        self,
        uow: Callable[[], OpsUnitOfWork],
        reads: AlertReads,
        facts: RuleFacts,
        sender: WebhookSender,
        clock: Clock,
        *,
        webhook_url: str | None = None,
        max_attempts: int = 12,
        retry_base_sec: float = 5.0,
        retry_max_sec: float = 600.0,
    ) -> None:
        self.clock = clock
        self.log = IncidentLog(reads, webhook_url)
        self.rules_ = AlertRules(uow, reads, self.log, clock)
        self.evaluation = RuleEvaluation(uow, reads, facts, self.log, clock)
        self.deliveries = WebhookDeliveries(
            uow,
            reads,
            sender,
            clock,
            max_attempts=max_attempts,
            retry_base_sec=retry_base_sec,
            retry_max_sec=retry_max_sec,
        )

    # --- rules --------------------------------------------------------------------------------

    async def create_rule(self, spec: RuleSpec) -> dict[str, Any]:
        return await self.rules_.create_rule(spec)

    async def rules(self) -> list[dict[str, Any]]:
        return await self.rules_.rules()

    async def rule(self, rule_id: str) -> dict[str, Any]:
        return await self.rules_.rule(rule_id)

    async def replace_rule(self, rule_id: str, spec: RuleSpec) -> dict[str, Any]:
        return await self.rules_.replace_rule(rule_id, spec)

    async def delete_rule(self, rule_id: str) -> None:
        await self.rules_.delete_rule(rule_id)

    # --- evaluation ---------------------------------------------------------------------------

    async def test_rule(self, spec: RuleSpec, since: datetime) -> list[Firing]:
        return await self.evaluation.test_rule(spec, since)

    async def evaluate_all(self) -> int:
        return await self.evaluation.evaluate_all()

    async def evaluate(self, rule_id: str) -> int:
        return await self.evaluation.evaluate(rule_id)

    # --- incidents ----------------------------------------------------------------------------

    async def incidents(
        self, state: str | None, rule_id: str | None, limit: int
    ) -> list[dict[str, Any]]:
        return await self.log.incidents(state, rule_id, limit)

    async def incident(self, incident_id: str) -> dict[str, Any]:
        return await self.log.incident(incident_id)

    # --- webhook deliveries -------------------------------------------------------------------

    def backoff(self, attempts: int) -> timedelta:
        return self.deliveries.backoff(attempts)

    async def deliver_due(self) -> int:
        return await self.deliveries.deliver_due()

    async def close(self) -> None:
        await self.deliveries.close()
