"""Modbus TCP server for a fleet of simulated meters, one unit id each, on one port.

    meter = SimulatedMeter.fixed(import_wh=12_345_500, export_wh=987_500)
    async with ModbusSimServer({1: meter}, map_name="sdm630") as server:
        ...AsyncModbusTcpClient("127.0.0.1", port=server.port)...
        server.inject(1, Fault.TIMEOUT)

Registers are computed on each request from the meter at the current time
of `server.clock`, laid out as the real device of each map lays them out
(`device_sim.devices`, `device_sim.encoding`); each unit has its own serial
number (`serials`, by default DEFAULT_SERIAL_BASE + unit id). pymodbus
owns the sockets and framing; this module plugs in a datastore of its own
(the duck-typed `async_getValues` interface pymodbus' server calls) and a
packet hook for corrupted frames. A request to
a unit id that is not served gets exception 0x0B (gateway target failed to
respond), as from a TCP-to-RS485 gateway.

`device_sim.rtu.ModbusSimRtuServer` serves the same fleet over a serial
device (RTU framing) through the two hooks `_new_server` and `_started`.
"""

import asyncio
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self, cast

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import NoSuchIdException
from pymodbus.server import ModbusBaseServer, ModbusTcpServer
from pymodbus.simulator import SimData, SimDevice

from device_sim.clock import SimClock
from device_sim.encoding import DeviceLayout, layout_for, read_block
from device_sim.errors import SimulatorError
from device_sim.faults import TRANSPORT_FAULTS, Fault
from device_sim.meter import MeterSnapshot, SimulatedMeter

__all__ = ["DEFAULT_SERIAL_BASE", "MAX_UNIT_ID", "ModbusSimServer"]

MAX_UNIT_ID = 247
DEFAULT_SERIAL_BASE = 90_000_000


@dataclass
class _Unit:
    meter: SimulatedMeter
    layout: DeviceLayout
    faults: set[Fault] = field(default_factory=set)
    exception_code: int = ExcCodes.DEVICE_FAILURE


