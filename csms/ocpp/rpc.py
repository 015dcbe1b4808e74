"""OCPP-J's RPC framework, by version: why a CALL is refused (`Fault`), the errorCode and text
each version's table gives for it, and the reading of a frame into the library's message.

Every code is the one the version's spec names, with its spelling (1.6 keeps
"OccurenceConstraintViolation"); `csms.ocpp.base.ProtocolEdge` sends them.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

from jsonschema.exceptions import ValidationError as SchemaValidationError
from ocpp import exceptions as errors
from ocpp.messages import Call, CallError, CallResult, MessageType
from ocpp.v16.enums import Action as Action16
from ocpp.v201.enums import Action as Action201

from csms.ocpp.text import unsound_text

CAUSE_MAX = 255  # as 2.0.1 bounds errorDescription; a schema message can quote a whole payload


class Fault(enum.Enum):
    """Why a CALL is refused, before the version picks the errorCode."""

    RPC = enum.auto()  # the frame is no valid RPC message
    MESSAGE_TYPE = enum.auto()  # unknown MessageTypeId
    FORMAT = enum.auto()  # payload syntactically wrong, or a property the schema forbids
    OCCURRENCE = enum.auto()  # required field missing, too few or too many items
    TYPE = enum.auto()  # wrong JSON type, string too long
    PROPERTY = enum.auto()  # value outside its enum or range
    PROTOCOL = enum.auto()
    NOT_IMPLEMENTED = enum.auto()  # the version does not define the action
    NOT_SUPPORTED = enum.auto()  # the version defines it; we have no handler
    SECURITY = enum.auto()
    GENERIC = enum.auto()
    INTERNAL = enum.auto()  # our failure; never the charger's


@dataclass(frozen=True)
class RpcDialect:
    codes: dict[Fault, tuple[str, str]]  # errorCode and errorDescription
    unreadable_id: str | None  # the MessageId to answer a frame whose id cannot be read
    actions: frozenset[str]

    def describe(self, code: str) -> str | None:
        return next((d for c, d in self.codes.values() if c == code), None)


_COMMON = {
    Fault.NOT_IMPLEMENTED: ("NotImplemented", "Requested Action is not known by receiver"),
    Fault.NOT_SUPPORTED: (
        "NotSupported",
        "Requested Action is recognized but not supported by the receiver",
    ),
    Fault.INTERNAL: (
        "InternalError",
        "An internal error occurred and the receiver was not able to process the requested "
        "Action successfully",
    ),
    Fault.SECURITY: (
        "SecurityError",
        "During the processing of Action a security issue occurred preventing receiver from "
        "completing the Action successfully",
    ),
    Fault.PROPERTY: (
        "PropertyConstraintViolation",
        "Payload is syntactically correct but at least one field contains an invalid value",
    ),
    Fault.TYPE: (
        "TypeConstraintViolation",
        "Payload for Action is syntactically correct but at least one of the fields violates "
        "data type constraints",
    ),
}

# OCPP-J 1.6 section 4.2.3, table 7, with its spellings (the errata keep them). 1.6 has no code
# for a broken RPC frame or an unknown MessageTypeId; FormationViolation ("not conform the PDU
# structure") is the nearest.
_FORMATION_16 = (
    "FormationViolation",
    "Payload for Action is syntactically incorrect or not conform the PDU structure for Action",
)
V16 = RpcDialect(
    codes={
        **_COMMON,
        Fault.RPC: _FORMATION_16,
        Fault.MESSAGE_TYPE: _FORMATION_16,
        Fault.FORMAT: _FORMATION_16,
        Fault.OCCURRENCE: (
            "OccurenceConstraintViolation",
            "Payload for Action is syntactically correct but at least one of the fields violates "
            "occurence constraints",
        ),
        Fault.PROTOCOL: ("ProtocolError", "Payload for Action is incomplete"),
        Fault.GENERIC: ("GenericError", "Any other error not covered by the previous ones"),
    },
    # 4.2.3: a CALLERROR carries "the exact same id that is in the call request"; 1.6 defines
    # no stand-in, so a frame without a readable id is logged and dropped.
    unreadable_id=None,
    actions=frozenset(a.value for a in Action16),
)

# OCPP 2.0.1 Part 4 section 4.3, table 8.
V201 = RpcDialect(
    codes={
        **_COMMON,
        Fault.RPC: (
            "RpcFrameworkError",
            "Content of the call is not a valid RPC Request, for example: MessageId could not "
            "be read.",
        ),
        # 4.4: an unknown message type SHALL be answered with MessageTypeNotSupported.
        Fault.MESSAGE_TYPE: (
            "MessageTypeNotSupported",
            "A message with an Message Type Number received that is not supported by this "
            "implementation.",
        ),
        Fault.FORMAT: ("FormatViolation", "Payload for Action is syntactically incorrect"),
        Fault.OCCURRENCE: (
            "OccurrenceConstraintViolation",
            "Payload for Action is syntactically correct but at least one of the fields violates "
            "occurrence constraints",
        ),
        Fault.PROTOCOL: ("ProtocolError", "Payload for Action is not conform the PDU structure"),
        Fault.GENERIC: (
            "GenericError",
            "Any other error not covered by the more specific error codes in this table",
        ),
    },
    unreadable_id="-1",  # 4.2.3: "When also the MessageId cannot be read ... "-1" as MessageId"
    actions=frozenset(a.value for a in Action201),
)
DIALECTS = {"1.6": V16, "2.0.1": V201}

# The jsonschema keyword that failed says which rule the payload broke.
_BY_KEYWORD = {
    "additionalProperties": Fault.FORMAT,
    "required": Fault.OCCURRENCE,
    "minItems": Fault.OCCURRENCE,
    "maxItems": Fault.OCCURRENCE,
    "type": Fault.TYPE,
    "maxLength": Fault.TYPE,  # string[n] is the data type
    "minLength": Fault.TYPE,
    "enum": Fault.PROPERTY,
    "const": Fault.PROPERTY,
    "pattern": Fault.PROPERTY,
    "format": Fault.FORMAT,  # OCPP uses it for date-time only: an unreadable time is syntax
    "minimum": Fault.PROPERTY,
    "maximum": Fault.PROPERTY,
    "exclusiveMinimum": Fault.PROPERTY,
    "exclusiveMaximum": Fault.PROPERTY,
    "multipleOf": Fault.PROPERTY,
}
# The library's error classes, as raised by a handler (or by validation, failing the above).
FAULT_OF_ERROR: dict[type[errors.OCPPError], Fault] = {
    errors.FormatViolationError: Fault.FORMAT,
    errors.FormationViolationError: Fault.FORMAT,
    errors.OccurrenceConstraintViolationError: Fault.OCCURRENCE,
    errors.OccurenceConstraintViolationError: Fault.OCCURRENCE,
    errors.TypeConstraintViolationError: Fault.TYPE,
    errors.PropertyConstraintViolationError: Fault.PROPERTY,
    errors.ProtocolError: Fault.PROTOCOL,
    errors.SecurityError: Fault.SECURITY,
    errors.GenericError: Fault.GENERIC,
}


class BadFrame(Exception):
    """A frame that is no valid OCPP-J message."""

    def __init__(
        self, fault: Fault, cause: str, unique_id: str | None = None, *, answer: bool = True
    ):
        super().__init__(cause)
        self.fault = fault
        self.cause = cause
        self.unique_id = unique_id
        self.answer = answer  # False for a broken CALLRESULT/CALLERROR: a CALLERROR answers a CALL


def read_frame(raw: str | bytes) -> Call | CallResult | CallError:
    """Parse a frame once and build the library's message from it, as `unpack` does, checking
    the length and type of every element on the way."""
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise BadFrame(Fault.RPC, "the frame is not valid JSON") from None
    if type(frame) is not list or not frame:
        raise BadFrame(Fault.RPC, "the frame is not a JSON array [MessageTypeId, MessageId, ...]")
    unique_id = frame[1] if len(frame) > 1 and type(frame[1]) is str else None
    message_type = frame[0]
    if type(message_type) is not int:  # `type() is` keeps out true, false and 2.0
        raise BadFrame(Fault.RPC, "MessageTypeId is not an integer", unique_id)
    if message_type == MessageType.Call:
        if len(frame) != 4 or unique_id is None or type(frame[2]) is not str:
            raise BadFrame(Fault.RPC, "a CALL is [2, MessageId, Action, Payload]", unique_id)
        if (where := unsound_text(raw, frame[3])) is not None:
            # Valid JSON, but no value we can keep or pass on (csms.ocpp.text): a field with an
            # invalid value, PropertyConstraintViolation in both versions.
            raise BadFrame(
                Fault.PROPERTY, f"{where}: NUL or a lone surrogate is no storable text", unique_id
            )
        return Call(unique_id, frame[2], frame[3])  # the payload is checked once routed
    if message_type == MessageType.CallResult:
        if len(frame) != 3 or unique_id is None or not _is_object(frame[2]):
            raise BadFrame(
                Fault.RPC, "a CALLRESULT is [3, MessageId, Payload]", unique_id, answer=False
            )
        return CallResult(unique_id, {} if frame[2] is None else frame[2])
    if message_type == MessageType.CallError:
        # errorDetails is required, but a missing one costs nobody anything: tolerated.
        if (
            len(frame) not in (4, 5)
            or unique_id is None
            or type(frame[2]) is not str
            or type(frame[3]) is not str
            or (len(frame) == 5 and not _is_object(frame[4]))
        ):
            raise BadFrame(
                Fault.RPC,
                "a CALLERROR is [4, MessageId, ErrorCode, ErrorDescription, ErrorDetails]",
                unique_id,
                answer=False,
            )
        return CallError(unique_id, frame[2], frame[3], frame[4] if len(frame) == 5 else None)
    raise BadFrame(Fault.MESSAGE_TYPE, "unknown MessageTypeId", unique_id)


def _is_object(value: object) -> bool:
    # "No payload" may be null as well as {} (1.6 section 4.2.1, 2.0.1 Part 4 section 4.1.5).
    return value is None or type(value) is dict


def schema_fault(exc: errors.OCPPError) -> tuple[Fault, str | None]:
    """The fault a validation error stands for (by the JSON Schema keyword that failed), and the
    cause to tell the charger."""
    origin = exc.__cause__ or exc.__context__  # the library raises inside `except` or `from`
    if isinstance(origin, SchemaValidationError):
        fault = _BY_KEYWORD.get(str(origin.validator), Fault.FORMAT)
        return fault, f"{origin.json_path}: {origin.message}"[:CAUSE_MAX]
    # Our own bounds (csms/ocpp/payloads.py) name the field in their cause.
    cause = exc.details.get("cause") if type(exc.details) is dict else None
    return FAULT_OF_ERROR.get(type(exc), Fault.INTERNAL), str(cause)[:CAUSE_MAX] if cause else None
