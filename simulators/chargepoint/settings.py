"""The charger's configuration: 1.6 configuration keys, and the 2.0.1 device model variables
that map onto them. Changes persist for the simulator's run (a Reset keeps them)."""

from __future__ import annotations

from dataclasses import dataclass

INTEGER = "int"
BOOLEAN = "bool"
TEXT = "text"


@dataclass(frozen=True)
class Key:
    name: str
    kind: str = INTEGER
    readonly: bool = False


KEYS: tuple[Key, ...] = (
    Key("HeartbeatInterval"),
    Key("MeterValueSampleInterval"),
    Key("ConnectionTimeOut"),
    Key("ClockAlignedDataInterval"),
    Key("TransactionMessageAttempts"),
    Key("TransactionMessageRetryInterval"),
    Key("ResetRetries"),
    Key("WebSocketPingInterval"),
    Key("AuthorizeRemoteTxRequests", BOOLEAN),
    Key("LocalAuthorizeOffline", BOOLEAN),
    Key("LocalPreAuthorize", BOOLEAN),
    Key("AllowOfflineTxForUnknownId", BOOLEAN),
    Key("LocalAuthListEnabled", BOOLEAN),
    Key("StopTransactionOnInvalidId", BOOLEAN),
    Key("StopTransactionOnEVSideDisconnect", BOOLEAN),
    Key("UnlockConnectorOnEVSideDisconnect", BOOLEAN),
    Key("MeterValuesSampledData", TEXT),
    Key("NumberOfConnectors", INTEGER, readonly=True),
    Key("SupportedFeatureProfiles", TEXT, readonly=True),
    Key("LocalAuthListMaxLength", INTEGER, readonly=True),
    Key("SendLocalListMaxLength", INTEGER, readonly=True),
    Key("GetConfigurationMaxKeys", INTEGER, readonly=True),
    Key("TxStartPoint", TEXT, readonly=True),
    Key("TxStopPoint", TEXT, readonly=True),
    Key("ChargeProfileMaxStackLevel", INTEGER, readonly=True),
    Key("ChargingScheduleAllowedChargingRateUnit", TEXT, readonly=True),
    Key("ChargingScheduleMaxPeriods", INTEGER, readonly=True),
    Key("MaxChargingProfilesInstalled", INTEGER, readonly=True),
)
BY_NAME = {k.name: k for k in KEYS}


def defaults(evses: int, meter_interval: int, dc: bool) -> dict[str, str]:
    """`dc`: the car's state of charge is known (DC, or 2.0.1's ISO 15118), so sampled."""
    measurands = "Energy.Active.Import.Register,Power.Active.Import,Current.Import"
    measurands += ",SoC" if dc else ""
    return {
        "HeartbeatInterval": "300",
        "MeterValueSampleInterval": str(meter_interval),
        "ConnectionTimeOut": "120",
        "ClockAlignedDataInterval": "0",
        "TransactionMessageAttempts": "3",
        "TransactionMessageRetryInterval": "10",
        "ResetRetries": "1",
        "WebSocketPingInterval": "20",
        "AuthorizeRemoteTxRequests": "false",
        "LocalAuthorizeOffline": "true",
        "LocalPreAuthorize": "false",
        "AllowOfflineTxForUnknownId": "false",
        "LocalAuthListEnabled": "true",
        "StopTransactionOnInvalidId": "true",
        "StopTransactionOnEVSideDisconnect": "true",
        "UnlockConnectorOnEVSideDisconnect": "true",
        "MeterValuesSampledData": measurands,
        "NumberOfConnectors": str(evses),
        "SupportedFeatureProfiles": "Core,LocalAuthListManagement,Reservation,RemoteTrigger",
        "LocalAuthListMaxLength": "1000",
        "SendLocalListMaxLength": "100",
        "GetConfigurationMaxKeys": "50",
        "TxStartPoint": "PowerPathClosed",
        "TxStopPoint": "EVConnected,Authorized",
    }


def check(name: str, value: str) -> str | None:
    """Why `value` cannot be set on `name` (None: it can): unknown, readonly or malformed."""
    key = BY_NAME.get(name)
    if key is None:
        return "unknown"
    if key.readonly:
        return "readonly"
    if key.kind == INTEGER:
        try:
            if int(value) < 0:
                return "malformed"
        except ValueError:
            return "malformed"
    if key.kind == BOOLEAN and value.lower() not in ("true", "false"):
        return "malformed"
    return None


# 2.0.1: (component, variable) -> the key above. Variables not listed are unknown.
VARIABLES: dict[tuple[str, str], str] = {
    ("OCPPCommCtrlr", "HeartbeatInterval"): "HeartbeatInterval",
    ("OCPPCommCtrlr", "WebSocketPingInterval"): "WebSocketPingInterval",
    ("OCPPCommCtrlr", "ResetRetries"): "ResetRetries",
    ("OCPPCommCtrlr", "MessageAttempts"): "TransactionMessageAttempts",
    ("OCPPCommCtrlr", "MessageAttemptInterval"): "TransactionMessageRetryInterval",
    ("SampledDataCtrlr", "TxUpdatedInterval"): "MeterValueSampleInterval",
    ("SampledDataCtrlr", "TxUpdatedMeasurands"): "MeterValuesSampledData",
    ("AlignedDataCtrlr", "Interval"): "ClockAlignedDataInterval",
    ("TxCtrlr", "EVConnectionTimeOut"): "ConnectionTimeOut",
    ("TxCtrlr", "StopTxOnInvalidId"): "StopTransactionOnInvalidId",
    ("TxCtrlr", "StopTxOnEVSideDisconnect"): "StopTransactionOnEVSideDisconnect",
    ("TxCtrlr", "TxStartPoint"): "TxStartPoint",
    ("TxCtrlr", "TxStopPoint"): "TxStopPoint",
    ("AuthCtrlr", "AuthorizeRemoteStart"): "AuthorizeRemoteTxRequests",
    ("AuthCtrlr", "LocalAuthorizeOffline"): "LocalAuthorizeOffline",
    ("AuthCtrlr", "LocalPreAuthorize"): "LocalPreAuthorize",
    ("AuthCtrlr", "OfflineTxForUnknownIdEnabled"): "AllowOfflineTxForUnknownId",
    ("LocalAuthListCtrlr", "Enabled"): "LocalAuthListEnabled",
    ("LocalAuthListCtrlr", "Entries"): "LocalAuthListMaxLength",
    ("DeviceDataCtrlr", "ItemsPerMessage"): "GetConfigurationMaxKeys",
    ("SmartChargingCtrlr", "ProfileStackLevel"): "ChargeProfileMaxStackLevel",
    ("SmartChargingCtrlr", "RateUnit"): "ChargingScheduleAllowedChargingRateUnit",
    ("SmartChargingCtrlr", "PeriodsPerSchedule"): "ChargingScheduleMaxPeriods",
    ("SmartChargingCtrlr", "Entries"): "MaxChargingProfilesInstalled",
}