class _FleetContext:
    """What pymodbus' request handler calls to read registers (replaces its datastore)."""

    def __init__(
        self, units: dict[int, _Unit], clock: SimClock, *, silent_unserved: bool = False
    ) -> None:
        self._units = units
        self._clock = clock
        self._silent_unserved = silent_unserved

    def device_ids(self) -> list[int]:
        return list(self._units)

    async def async_getValues(  # noqa: N802 (pymodbus' name)
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> list[int] | ExcCodes:
        unit = self._units.get(device_id)
        if unit is None:
            if self._silent_unserved:
                raise NoSuchIdException(f"no meter at unit {device_id}")
            return ExcCodes.GATEWAY_NO_RESPONSE
        if Fault.TIMEOUT in unit.faults:
            # With ignore_missing_devices pymodbus then sends nothing at all.
            raise NoSuchIdException(f"unit {device_id} is silent (injected timeout)")
        if Fault.EXCEPTION in unit.faults:
            return ExcCodes(unit.exception_code)
        snapshot = unit.meter.snapshot(self._clock.now_ms())
        result = read_block(unit.layout, snapshot, func_code, address, count)
        return ExcCodes(result) if isinstance(result, int) else result

    async def async_setValues(  # noqa: N802 (pymodbus' name)
        self, device_id: int, func_code: int, address: int, values: list[int]
    ) -> ExcCodes | None:
        del device_id, func_code, address, values
        return ExcCodes.ILLEGAL_FUNCTION  # meters here are read-only


class ModbusSimServer:
    """Serves `meters` (unit id -> meter) on `host`:`port` (0 = a free port) while
    entered. `map_name` is one map for all units or a unit id -> map mapping;
    `serials` maps each unit id to its meter's serial number."""

    # Where a response frame carries the unit id and function code (TCP: after
    # the MBAP header's transaction, protocol and length fields).
    _UNIT_OFFSET = 6
    _FUNCTION_OFFSET = 7
    # A TCP-to-RS485 gateway answers for an absent unit; a serial bus stays silent.
    _SILENT_UNSERVED = False

    def __init__(
        self,
        meters: Mapping[int, SimulatedMeter],
        *,
        map_name: str | Mapping[int, str] = "sdm630",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: SimClock | None = None,
        serials: Mapping[int, int] | None = None,
    ) -> None:
        if not meters:
            raise ValueError("no meters to serve")
        self.host = host
        self.clock = clock if clock is not None else SimClock()
        self._requested_port = port
        self._port: int | None = None
        self._server: ModbusBaseServer | None = None
        self._units: dict[int, _Unit] = {}
        for unit_id, meter in meters.items():
            if not 1 <= unit_id <= MAX_UNIT_ID:
                raise ValueError(f"unit id {unit_id} outside 1..{MAX_UNIT_ID}")
            name = map_name if isinstance(map_name, str) else map_name.get(unit_id, "sdm630")
            serial = DEFAULT_SERIAL_BASE + unit_id if serials is None else serials[unit_id]
            layout = layout_for(name, serial=serial, unit_id=unit_id)
            self._units[unit_id] = _Unit(meter=meter, layout=layout)

    @property
    def port(self) -> int:
        """The bound TCP port."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def unit_ids(self) -> list[int]:
        """The served unit ids, ascending."""
        return sorted(self._units)

    def meter(self, unit_id: int) -> SimulatedMeter:
        """The meter at `unit_id`."""
        return self._units[unit_id].meter

    def map_name(self, unit_id: int) -> str:
        """The register map the meter at `unit_id` speaks."""
        return self._units[unit_id].layout.device.name

    def snapshot(self, unit_id: int) -> MeterSnapshot:
        """What the meter at `unit_id` shows now (as a read would)."""
        return self._units[unit_id].meter.snapshot(self.clock.now_ms())

    def inject(
        self,
        unit_id: int,
        fault: Fault,
        *,
        exception_code: int = ExcCodes.DEVICE_FAILURE,
        import_wh: int = 0,
        export_wh: int = 0,
        drift_s: int = 0,
    ) -> None:
        """Make the meter at `unit_id` show `fault`. EXCEPTION answers with
        `exception_code`; METER_REPLACED restarts the counters at `import_wh` /
        `export_wh`; CLOCK_DRIFT sets the meter's clock `drift_s` off."""
        unit = self._units[unit_id]
        now = self.clock.now_ms()
        if fault in TRANSPORT_FAULTS:
            unit.faults.add(fault)
            if fault is Fault.EXCEPTION:
                unit.exception_code = ExcCodes(exception_code)
        elif fault is Fault.METER_REPLACED:
            unit.meter.replace(now, import_wh=import_wh, export_wh=export_wh)
        elif fault is Fault.COUNTER_STUCK:
            unit.meter.stick(now)
        elif fault is Fault.CLOCK_DRIFT:
            unit.meter.set_clock_drift(drift_s)

    def clear(self, unit_id: int, fault: Fault | None = None) -> None:
        """End `fault` (or every fault) at `unit_id`. A replacement stays done."""
        unit = self._units[unit_id]
        faults = set(Fault) if fault is None else {fault}
        unit.faults -= faults
        if Fault.COUNTER_STUCK in faults:
            unit.meter.unstick()
        if Fault.CLOCK_DRIFT in faults:
            unit.meter.set_clock_drift(0)

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or len(data) <= self._FUNCTION_OFFSET:
            return data
        unit = self._units.get(data[self._UNIT_OFFSET])
        if unit is None or Fault.CORRUPT_FRAME not in unit.faults:
            return data
        # Keep the header (so the transaction matches) but garble the PDU (and
        # an RTU frame's CRC): an undefined function code, the payload bits flipped.
        pdu = bytes(b ^ 0xA5 for b in data[self._FUNCTION_OFFSET + 1 :])
        return data[: self._FUNCTION_OFFSET] + b"\x5a" + pdu

    def _new_server(self, placeholder: SimDevice) -> ModbusBaseServer:
        """The pymodbus server for this transport (not yet listening)."""
        return ModbusTcpServer(
            placeholder,
            address=(self.host, self._requested_port),
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
        )

    def _where(self) -> str:
        """Where this server listens, for messages."""
        return f"{self.host}:{self._requested_port}"

    def _check_address(self) -> None:
        """SimulatorError naming the OS's reason when the address cannot be bound (the
        port is taken, the address is not this host's): pymodbus would only log it."""
        if not self._requested_port:
            return
        try:
            with socket.create_server((self.host, self._requested_port)):
                pass
        except OSError as exc:
            raise SimulatorError(
                f"cannot serve Modbus on {self._where()}: "
                f"{os.strerror(exc.errno) if exc.errno else exc}"
            ) from exc

    def _started(self, server: ModbusBaseServer) -> None:
        """Record where `server` now listens."""
        listener = cast(asyncio.Server, server.transport)
        self._port = int(listener.sockets[0].getsockname()[1])

    async def __aenter__(self) -> Self:
        # pymodbus insists on a datastore of its own at construction; ours
        # replaces it before the first request can arrive.
        server = self._new_server(SimDevice(0, simdata=SimData(0)))
        server.context = _FleetContext(  # type: ignore[assignment]
            self._units, self.clock, silent_unserved=self._SILENT_UNSERVED
        )
        self._check_address()
        try:
            await server.serve_forever(background=True)
        except (RuntimeError, OSError) as exc:
            # pymodbus says only "Could not start listen".
            raise SimulatorError(f"cannot serve Modbus on {self._where()}: {exc}") from exc
        self._server = server
        self._started(server)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._server is not None:
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            self._server = None
            await asyncio.sleep(0)  # let the transports' close callbacks run
