"""The evaluation of alert rules into incidents.

An evaluation of a rule looks at the facts since its previous evaluation (and whatever state
they started in), finds when its condition held for longer than its window (ops.domain), and
reconciles that with the rule's incidents in one unit of work:

- a condition that holds now opens an incident unless one is open for that rule and subject
  (the store keeps one open incident per rule and subject across processes too): no storms;
- an open incident whose condition no longer holds is resolved;
- a condition that fired and cleared between two evaluations still gets its incident, opened
  and resolved at once, unless an incident of that rule and subject already covers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from chargepark.clock import Clock
from ops import domain
from ops.domain.alerts import Incident, Rule, UnknownRule
from ops.domain.rules import Firing, RuleSpec
from ops.ports import AlertReads, OpsUnitOfWork, RuleFacts
from ops.services.incidents import IncidentLog

log = logging.getLogger("ops.alerts")

# After a long pause (the service was down) an evaluation looks back at most this far for
# conditions that fired and cleared meanwhile.
MAX_CATCH_UP = timedelta(days=1)


class RuleEvaluation:
    def __init__(
        self,
        uow: Callable[[], OpsUnitOfWork],
        reads: AlertReads,
        facts: RuleFacts,
        incidents: IncidentLog,
        clock: Clock,
    ) -> None:
        self.uow = uow
        self.reads = reads
        self.facts = facts
        self.incidents = incidents
        self.clock = clock

    async def test_rule(self, spec: RuleSpec, since: datetime) -> list[Firing]:
        """When the rule would have fired (and cleared) from `since` until now; nothing saved."""
        now = self.clock.now()
        data = await self.facts.rule_data(spec, since, now)
        return [
            f
            for f in domain.evaluate(spec, data, now)
            if f.cleared_at is None or f.cleared_at > since
        ]

    async def evaluate_all(self) -> int:
        """Evaluates every enabled rule; returns how many incidents opened or resolved."""
        changed = 0
        for rule_id in await self.reads.enabled_rule_ids():
            try:
                changed += await self.evaluate(rule_id)
            except Exception:  # one rule's trouble must not keep the others from running
                log.exception("alert rule evaluation failed", extra={"rule_id": rule_id})
        return changed

    async def evaluate(self, rule_id: str) -> int:
        now = self.clock.now()
        # The facts are read before the unit of work: on SQLite every transaction takes the
        # write lock, and the reads use connections of their own.
        seen = await self.reads.rule(rule_id)
        if seen is None or not seen.spec.enabled:
            return 0
        since = max(seen.evaluated_at, now - MAX_CATCH_UP)
        data = await self.facts.rule_data(seen.spec, since, now)
        found = domain.evaluate(seen.spec, data, now)
        async with self.uow() as uow:
            try:
                rule = await uow.rules.locked(rule_id)
            except UnknownRule:
                return 0  # deleted meanwhile
            if rule.evaluated_at != seen.evaluated_at or rule.updated_at != seen.updated_at:
                return 0  # evaluated or changed meanwhile: the next run starts from there
            changed = await self._reconcile(uow, seen, found, since, now)
            await uow.rules.evaluated(rule_id, now)
            await uow.commit()
        return changed

    async def _reconcile(
        self,
        uow: OpsUnitOfWork,
        rule: Rule,
        found: list[Firing],
        since: datetime,
        now: datetime,
    ) -> int:
        """Opens and resolves the rule's incidents to match what was found; how many changed."""
        changed = 0
        still_open: dict[str, Incident] = {
            i.subject: i for i in await uow.incidents.open_of(rule.id)
        }
        for firing in found:
            if firing.active:
                if firing.subject not in still_open:
                    still_open[firing.subject] = await self.incidents.open(uow, rule, firing, now)
                    changed += 1
                continue
            assert firing.cleared_at is not None
            if firing.cleared_at <= since:
                continue  # an earlier evaluation saw it clear
            current = still_open.get(firing.subject)
            if current is not None and current.condition_since <= firing.cleared_at:
                await self.incidents.resolve(uow, current, now, firing.cleared_at)
                del still_open[firing.subject]
                changed += 1
            elif not await uow.incidents.covers(
                rule.id, firing.subject, firing.since, firing.cleared_at
            ):
                # stored as resolved: an incident of a newer condition may be open
                await self.incidents.open(uow, rule, firing, now, cleared_at=firing.cleared_at)
                changed += 2
        active = {f.subject for f in found if f.active}
        for subject, incident in still_open.items():
            if subject not in active:
                await self.incidents.resolve(uow, incident, now, now)
                changed += 1
        return changed
