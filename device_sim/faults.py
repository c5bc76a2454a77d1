"""The faults a simulated meter can be made to show, for testing the gateway.

Transport faults last until cleared: TIMEOUT (no response at all), EXCEPTION
(a Modbus exception response), CORRUPT_FRAME (a response the client cannot
parse). Meter faults change what the meter shows: METER_REPLACED (counters
restart from new bases; an event, nothing to clear), COUNTER_STUCK (counters
freeze while power still flows), CLOCK_DRIFT (the meter's clock is off).
"""

from enum import StrEnum

__all__ = ["TRANSPORT_FAULTS", "Fault"]


class Fault(StrEnum):
    """A fault to inject with `ModbusSimServer.inject`."""

    TIMEOUT = "timeout"
    EXCEPTION = "exception"
    CORRUPT_FRAME = "corrupt_frame"
    METER_REPLACED = "meter_replaced"
    COUNTER_STUCK = "counter_stuck"
    CLOCK_DRIFT = "clock_drift"


TRANSPORT_FAULTS = frozenset({Fault.TIMEOUT, Fault.EXCEPTION, Fault.CORRUPT_FRAME})
