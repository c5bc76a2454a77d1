"""A real pymodbus client reads simulated meters over TCP, faults included."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from device_sim.clock import SimClock
from device_sim.encoding import CLOCK_ADDRESS
from device_sim.faults import Fault
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.registermap import MeterValues, RegisterMap, load_map

START_S = 1_700_000_000


def _fixed() -> SimulatedMeter:
    return SimulatedMeter.fixed(import_wh=12_345_500, export_wh=987_500, power_w=-1234)


async def _read(client: AsyncModbusTcpClient, unit: int, fc: int, start: int, count: int) -> Any:
    if fc == 3:
        return await client.read_holding_registers(start, count=count, device_id=unit)
    return await client.read_input_registers(start, count=count, device_id=unit)


async def _poll(client: AsyncModbusTcpClient, unit: int, regmap: RegisterMap) -> MeterValues:
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


def _run(
    body: Callable[[ModbusSimServer, AsyncModbusTcpClient], Awaitable[None]],
    meters: dict[int, SimulatedMeter],
    map_name: str | dict[int, str] = "sdm630",
    clock: SimClock | None = None,
) -> None:
    async def main() -> None:
        async with ModbusSimServer(meters, map_name=map_name, clock=clock) as server:
            client = AsyncModbusTcpClient(
                "127.0.0.1", port=server.port, timeout=0.2, retries=0, reconnect_delay=0
            )
            assert await client.connect()
            try:
                await body(server, client)
            finally:
                client.close()
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert leftover == []

    asyncio.run(main())


def test_reads_every_map_including_sunspec_discovery() -> None:
    maps = {1: "sdm630", 2: "sdm120", 3: "sunspec203"}

    async def body(server: ModbusSimServer, client: AsyncModbusTcpClient) -> None:
        assert server.port > 0
        for unit, name in maps.items():
            values = await _poll(client, unit, load_map(name))
            assert values == MeterValues(12_345_500, 987_500, -1234), name

    _run(body, {unit: _fixed() for unit in maps}, maps)


def test_counters_advance_with_the_accelerated_clock() -> None:
    now = [0.0]
    clock = SimClock(start_s=START_S, accel=3600, time_source=lambda: now[0])

    async def body(server: ModbusSimServer, client: AsyncModbusTcpClient) -> None:
        regmap = load_map("sdm630")
        before = await _poll(client, 1, regmap)
        now[0] += 1.0  # one simulated hour
        after = await _poll(client, 1, regmap)
        assert after.import_wh - before.import_wh == 2000
        clock_words = await client.read_holding_registers(CLOCK_ADDRESS, count=2, device_id=1)
        assert (clock_words.registers[0] << 16) | clock_words.registers[1] == START_S + 3600

    _run(body, {1: SimulatedMeter.constant_power(2000, import_wh=100)}, clock=clock)


def test_transport_faults_are_observable() -> None:
    async def body(server: ModbusSimServer, client: AsyncModbusTcpClient) -> None:
        server.inject(1, Fault.TIMEOUT)
        with pytest.raises(ModbusIOException):
            await client.read_input_registers(0x48, count=4, device_id=1)
        server.clear(1, Fault.TIMEOUT)

        server.inject(1, Fault.EXCEPTION, exception_code=6)
        response = await client.read_input_registers(0x48, count=4, device_id=1)
        assert response.isError()
        assert response.exception_code == 6
        server.clear(1)

        server.inject(1, Fault.CORRUPT_FRAME)
        with pytest.raises(ModbusIOException):
            await client.read_input_registers(0x48, count=4, device_id=1)
        server.clear(1)
        # pymodbus drops the connection on an undecodable frame: reconnect, as a gateway would.
        client.close()
        assert await client.connect()

        # Unit 2 was never affected, and unit 1 answers again once cleared.
        assert not (await client.read_input_registers(0x48, count=4, device_id=2)).isError()
        assert await _poll(client, 1, load_map("sdm630")) == MeterValues(12_345_500, 987_500, -1234)
        unknown = await client.read_input_registers(0x48, count=4, device_id=99)
        assert unknown.isError()
        assert unknown.exception_code == 0x0B

    _run(body, {1: _fixed(), 2: _fixed()})


def test_meter_faults_are_observable() -> None:
    now = [0.0]
    clock = SimClock(start_s=START_S, accel=3600, time_source=lambda: now[0])

    async def body(server: ModbusSimServer, client: AsyncModbusTcpClient) -> None:
        regmap = load_map("sunspec203")
        assert (await _poll(client, 1, regmap)).import_wh == 1_000_000
        server.inject(1, Fault.COUNTER_STUCK)
        now[0] += 1.0
        stuck = await _poll(client, 1, regmap)
        assert (stuck.import_wh, stuck.power_w) == (1_000_000, 1000)
        server.clear(1, Fault.COUNTER_STUCK)
        assert (await _poll(client, 1, regmap)).import_wh == 1_001_000

        server.inject(1, Fault.METER_REPLACED, import_wh=5)
        assert (await _poll(client, 1, regmap)).import_wh == 5

        server.inject(1, Fault.CLOCK_DRIFT, drift_s=-600)
        words = (await client.read_holding_registers(CLOCK_ADDRESS, count=2, device_id=1)).registers
        assert (words[0] << 16) | words[1] == START_S + 3600 - 600

    _run(
        body,
        {1: SimulatedMeter.constant_power(1000, import_wh=1_000_000)},
        "sunspec203",
        clock=clock,
    )
