"""Database statements as spans: a CLIENT span for each statement an engine executes."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode
from sqlalchemy import event

from chargepark import tracing


def trace_statements(sync_engine: Any, system: str) -> None:
    """A CLIENT span for each statement the engine executes (SQLAlchemy's cursor events; its
    greenlets carry the caller's context, so the span is a child of the request's). Attached
    only when tracing is on when the engine is made: off, statements cost nothing more."""

    # SQLAlchemy's signature for both: (conn, cursor, statement, parameters, context,
    # executemany); the span rides on the execution context from one to the other.
    def before(
        _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        attributes = tracing.db_attributes(system, statement)
        context._chargepark_span = tracing.tracer().start_span(
            f"{attributes['db.operation']} {system}", kind=SpanKind.CLIENT, attributes=attributes
        )

    def after(
        _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
    ) -> None:
        found = getattr(context, "_chargepark_span", None)
        if found is not None:
            found.end()

    def failed(exception_context: Any) -> None:
        found = getattr(exception_context.execution_context, "_chargepark_span", None)
        if found is not None:
            error = exception_context.original_exception
            found.record_exception(error)
            found.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}"[:200]))
            found.end()

    event.listen(sync_engine, "before_cursor_execute", before)
    event.listen(sync_engine, "after_cursor_execute", after)
    event.listen(sync_engine, "handle_error", failed)
