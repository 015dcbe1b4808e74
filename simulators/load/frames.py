"""OCPP-J CALL texts from templates: only the message id, the time and the meter reading vary.

A charger's calls are built by `%`-formatting pre-made JSON text, never by `json.dumps`, so
building a call costs about a microsecond. Both OCPP versions send the same kinds of call; the
templates are valid against the OCPP JSON schemas (the bench smoke test checks every one).

The 1.6 MeterValues carries one sample of 11 sampled values (energy register, power, current
and voltage per phase, offered current, SoC, temperature), about 1.4 KB, as a 3-phase 22 kW AC
charger sends; the 2.0.1 one the same with the frequency instead of the temperature.
"""

from __future__ import annotations

import time

# Call kinds. The mix is a cycle over the first three; BOOT is sent once per connection.
HEARTBEAT, STATUS, METER, BOOT = 0, 1, 2, 3
ACTION_NAMES = ("Heartbeat", "StatusNotification", "MeterValues", "BootNotification")
MIX_KEYS = {"heartbeat": HEARTBEAT, "status": STATUS, "meter": METER}
OCPP_VERSIONS = ("1.6", "2.0.1")

_BOOT16 = (
    '[2,"%d","BootNotification",{"chargePointVendor":"ChargePark",'
    '"chargePointModel":"Bench-AC22","chargePointSerialNumber":"BENCH-%06d",'
    '"firmwareVersion":"1.4.2","meterType":"ACM-3P","meterSerialNumber":"M-%06d"}]'
)
_BOOT201 = (
    '[2,"%d","BootNotification",{"reason":"PowerUp","chargingStation":'
    '{"serialNumber":"BENCH-%06d","model":"Bench-AC22","vendorName":"ChargePark",'
    '"firmwareVersion":"1.4.2"}}]'
)
_STATUS16 = (
    '[2,"%d","StatusNotification",{"connectorId":1,"errorCode":"NoError",'
    '"status":"%s","timestamp":"%s"}]'
)
_STATUS201 = (
    '[2,"%d","StatusNotification",{"timestamp":"%s","connectorStatus":"Occupied",'
    '"evseId":1,"connectorId":1}]'
)

_SV16 = '"context":"Sample.Periodic","format":"Raw"'
_METER16 = (
    '[2,"%d","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":"%s",'
    '"sampledValue":['
    '{"value":"%d",' + _SV16 + ',"measurand":"Energy.Active.Import.Register",'
    '"location":"Outlet","unit":"Wh"},'
    '{"value":"11040",' + _SV16 + ',"measurand":"Power.Active.Import","location":"Outlet",'
    '"unit":"W"},'
    '{"value":"16.0",' + _SV16 + ',"measurand":"Current.Import","phase":"L1",'
    '"location":"Outlet","unit":"A"},'
    '{"value":"15.9",' + _SV16 + ',"measurand":"Current.Import","phase":"L2",'
    '"location":"Outlet","unit":"A"},'
    '{"value":"16.1",' + _SV16 + ',"measurand":"Current.Import","phase":"L3",'
    '"location":"Outlet","unit":"A"},'
    '{"value":"230.4",' + _SV16 + ',"measurand":"Voltage","phase":"L1-N",'
    '"location":"Outlet","unit":"V"},'
    '{"value":"229.8",' + _SV16 + ',"measurand":"Voltage","phase":"L2-N",'
    '"location":"Outlet","unit":"V"},'
    '{"value":"231.0",' + _SV16 + ',"measurand":"Voltage","phase":"L3-N",'
    '"location":"Outlet","unit":"V"},'
    '{"value":"32",' + _SV16 + ',"measurand":"Current.Offered","location":"Outlet",'
    '"unit":"A"},'
    '{"value":"%d",' + _SV16 + ',"measurand":"SoC","location":"EV","unit":"Percent"},'
    '{"value":"31.5",' + _SV16 + ',"measurand":"Temperature","location":"Body",'
    '"unit":"Celsius"}'
    "]}]}]"
)

_SV201 = '"context":"Sample.Periodic"'
_METER201 = (
    '[2,"%d","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"%s","sampledValue":['
    '{"value":%d,' + _SV201 + ',"measurand":"Energy.Active.Import.Register",'
    '"location":"Outlet","unitOfMeasure":{"unit":"Wh"}},'
    '{"value":11040,' + _SV201 + ',"measurand":"Power.Active.Import","location":"Outlet",'
    '"unitOfMeasure":{"unit":"W"}},'
    '{"value":16.0,' + _SV201 + ',"measurand":"Current.Import","phase":"L1",'
    '"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    '{"value":15.9,' + _SV201 + ',"measurand":"Current.Import","phase":"L2",'
    '"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    '{"value":16.1,' + _SV201 + ',"measurand":"Current.Import","phase":"L3",'
    '"location":"Outlet","unitOfMeasure":{"unit":"A"}},'
    '{"value":230.4,' + _SV201 + ',"measurand":"Voltage","phase":"L1-N",'
    '"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    '{"value":229.8,' + _SV201 + ',"measurand":"Voltage","phase":"L2-N",'
    '"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    '{"value":231.0,' + _SV201 + ',"measurand":"Voltage","phase":"L3-N",'
    '"location":"Outlet","unitOfMeasure":{"unit":"V"}},'
    '{"value":32,' + _SV201 + ',"measurand":"Current.Offered","location":"Outlet",'
    '"unitOfMeasure":{"unit":"A"}},'
    '{"value":%d,' + _SV201 + ',"measurand":"SoC","location":"EV",'
    '"unitOfMeasure":{"unit":"Percent"}},'
    '{"value":50.0,' + _SV201 + ',"measurand":"Frequency","location":"Outlet",'
    '"unitOfMeasure":{"unit":"Hz"}}'
    "]}]}]"
)


class Frames:
    """Builds the CALL texts a charger of one OCPP version sends."""

    def __init__(self, ocpp: str) -> None:
        if ocpp not in OCPP_VERSIONS:
            raise ValueError(f"unsupported OCPP version {ocpp!r}")
        self.ocpp = ocpp
        self.subprotocol = "ocpp" + ocpp
        self._second = -1
        self._stamp = ""

    def timestamp(self) -> str:
        now = int(time.time())
        if now != self._second:  # formatted once a second, not once a call
            self._second = now
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return self._stamp

    def boot(self, mid: int, serial: int) -> bytes:
        if self.ocpp == "1.6":
            return (_BOOT16 % (mid, serial, serial)).encode()
        return (_BOOT201 % (mid, serial)).encode()

    def call(self, kind: int, mid: int, transaction: int, energy_wh: int, cycle: int) -> bytes:
        if kind == HEARTBEAT:
            return b'[2,"%d","Heartbeat",{}]' % mid
        ts = self.timestamp()
        soc = 20 + cycle % 80
        if self.ocpp == "1.6":
            if kind == STATUS:
                status = "Charging" if cycle % 2 == 0 else "SuspendedEV"
                text = _STATUS16 % (mid, status, ts)
            else:
                text = _METER16 % (mid, transaction, ts, energy_wh, soc)
        elif kind == STATUS:
            text = _STATUS201 % (mid, ts)
        else:
            text = _METER201 % (mid, ts, energy_wh, soc)
        return text.encode()
