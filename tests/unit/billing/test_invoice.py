"""The Invoice aggregate: its totals, its states and the events its transitions emit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.domain.invoices import (
    Decline,
    Invoice,
    InvoiceIssued,
    InvoicePaid,
    InvoiceStatus,
    NotDraft,
    RetryPolicy,
)
from billing.domain.pricing import Line, LineKind
from billing.domain.tariff import standard_tariff
from billing.payments.port import IssuedInvoice, PaymentStatus
from chargepark.errors import Conflict
from tests.conftest import T0
from tests.support.billing import at

TARIFF = standard_tariff(T0)
POLICY = RetryPolicy(max_declines=2, decline_retry_sec=600)


def a_line(amount: int, kind: LineKind = LineKind.ADJUSTMENT) -> Line:
    return Line(kind, f"line of {amount}", amount)


def an_open_invoice(customer_id: str | None = "c-1") -> Invoice:
    invoice = Invoice.for_visit("vis_1", customer_id, [a_line(1000)], TARIFF, T0)
    invoice.pull_events()
    return invoice


def test_a_visit_invoice_is_open_with_its_totals_and_says_so():
    invoice = Invoice.for_visit("vis_1", "c-1", [a_line(608), a_line(670)], TARIFF, T0)
    assert invoice.status is InvoiceStatus.OPEN and invoice.note is None
    assert (invoice.net_minor, invoice.tax_minor, invoice.total_minor) == (1278, 256, 1534)
    assert [line.line_no for line in invoice.lines] == [1, 2]
    assert invoice.next_attempt_at == T0 and invoice.issued_at == T0
    assert invoice.charge_automatically
    assert invoice.pull_events() == [
        InvoiceIssued(
            invoice_id=invoice.id,
            customer_id="c-1",
            visit_id="vis_1",
            total_minor=1534,
            tax_minor=256,
            currency="EUR",
            ts=T0,
        )
    ]
    assert invoice.pull_events() == []


def test_a_visit_with_nothing_to_bill_is_void_and_silent():
    invoice = Invoice.for_visit("vis_1", None, [], TARIFF, T0)
    assert (invoice.status, invoice.note, invoice.next_attempt_at) == (
        InvoiceStatus.VOID,
        "nothing to bill",
        None,
    )
    assert invoice.pull_events() == []


def test_a_draft_takes_lines_and_totals_them_until_finalized():
    invoice = Invoice.draft(None, [a_line(999)], "EUR", Decimal("20"), T0)
    invoice.add_lines([a_line(-99), a_line(100)], at(1))
    assert [line.line_no for line in invoice.lines] == [1, 2, 3]
    assert [line.line_no for line in invoice.added_lines] == [1, 2, 3]
    assert (invoice.net_minor, invoice.tax_minor, invoice.total_minor) == (1000, 200, 1200)
    invoice.finalize(at(2))
    assert invoice.status is InvoiceStatus.OPEN and invoice.next_attempt_at is None
    [issued] = invoice.pull_events()
    assert isinstance(issued, InvoiceIssued) and issued.visit_id is None
    with pytest.raises(NotDraft):
        invoice.add_lines([a_line(1)], at(3))


def test_a_negative_draft_cannot_be_finalized_and_a_zero_one_is_void():
    invoice = Invoice.draft("c-1", [a_line(-1)], "EUR", Decimal("20"), T0)
    with pytest.raises(Conflict):
        invoice.finalize(T0)
    invoice.add_lines([a_line(1)], T0)
    invoice.finalize(T0)
    assert invoice.status is InvoiceStatus.VOID and invoice.pull_events() == []


def test_declines_are_retried_then_the_invoice_is_uncollectible():
    invoice = an_open_invoice()
    assert invoice.decline(Decline("card_declined", "no"), "collect", 1, T0, POLICY)
    assert (invoice.declines, invoice.next_attempt_at) == (1, at(10))
    assert invoice.last_error == "declined: card_declined"
    assert invoice.last_word_was_a_decline
    assert invoice.decline(Decline(None, None), "collect", 2, at(10), POLICY)
    assert invoice.status is InvoiceStatus.UNCOLLECTIBLE and invoice.next_attempt_at is None
    assert not invoice.decline(Decline("x", None), "webhook", 2, at(11), POLICY)
    assert invoice.declines == 2 and len(invoice.added_attempts) == 3


def test_a_decline_reported_twice_counts_once_and_a_manual_invoice_waits():
    invoice = an_open_invoice()
    invoice.charge_automatically = False
    assert not invoice.decline(Decline("expired_card", None), "collect", 1, T0, POLICY, count=False)
    assert (invoice.declines, invoice.last_error) == (0, "declined: expired_card")
    assert invoice.decline(Decline(None, None), "webhook", 1, T0, POLICY)
    assert invoice.next_attempt_at is None  # the customer pays at the provider's page


def test_paying_emits_invoice_paid_once_and_a_repeated_answer_is_only_recorded():
    invoice = an_open_invoice()
    invoice.paid_answer("ch_1", "collect", 1, T0)
    assert invoice.status is InvoiceStatus.PAID and invoice.amount_paid_minor == 1200
    assert invoice.pull_events() == [
        InvoicePaid(
            invoice_id=invoice.id,
            customer_id="c-1",
            amount_minor=1200,
            currency="EUR",
            provider="unknown",
            provider_ref="ch_1",
            ts=T0,
        )
    ]
    invoice.paid_answer("ch_1", "collect", 1, at(1))
    assert invoice.pull_events() == [] and len(invoice.attempts) == 2


def test_an_unreachable_provider_backs_off_and_an_issue_resets_it():
    invoice = an_open_invoice()
    for failures in (1, 2, 3):
        invoice.unreachable("OSError: down", "down", "collect", 1, T0, POLICY)
        assert invoice.unavailable == failures
    assert invoice.next_attempt_at == at(2)  # 30 s, 60 s, 120 s
    assert invoice.last_error == "provider unavailable: down"
    invoice.issued_by(IssuedInvoice("local", None, "loc_1", PaymentStatus.OPEN))
    assert (invoice.unavailable, invoice.last_error) == (0, None)
    assert invoice.note and "not sent to Stripe" in invoice.note


def test_a_rejection_stops_the_schedule_and_long_messages_are_cut():
    invoice = an_open_invoice()
    invoice.rejected("x" * 200, "bad " * 200, "issue", 0, T0)
    [attempt] = invoice.attempts
    assert len(attempt.failure_code or "") == 128 and len(attempt.failure_message or "") == 500
    assert invoice.next_attempt_at is None and (invoice.last_error or "").startswith("rejected")
