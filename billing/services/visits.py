"""Events in: the facts visits are made of, applied inside the billing consumer's unit of work.

A stay (VehicleParked, VehicleLeft) or a session (ChargingSessionStarted, Closed) is merged
with what billing already knows of it, and the sessions are put in the visit the facts say they
belong to (billing/domain/visits.py has the rules). A session whose visit was invoiced before
its close arrived is billed its energy on an invoice of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from billing.domain.invoices import Invoice
from billing.domain.pricing import late_energy_line
from billing.domain.tariff import tariff_chooser
from billing.domain.visits import (
    Placement,
    SessionFact,
    StayFact,
    Visit,
    merge_session,
    merge_stay,
    place,
    session_visit_id,
)
from billing.ports import OPEN, BillingUnitOfWork

log = logging.getLogger(__name__)


async def apply_stay(uow: BillingUnitOfWork, fact: StayFact) -> None:
    """Load the stay and the sessions it may claim, decide where each belongs, save."""
    now = uow.clock.now()
    existing = await uow.visits.get_stay(fact.key, for_update=True)
    if existing is not None and existing[1] != OPEN:
        return  # invoiced: a repeat of what it was built from
    merged = merge_stay(existing[0] if existing else None, fact)
    bays = [merged.bay] if merged.bay is not None else []
    sessions = await uow.visits.movable_sessions_near([merged.key.regnum], bays)
    stays = await _stays_near(uow, [s.fact for s in sessions])
    stays = [s for s in stays if s.visit_id != merged.visit_id] + [merged]
    plan = place([(s.fact, s.visit_id) for s in sessions], stays)
    await uow.visits.put_stay(merged, now, new=existing is None)
    moved = await _carry_out(uow, plan, now)
    await uow.visits.touch_visits({merged.visit_id, *moved}, now)


async def apply_session(uow: BillingUnitOfWork, fact: SessionFact) -> None:
    """Load the session and the stays it may belong to, decide where it belongs, save."""
    now = uow.clock.now()
    stored = await uow.visits.get_session(fact.session_id)
    merged = merge_session(stored.fact if stored else None, fact)
    if stored is not None and stored.frozen:
        # Billed already (its visit timed out before this event): kept for the record, and a
        # close that brings the energy is billed on an invoice of its own.
        await uow.visits.put_session(merged, stored.visit_id, now, new=False)
        if merged.closed and not stored.fact.closed:
            await _bill_late_close(uow, stored.visit_id, merged, now)
        else:
            log.warning("event for a session already billed", extra={"session_id": fact.session_id})
        return
    current = stored.visit_id if stored else session_visit_id(merged.session_id)
    plan = place([(merged, current)], await _stays_near(uow, [merged]))
    await uow.visits.put_session(merged, current, now, new=stored is None)
    if stored is None:
        await uow.visits.ensure_session_visit(current, merged, now)
    moved = await _carry_out(uow, plan, now)
    await uow.visits.touch_visits({current, *moved}, now)


async def _bill_late_close(
    uow: BillingUnitOfWork, visit_id: str, session: SessionFact, now: datetime
) -> None:
    """A session invoiced while open (its visit's timeout: session fee, 0 kWh) that has closed
    since: its energy goes on an invoice of its own, to whoever the visit's invoice went to.
    Once only: the session is now stored closed, so a repeat of the close bills nothing."""
    visit = await uow.visits.get(visit_id)
    billed_in = visit.invoice_id if visit is not None and visit.invoice_id else visit_id
    first = await uow.invoices.get(billed_in)
    tariff = tariff_chooser(await uow.tariffs.all())(session.tariff_id, session.started_at)
    where = f"charger {session.charger_id} EVSE {session.evse_id}"
    line = late_energy_line(tariff, session.session_id, session.kwh or Decimal(0), where, billed_in)
    if line.amount_minor == 0:
        log.info("late close with no energy to bill", extra={"session_id": session.session_id})
        return
    # The visit has its invoice; this one completes it.
    invoice = Invoice.for_late_energy(
        line,
        first.customer_id if first is not None else None,
        tariff,
        f"energy of session {session.session_id}, closed after {billed_in}",
        now,
    )
    await uow.invoices.add(invoice)
    for event in invoice.pull_events():
        uow.emit(event)
    log.info(
        "late session close invoiced",
        extra={"session_id": session.session_id, "invoice_id": invoice.id, "after": billed_in},
    )


async def _stays_near(uow: BillingUnitOfWork, sessions: Sequence[SessionFact]) -> list[StayFact]:
    """The open stays any of `sessions` may belong to (by regnum or by bay)."""
    if not sessions:
        return []
    regnums = {s.regnum for s in sessions if s.regnum}
    return await uow.visits.open_stays_near(regnums, {s.bay for s in sessions})


async def _carry_out(uow: BillingUnitOfWork, plan: Sequence[Placement], now: datetime) -> set[str]:
    """Put each session where `plan` says it belongs; returns the visits touched. A stay
    invoiced since it was read is passed by for the next one (or the session's own visit)."""
    touched: set[str] = set()
    for p in plan:
        target = p.own_visit
        for stay_visit in p.stays:
            if await uow.visits.lock_open_visit(stay_visit):
                target = stay_visit
                break
        if target == p.current:
            continue
        if target == p.own_visit:
            await uow.visits.ensure_session_visit(target, p.session, now)
        if not await uow.visits.move_session(p.session.session_id, target, p.current):
            # Invoiced where it was while this event was applied: billed there, once. (A
            # session visit made above for it is empty: dropped below.)
            touched.add(target)
            continue
        touched |= {target, p.current}
    await uow.visits.drop_empty_session_visits(touched)
    return touched


async def customer_of(uow: BillingUnitOfWork, visit: Visit) -> str | None:
    """Who pays: a session's customer as csms knew it, else the owner of a session's id token,
    else the owner of the vehicle (billing's projection of accounts); None: anonymous."""
    for s in visit.sessions:
        if s.customer_id:
            return s.customer_id
    tokens = [s.id_token for s in visit.sessions if s.id_token]
    found = await uow.customers.of_tokens(tokens)
    if found is not None:
        return found
    regnums = [visit.stay.key.regnum] if visit.stay is not None else []
    regnums += [s.regnum for s in visit.sessions if s.regnum and s.regnum not in regnums]
    return await uow.customers.of_regnums(regnums)
