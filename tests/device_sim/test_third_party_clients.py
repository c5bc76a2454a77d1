"""Clients other than pymodbus read the simulator at the manufacturers' published
addresses: a raw-socket Modbus TCP client written here, and Debian's `mbpoll`."""

import asyncio
import re
import struct
from collections.abc import Awaitable, Callable

from device_sim.clock import SimClock
from device_sim.fleet import FleetMember, build_fleet
from device_sim.server import ModbusSimServer
from tests.utils.modbus_tcp import ModbusException, RawModbusTcp
from tests.utils.published_maps import (
    SDM120,
    SDM120_BLOCKS,
    SDM630,
    SDM630_BLOCKS,
    check_sdm120,
    check_sdm630,
)
from tests.utils.tools import require_tool

# 2023-11-15, 05:30 UTC: 12:30 on campus (UTC+7), the sun up, the load near its peak.
NOON_S = 1_700_026_200
UTC_OFFSET_S = 7 * 3600
ILLEGAL_DATA_ADDRESS = 2


def _fleet() -> list[FleetMember]:
    # Six meters: sdm630, sdm120, sunspec203, twice over, each with its serial number.
    return build_fleet(6, seed=5, utc_offset_s=UTC_OFFSET_S)


def _serve(body: Callable[[ModbusSimServer, list[FleetMember]], Awaitable[None]]) -> None:
    fleet = _fleet()

    async def main() -> None:
        # The clock stands still, so every read sees the same instant.
        clock = SimClock(start_s=NOON_S, time_source=lambda: 0.0)
        async with ModbusSimServer(
            {m.unit_id: m.meter for m in fleet},
            map_name={m.unit_id: m.map_name for m in fleet},
            serials={m.unit_id: m.serial for m in fleet},
            clock=clock,
        ) as server:
            await body(server, fleet)

    asyncio.run(main())


def _floats(words: list[int], start: int) -> dict[int, float]:
    return {
        start + a: struct.unpack(">f", struct.pack(">HH", words[a], words[a + 1]))[0]
        for a in range(0, len(words), 2)
    }


def _text(words: list[int]) -> str:
    return b"".join(w.to_bytes(2, "big") for w in words).rstrip(b"\0").decode()


def test_a_raw_socket_client_reads_consistent_values_at_the_published_addresses() -> None:
    async def body(server: ModbusSimServer, fleet: list[FleetMember]) -> None:
        async with RawModbusTcp("127.0.0.1", server.port) as client:
            for member in fleet:
                unit = member.unit_id
                if member.map_name == "sunspec203":
                    await _check_sunspec(client, member)
                    continue
                blocks = SDM630_BLOCKS if member.map_name == "sdm630" else SDM120_BLOCKS
                values: dict[int, float] = {}
                for start, count in blocks:
                    words = await client.read(unit=unit, function=4, address=start, count=count)
                    assert isinstance(words, list), (member.map_name, start, words)
                    values.update(_floats(words, start))
                if member.map_name == "sdm630":
                    check_sdm630(values)
                    assert values[SDM630.one["p_total"]] == server.snapshot(unit).power_w
                else:
                    check_sdm120(values)
                    assert values[SDM120.each["p"][0]] == server.snapshot(unit).power_w
                assert abs(values[0x48] * 1000 - server.snapshot(unit).import_wh) <= 4
                serial = await client.read(unit=unit, function=3, address=0xFC00, count=2)
                assert serial == [member.serial >> 16, member.serial & 0xFFFF]
                address = await client.read(unit=unit, function=3, address=0x0014, count=2)
                assert isinstance(address, list)
                assert _floats(address, 0)[0] == unit
            # What neither meter publishes is refused, as the meters refuse it.
            for unit, start in ((2, 0x0002), (2, 0x0034), (1, 0x002C), (1, 0x0180)):
                refused = await client.read(unit=unit, function=4, address=start, count=2)
                assert refused == ModbusException(ILLEGAL_DATA_ADDRESS), (unit, hex(start))

    _serve(body)


async def _check_sunspec(client: RawModbusTcp, member: FleetMember) -> None:
    unit = member.unit_id
    head = await client.read(unit=unit, function=3, address=40000, count=72)
    assert isinstance(head, list)
    assert head[:4] == [0x5375, 0x6E53, 1, 66]  # "SunS", common model, 66 long
    assert _text(head[4 + 48 : 4 + 64]) == str(member.serial)
    assert head[4 + 64] == unit  # the device address
    assert head[70:72] == [203, 105]
    model = await client.read(unit=unit, function=3, address=40072, count=107)
    assert isinstance(model, list)
    assert model[105:107] == [0xFFFF, 0]  # the end marker
    sf = model[52]
    assert sf != 0x8000
    # acc32 energy counters: implemented (never 0x8000 0x8000), import in Wh * 10^sf.
    for offset in range(36, 52, 2):
        assert model[offset] != 0x8000 or model[offset + 1] != 0x8000


def _mbpoll_values(output: str) -> dict[int, float]:
    return {int(a): float(v) for a, v in re.findall(r"^\[(\d+)\]:\s+(\S+)$", output, re.M)}


async def _mbpoll(port: int, unit: int, *args: str) -> tuple[int, str, str]:
    mbpoll = require_tool("mbpoll", "a third-party Modbus client reads the simulator")
    process = await asyncio.create_subprocess_exec(
        mbpoll,
        *("-m", "tcp", "-p", str(port), "-a", str(unit), "-0", "-1", "-o", "2", *args),
        "127.0.0.1",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def test_mbpoll_reads_consistent_values_at_the_published_addresses() -> None:
    require_tool("mbpoll", "a third-party Modbus client reads the simulator")

    async def body(server: ModbusSimServer, fleet: list[FleetMember]) -> None:
        port = server.port
        for member in fleet:
            unit = member.unit_id
            if member.map_name == "sunspec203":
                code, out, err = await _mbpoll(port, unit, "-t", "4:hex", "-r", "40000", "-c", "72")
                assert code == 0, err
                words = [int(v, 16) for v in re.findall(r"^\[\d+\]:\s+0x([0-9A-F]+)$", out, re.M)]
                assert words[:4] == [0x5375, 0x6E53, 1, 66]
                assert _text(words[52:68]) == str(member.serial)
                assert words[68] == unit
                continue
            blocks = SDM630_BLOCKS if member.map_name == "sdm630" else SDM120_BLOCKS
            values: dict[int, float] = {}
            for start, count in blocks:
                code, out, err = await _mbpoll(
                    port, unit, "-t", "3:float", "-B", "-r", str(start), "-c", str(count // 2)
                )
                assert code == 0, err
                values.update(_mbpoll_values(out))
            (check_sdm630 if member.map_name == "sdm630" else check_sdm120)(values)
            code, out, err = await _mbpoll(port, unit, "-t", "4:int", "-B", "-r", "0xFC00")
            assert code == 0, err
            assert _mbpoll_values(out) == {0xFC00: member.serial}
        # A single-phase meter has no phase 2: mbpoll is told so, not given 0.0.
        code, out, err = await _mbpoll(port, 2, "-t", "3:float", "-B", "-r", "2", "-c", "1")
        assert code != 0
        assert "Illegal data address" in err

    _serve(body)
