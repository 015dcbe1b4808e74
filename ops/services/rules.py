"""Alert rules: defined, redefined and deleted over REST; a change of definition settles the
rule's open incidents."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from chargepark.clock import Clock
from ops.domain.alerts import Rule, UnknownRule
from ops.domain.rules import RuleSpec
from ops.ports import AlertReads, OpsUnitOfWork
from ops.services.incidents import IncidentLog


class AlertRules:
    def __init__(
        self,
        uow: Callable[[], OpsUnitOfWork],
        reads: AlertReads,
        incidents: IncidentLog,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.reads = reads
        self.incidents = incidents
        self.clock = clock

    async def create_rule(self, spec: RuleSpec) -> dict[str, Any]:
        rule = Rule.new(str(uuid.uuid4()), spec, self.clock.now())
        async with self.uow() as uow:
            await uow.rules.add(rule)
            await uow.commit()
        return rule.as_json()

    async def rules(self) -> list[dict[str, Any]]:
        return [r.as_json() for r in await self.reads.rules()]

    async def rule(self, rule_id: str) -> dict[str, Any]:
        found = await self.reads.rule(rule_id)
        if found is None:
            raise UnknownRule(rule_id)
        return found.as_json()

    async def replace_rule(self, rule_id: str, spec: RuleSpec) -> dict[str, Any]:
        """A new definition: its open incidents stay open while the new condition still holds
        for them, and are resolved at the next evaluation when it does not."""
        now = self.clock.now()
        async with self.uow() as uow:
            rule = (await uow.rules.locked(rule_id)).redefined(spec, now)
            await uow.rules.save(rule)
            if not spec.enabled:
                await self.incidents.resolve_open(uow, rule_id, now, None, "rule disabled")
            await uow.commit()
        return rule.as_json()

    async def delete_rule(self, rule_id: str) -> None:
        """Deletes the rule; its open incidents are resolved (and kept, as are the others)."""
        now = self.clock.now()
        async with self.uow() as uow:
            await uow.rules.locked(rule_id)
            await self.incidents.resolve_open(uow, rule_id, now, None, "rule deleted")
            await uow.rules.remove(rule_id)
            await uow.commit()
