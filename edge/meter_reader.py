"""Reading a meter's registers over Modbus TCP with pymodbus.

`MeterReader` is the small interface the agent polls through; the Modbus
implementation keeps one client per meter endpoint and translates every
pymodbus failure into MeterError in one place.
"""

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.config import MeterConfig
from edge.errors import MeterError
from edge.registermap import MeterValues, RegisterMap, load_map
from edge.registers import RegisterError

__all__ = ["MeterReader", "ModbusMeterReader"]


class MeterReader(Protocol):
    async def read(self, meter: MeterConfig) -> MeterValues:
        """The meter's current values; raises MeterError."""
        ...


@contextlib.contextmanager
def _modbus_errors(meter: MeterConfig) -> Iterator[None]:
    try:
        yield
    except (ModbusException, RegisterError, OSError, TimeoutError) as exc:
        raise MeterError(f"meter {meter.meter_id}: {exc}") from exc


class ModbusMeterReader:
    """`async with ModbusMeterReader() as reader: await reader.read(meter)`."""

    def __init__(self, *, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._clients: dict[tuple[str, int], AsyncModbusTcpClient] = {}
        self._maps: dict[str, RegisterMap] = {}
        # Maps located on each meter (SunSpec models sit at a per-device address).
        self._located: dict[str, RegisterMap] = {}

    async def __aenter__(self) -> "ModbusMeterReader":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()

    def _map(self, name: str) -> RegisterMap:
        if name not in self._maps:
            self._maps[name] = load_map(name)
        return self._maps[name]

    async def _client(self, meter: MeterConfig) -> AsyncModbusTcpClient:
        key = (meter.host, meter.port)
        client = self._clients.get(key)
        if client is None:
            # retries=0: the agent owns the retry policy (backoff per meter).
            client = AsyncModbusTcpClient(
                meter.host, port=meter.port, timeout=self._timeout_s, retries=0
            )
            self._clients[key] = client
        if not client.connected and not await client.connect():
            raise MeterError(f"meter {meter.meter_id}: cannot connect to {meter.host}:{meter.port}")
        return client

    async def read(self, meter: MeterConfig) -> MeterValues:
        with _modbus_errors(meter):
            client = await self._client(meter)
            regmap = self._located.get(meter.meter_id)
            if regmap is None:
                regmap = await _locate(client, meter, self._map(meter.register_map))
                self._located[meter.meter_id] = regmap
            words: dict[int, int] = {}
            for function, start, count in regmap.read_blocks():
                async for address, word in _read_block(client, meter, function, start, count):
                    words[address] = word
            return regmap.decode(words)

    def forget(self, meter_id: str) -> None:
        """Re-discover the meter's register layout on the next read (meter replaced)."""
        self._located.pop(meter_id, None)


async def _locate(
    client: AsyncModbusTcpClient, meter: MeterConfig, regmap: RegisterMap
) -> RegisterMap:
    """Walk the device's model chain (SunSpec) until the map's registers are found."""
    words: dict[int, int] = {}
    while True:
        found = regmap.discover(words)
        if found.origin is not None:
            return regmap.located(found.origin)
        if found.next_read is None:
            raise MeterError(f"meter {meter.meter_id}: register map cannot be located")
        function, start, count = found.next_read
        async for address, word in _read_block(client, meter, function, start, count):
            words[address] = word


async def _read_block(
    client: AsyncModbusTcpClient, meter: MeterConfig, function: int, start: int, count: int
) -> AsyncIterator[tuple[int, int]]:
    if function == 4:
        response = await client.read_input_registers(start, count=count, device_id=meter.unit_id)
    elif function == 3:
        response = await client.read_holding_registers(start, count=count, device_id=meter.unit_id)
    else:
        raise MeterError(f"meter {meter.meter_id}: unsupported function code {function}")
    if response.isError():
        raise MeterError(f"meter {meter.meter_id}: Modbus exception response {response}")
    if len(response.registers) != count:
        raise MeterError(f"meter {meter.meter_id}: short response for {count} registers")
    for offset, word in enumerate(response.registers):
        yield start + offset, word
