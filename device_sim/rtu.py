"""Modbus RTU for the simulated meters: the fleet served on a serial device, and a
pseudo-terminal null-modem cable to plug it into without any hardware.

    async with PtyNullModem() as cable, ModbusSimRtuServer(
        {1: meter}, map_name="sdm630", device=cable.server_end
    ) as sim:
        ...AsyncModbusSerialClient(cable.gateway_end)...
        sim.inject(1, Fault.EXCEPTION)

Why two pseudo-terminals and not one: pymodbus (through pyserial) opens a serial
port by path on both sides, and only a pty's slave end has a path. So each side
gets the slave of a pty of its own and the cable copies bytes between the two
masters, as `socat pty,raw,echo=0 pty,raw,echo=0` does. Needs pyserial.
"""

import asyncio
import contextlib
import os
import tty
from collections.abc import Mapping
from types import TracebackType
from typing import Self

from pymodbus.framer import FramerType
from pymodbus.server import ModbusBaseServer, ModbusSerialServer
from pymodbus.simulator import SimDevice

from device_sim.clock import SimClock
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer

__all__ = ["ModbusSimRtuServer", "PtyNullModem"]

# More than any Modbus RTU frame (256 bytes); a pty hands over what it holds.
_CHUNK = 4096


class PtyNullModem:
    """Two pseudo-terminals joined like a null-modem cable while entered: bytes
    written to `server_end` are read from `gateway_end` and back. Bytes sent while
    nobody has the other end open are lost, as on a real line."""

    def __init__(self) -> None:
        self._masters: list[int] = []
        # A slave of each pty held open by the cable itself: without one, a
        # master reports hang-up (EIO) while its device is closed, and the
        # event loop would spin on it between a client's reconnects.
        self._slaves: list[int] = []
        self._paths: list[str] = []

    @property
    def server_end(self) -> str:
        """The device path for the simulator (the meters' side)."""
        return self._path(0)

    @property
    def gateway_end(self) -> str:
        """The device path for the gateway (`MeterConfig.device`)."""
        return self._path(1)

    def _path(self, end: int) -> str:
        if not self._paths:
            raise RuntimeError("cable not plugged in (use `async with`)")
        return self._paths[end]

    async def __aenter__(self) -> Self:
        loop = asyncio.get_running_loop()
        try:
            for _ in range(2):
                master, slave = os.openpty()
                self._masters.append(master)
                self._slaves.append(slave)
                # Raw before anyone opens it: no echo back into the line, no
                # line editing, all 8 bits (pyserial sets this again on open).
                tty.setraw(slave)
                os.set_blocking(master, False)
                self._paths.append(os.ttyname(slave))
        except BaseException:
            self._close()
            raise
        first, second = self._masters
        loop.add_reader(first, _copy, first, second)
        loop.add_reader(second, _copy, second, first)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for master in self._masters:
            loop.remove_reader(master)
        self._close()

    def _close(self) -> None:
        for fd in self._masters + self._slaves:
            os.close(fd)
        self._masters.clear()
        self._slaves.clear()
        self._paths.clear()


def _copy(source: int, sink: int) -> None:
    try:
        data = os.read(source, _CHUNK)
    except OSError:
        return  # nothing after all (EAGAIN), or EIO from a hung-up end
    # A full buffer at the far end (nobody reading) drops the bytes, as a line would.
    with contextlib.suppress(OSError):
        os.write(sink, data)


class ModbusSimRtuServer(ModbusSimServer):
    """Serves `meters` (unit id -> meter) with RTU framing on the serial `device`
    while entered; faults, clock and maps as `ModbusSimServer`. `baudrate` is
    the line speed (a pseudo-terminal ignores it). A unit id that is not served
    gets no answer at all, as on a real RS-485 bus."""

    # An RTU frame starts with the unit id, then the function code.
    _UNIT_OFFSET = 0
    _FUNCTION_OFFSET = 1
    _SILENT_UNSERVED = True

    def __init__(
        self,
        meters: Mapping[int, SimulatedMeter],
        *,
        device: str,
        map_name: str | Mapping[int, str] = "sdm630",
        baudrate: int = 9600,
        clock: SimClock | None = None,
        serials: Mapping[int, int] | None = None,
    ) -> None:
        super().__init__(meters, map_name=map_name, clock=clock, serials=serials)
        self.device = device
        self.baudrate = baudrate

    @property
    def port(self) -> int:
        """Not a TCP server: see `device`."""
        raise RuntimeError(f"an RTU server has no TCP port; it serves {self.device}")

    def _new_server(self, placeholder: SimDevice) -> ModbusBaseServer:
        return ModbusSerialServer(
            placeholder,
            framer=FramerType.RTU,
            port=self.device,
            baudrate=self.baudrate,
            ignore_missing_devices=True,
            trace_packet=self._trace_packet,
        )

    def _where(self) -> str:
        return f"serial device {self.device}"

    def _check_address(self) -> None:
        pass  # pymodbus reports a device it cannot open

    def _started(self, server: ModbusBaseServer) -> None:
        del server  # the device is the address; nothing to learn
