"""Text a charger may send that nothing downstream can keep: U+0000 and lone surrogates.

JSON can spell both (`"\\u0000"`, `"\\ud800"`), Python's parser reads both, and the OCPP schemas
allow both in any string. Neither survives what comes after: PostgreSQL's text refuses NUL, and a
lone surrogate is no Unicode scalar value, so UTF-8 (SQLite, the event bus, every log line)
cannot encode it; an id token carrying one became an InternalError with a traceback, or an event
that no consumer on PostgreSQL can store. They are refused at the edge, before any handler.

Both can only arrive as `\\u` escapes (a raw NUL is no valid JSON string character, and a frame
that reached us as text is valid UTF-8), so a frame without `\\u` costs one substring search.
"""

from __future__ import annotations

import re
from typing import Any

_SUSPECT = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_SUSPECT_BYTES = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def unsound_text(raw: str | bytes, frame: Any) -> str | None:
    """The JSON path of the first string (value or key) in `frame` holding a NUL or a lone
    surrogate, or None. `raw` is the text `frame` was parsed from."""
    if isinstance(raw, str):
        if "\\u" not in raw or _SUSPECT.search(raw) is None:
            return None
    elif b"\\u" not in raw or _SUSPECT_BYTES.search(raw) is None:
        return None
    return _find(frame, "$")  # an escape matched (or an escaped backslash before "u"): look


def _find(value: Any, path: str) -> str | None:
    if type(value) is str:
        return path if _unsound(value) else None
    if type(value) is dict:
        for key, item in value.items():
            if _unsound(key):
                return f"{path} (a key)"
            if (found := _find(item, f"{path}.{key}")) is not None:
                return found
    elif type(value) is list:
        for i, item in enumerate(value):
            if (found := _find(item, f"{path}[{i}]")) is not None:
                return found
    return None


def _unsound(text: str) -> bool:
    if "\x00" in text:
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # surrogates not allowed
        return True
    return False
