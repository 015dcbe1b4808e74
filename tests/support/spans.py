"""Reading spans in tests (the `spans` fixture, which turns tracing on, is in tests/conftest.py)."""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan


def hex_trace(span: ReadableSpan) -> str:
    return f"{span.context.trace_id:032x}"
