"""The simulator over Modbus RTU: the pty null-modem cable, and a real pymodbus
serial client reading every map and seeing the injected faults."""

import asyncio
import os
import re
import signal
import sys
from typing import Any

import pytest
from pymodbus.client import AsyncModbusSerialClient
from pymodbus.exceptions import ModbusIOException

from device_sim.faults import Fault
from device_sim.fleet import build_fleet
from device_sim.meter import SimulatedMeter
from device_sim.rtu import ModbusSimRtuServer, PtyNullModem
from edge.registermap import MeterValues, RegisterMap, load_map

pytest.importorskip("serial", reason="pyserial is not installed: pymodbus needs it for RTU")

EXPECTED = MeterValues(12_345_500, 987_500, -1234)
START_S = 1_700_000_000


def _fixed() -> SimulatedMeter:
    return SimulatedMeter.fixed(import_wh=12_345_500, export_wh=987_500, power_w=-1234)


async def _read_exactly(fd: int, count: int, timeout_s: float = 2.0) -> bytes:
    """`count` bytes from `fd` as the event loop (and so the cable) runs."""
    loop = asyncio.get_running_loop()
    data = bytearray()
    done = loop.create_future()

    def ready() -> None:
        data.extend(os.read(fd, count - len(data)))
        if len(data) >= count and not done.done():
            done.set_result(None)

    loop.add_reader(fd, ready)
    try:
        await asyncio.wait_for(done, timeout_s)
    finally:
        loop.remove_reader(fd)
    return bytes(data)


async def test_cable_carries_every_byte_value_both_ways_unaltered() -> None:
    frame = bytes(range(256))  # CR, LF, NUL, XON/XOFF, ^C ... all pass untouched
    async with PtyNullModem() as cable:
        assert cable.server_end != cable.gateway_end
        a = os.open(cable.server_end, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        b = os.open(cable.gateway_end, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            for src, dst in ((a, b), (b, a)):
                os.write(src, frame)
                assert await _read_exactly(dst, len(frame)) == frame
                with pytest.raises(TimeoutError):  # no echo back to the sender
                    await _read_exactly(src, 1, timeout_s=0.05)
        finally:
            os.close(a)
            os.close(b)
    with pytest.raises(RuntimeError, match="not plugged in"):
        _ = cable.gateway_end


async def _read(client: AsyncModbusSerialClient, unit: int, fc: int, start: int, count: int) -> Any:
    if fc == 3:
        return await client.read_holding_registers(start, count=count, device_id=unit)
    return await client.read_input_registers(start, count=count, device_id=unit)


async def _poll(client: AsyncModbusSerialClient, unit: int, regmap: RegisterMap) -> MeterValues:
    """What a gateway does: locate (SunSpec), read the blocks, decode."""
    words: dict[int, int] = {}
    while (step := regmap.discover(words)).origin is None:
        assert step.next_read is not None
        fc, start, count = step.next_read
        response = await _read(client, unit, fc, start, count)
        words.update(zip(range(start, start + count), response.registers, strict=True))
    regmap = regmap.located(step.origin)
    for fc, start, count in regmap.read_blocks():
        response = await _read(client, unit, fc, start, count)
        assert not response.isError()
        words.update(zip(range(start, start + count), response.registers, strict=True))
    return regmap.decode(words)


async def test_rtu_serves_every_map_and_its_faults() -> None:
    maps = {1: "sdm630", 2: "sdm120", 3: "sunspec203"}
    async with (
        PtyNullModem() as cable,
        ModbusSimRtuServer(
            {unit: _fixed() for unit in maps}, map_name=maps, device=cable.server_end
        ) as sim,
    ):
        assert sim.device == cable.server_end
        with pytest.raises(RuntimeError, match="no TCP port"):
            _ = sim.port
        client = AsyncModbusSerialClient(cable.gateway_end, timeout=0.2, retries=0)
        assert await client.connect()
        try:
            for unit, name in maps.items():
                assert await _poll(client, unit, load_map(name)) == EXPECTED, name

            sim.inject(1, Fault.EXCEPTION, exception_code=6)
            response = await client.read_input_registers(0x48, count=4, device_id=1)
            assert (response.isError(), response.exception_code) == (True, 6)
            assert not (await client.read_input_registers(0x48, count=4, device_id=2)).isError()
            sim.clear(1)

            for fault in (Fault.TIMEOUT, Fault.CORRUPT_FRAME):
                sim.inject(1, fault)
                with pytest.raises(ModbusIOException):
                    await client.read_input_registers(0x48, count=4, device_id=1)
                sim.clear(1)
                client.close()  # drop any half-read frame, as the gateway does
                assert await client.connect()
            assert await _poll(client, 1, load_map("sdm630")) == EXPECTED

            # On a serial bus nobody answers for an absent unit (TCP gets 0x0B).
            with pytest.raises(ModbusIOException):
                await client.read_input_registers(0x48, count=4, device_id=99)
        finally:
            client.close()


async def test_cli_serves_rtu_on_a_pty_that_the_gateway_reads() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "device_sim.cli",
        "serve",
        "--rtu-pty",
        "--meters",
        "2",
        "--map",
        "sunspec203",  # integer Wh accumulators: exact (the SDM's float32 kWh rounds)
        "--start",
        str(START_S),
        "--accel",
        "1e-9",  # the simulated clock stands still for the test's length
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        lines = []
        async with asyncio.timeout(30):  # interpreter start-up and imports
            while not (line := (await proc.stdout.readline()).decode()).startswith("serving"):
                assert line, "gtx-sim exited before serving"
                lines.append(line)
        devices = {re.match(r"device (\S+) unit +(\d+) ", line).groups() for line in lines}  # type: ignore[union-attr]
        assert {unit for _, unit in devices} == {"1", "2"}
        (device,) = {path for path, _ in devices}  # one bus
        client = AsyncModbusSerialClient(device, timeout=1, retries=0)
        assert await client.connect()
        fleet = build_fleet(2, utc_offset_s=7 * 3600, map_name="sunspec203")  # the CLI's defaults
        try:
            for member in fleet:
                shown = member.meter.snapshot(START_S * 1000)
                values = await _poll(client, member.unit_id, load_map("sunspec203"))
                assert values == MeterValues(shown.import_wh, shown.export_wh, shown.power_w)
        finally:
            client.close()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            assert await proc.wait() == 0
