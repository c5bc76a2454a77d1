"""Reading a meter's registers over Modbus (TCP, or RTU on a serial port) with pymodbus.

`MeterReader` is the small interface the agent polls through. The Modbus
implementation keeps one client (one TCP connection) per meter, so a silent
meter holds only its own connection's lock and never delays the others, and
it translates every failure into a `MeterReadError` carrying the `Outcome`
in one place. After any transport failure the client is closed and a fresh
one connects on the next attempt: pymodbus drops the connection after a
corrupted frame, and a half-answered request must not leak into the next.

A response that arrived but could not be parsed is told apart from no
response at all by watching the client's received bytes (`trace_packet`).
The same hook checks a TCP answer against its request as its bytes arrive
(`edge.modbus_frames`): an answer already known to be wrong (a byte count
that disagrees with the length, a length no answer can have, another
transaction's answer) fails the request at once as a corrupt frame, instead
of at the response timeout, and pymodbus never sees it.

`ScriptedMeterReader` is the in-memory stand-in for tests: each meter follows
a script from attempt number to sample (or exception).
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol, TypeVar

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException

from edge.config import MeterConfig
from edge.errors import MeterError
from edge.modbus_frames import answer_problem
from edge.registermap import MeterValues, RegisterMap, load_map
from edge.registers_sunspec import words_to_uint32
from wire.health import Outcome

__all__ = [
    "MeterReadError",
    "MeterReader",
    "MeterSample",
    "ModbusMeterReader",
    "Script",
    "ScriptedMeterReader",
]


class MeterReadError(MeterError):
    """One attempt to read a meter failed; `outcome` says how."""

    def __init__(self, outcome: Outcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome = outcome


@dataclass(frozen=True, slots=True)
class MeterSample:
    """One successful read: the values and, if the meter keeps time, its clock."""

    values: MeterValues
    meter_ts: int | None = None


class MeterReader(Protocol):
    async def read(self, meter: MeterConfig) -> MeterSample:
        """The meter's current values; raises MeterReadError."""
        ...


# A meter's behaviour for ScriptedMeterReader: attempt number (from 1) to the
# sample read, or raises (MeterReadError, or anything a reader might).
Script = Callable[[int], MeterSample]


class ScriptedMeterReader:
    """MeterReader in memory: each meter follows its script; `attempts` counts the
    reads of each meter. Every read yields to the event loop once, as I/O would."""

    def __init__(self, scripts: Mapping[str, Script]) -> None:
        self.scripts = dict(scripts)
        self.attempts: dict[str, int] = {}

    async def read(self, meter: MeterConfig) -> MeterSample:
        n = self.attempts[meter.meter_id] = self.attempts.get(meter.meter_id, 0) + 1
        await asyncio.sleep(0)
        return self.scripts[meter.meter_id](n)


_Client = AsyncModbusTcpClient | AsyncModbusSerialClient
_T = TypeVar("_T")


class _Connection:
    """A meter's client, whether any bytes came back since the reader last
    cleared `received`, and why the current request has already failed, if
    it has: its answer is known to be wrong (TCP), or the meter hung up."""

    def __init__(self, meter: MeterConfig, timeout_s: float) -> None:
        self.received = False
        self._request = b""
        self._failed: asyncio.Future[MeterReadError] | None = None
        self._meter_id = meter.meter_id
        self._check_answers = meter.transport == "tcp"
        self.client: _Client
        if meter.transport == "serial":
            assert meter.device is not None  # the config guarantees it
            self.client = AsyncModbusSerialClient(
                meter.device,
                baudrate=meter.baudrate,
                timeout=timeout_s,
                retries=0,
                trace_packet=self._trace,
                trace_connect=self._trace_connect,
            )
        else:
            # retries=0: the agent owns the retry policy (backoff per meter).
            self.client = AsyncModbusTcpClient(
                meter.host,
                port=meter.port,
                timeout=timeout_s,
                retries=0,
                trace_packet=self._trace,
                trace_connect=self._trace_connect,
            )

    def _fail(self, outcome: Outcome, detail: str) -> None:
        failed = self._failed
        if failed is not None and not failed.done():
            failed.set_result(MeterReadError(outcome, f"meter {self._meter_id}: {detail}"))

    def _trace(self, sending: bool, data: bytes) -> bytes:
        if sending:
            self._request = data
            return data
        if data:
            self.received = True
        if self._check_answers:
            problem = answer_problem(self._request, data)
            if problem is not None:
                self._fail(Outcome.CORRUPT_FRAME, problem)
                return b""  # an answer known to be wrong never reaches pymodbus' decoder
        return data

    def _trace_connect(self, connected: bool) -> None:
        if not connected:
            if self.received:
                self._fail(Outcome.CORRUPT_FRAME, "the meter hung up in the middle of an answer")
            else:
                self._fail(Outcome.UNREACHABLE, "the meter hung up without answering")

    async def exchange(self, request: Awaitable[_T]) -> _T:
        """Await the pymodbus request, or fail as soon as it is known to have failed."""
        self._failed = failed = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(request)
        try:
            await asyncio.wait({task, failed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._failed = None
            if not task.done():
                task.cancel()
        if failed.done():
            await asyncio.gather(task, return_exceptions=True)
            raise failed.result()
        failed.cancel()
        return task.result()


class ModbusMeterReader:
    """`async with ModbusMeterReader() as reader: await reader.read(meter)`."""

    def __init__(self, *, timeout_s: float = 2.0) -> None:
        self._timeout_s = timeout_s
        self._connections: dict[str, _Connection] = {}
        self._maps: dict[str, RegisterMap] = {}
        # Maps located on each meter (SunSpec models sit at a per-device address).
        self._located: dict[str, RegisterMap] = {}

    async def __aenter__(self) -> "ModbusMeterReader":
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for connection in self._connections.values():
            connection.client.close()
        self._connections.clear()

    def _map(self, name: str) -> RegisterMap:
        if name not in self._maps:
            try:
                self._maps[name] = load_map(name)
            except MeterError as exc:  # an unreadable map file is not a meter fault
                raise MeterReadError(Outcome.DECODE_ERROR, str(exc)) from exc
        return self._maps[name]

    def _drop(self, meter_id: str) -> None:
        connection = self._connections.pop(meter_id, None)
        if connection is not None:
            connection.client.close()

    async def _connect(self, meter: MeterConfig) -> _Connection:
        connection = self._connections.get(meter.meter_id)
        if connection is None:
            connection = _Connection(meter, self._timeout_s)
            self._connections[meter.meter_id] = connection
        if not connection.client.connected and not await connection.client.connect():
            self._drop(meter.meter_id)
            where = meter.device if meter.transport == "serial" else f"{meter.host}:{meter.port}"
            raise MeterReadError(
                Outcome.UNREACHABLE, f"meter {meter.meter_id}: cannot connect to {where}"
            )
        connection.received = False
        return connection

    async def read(self, meter: MeterConfig) -> MeterSample:
        connection = await self._connect(meter)
        try:
            return await self._read(connection, meter)
        except MeterReadError as exc:
            if exc.outcome is not Outcome.EXCEPTION and exc.outcome is not Outcome.DECODE_ERROR:
                self._drop(meter.meter_id)
            raise
        except ConnectionException as exc:
            self._drop(meter.meter_id)
            raise MeterReadError(Outcome.UNREACHABLE, f"meter {meter.meter_id}: {exc}") from exc
        except (ModbusException, OSError, TimeoutError) as exc:
            self._drop(meter.meter_id)
            outcome = Outcome.CORRUPT_FRAME if connection.received else Outcome.TIMEOUT
            raise MeterReadError(outcome, f"meter {meter.meter_id}: {exc}") from exc
        except BaseException:
            # Cancelled mid-request (the agent's per-attempt timeout): the
            # connection may still get the stale answer, so start afresh.
            self._drop(meter.meter_id)
            raise

    async def _read(self, connection: _Connection, meter: MeterConfig) -> MeterSample:
        regmap = self._located.get(meter.meter_id)
        if regmap is None:
            regmap = await _locate(connection, meter, self._map(meter.register_map))
            self._located[meter.meter_id] = regmap
        words: dict[int, int] = {}
        for function, start, count in regmap.read_blocks():
            async for address, word in _read_block(connection, meter, function, start, count):
                words[address] = word
        try:
            values = regmap.decode(words)
        except MeterError as exc:
            raise MeterReadError(Outcome.DECODE_ERROR, f"meter {meter.meter_id}: {exc}") from exc
        meter_ts = None
        if meter.clock == "meter":
            clock = [w async for _, w in _read_block(connection, meter, 3, meter.clock_register, 2)]
            meter_ts = words_to_uint32(clock[0], clock[1])
            if meter_ts == 0:
                raise MeterReadError(
                    Outcome.DECODE_ERROR, f"meter {meter.meter_id}: meter clock reads 0"
                )
        return MeterSample(values, meter_ts)

    def forget(self, meter_id: str) -> None:
        """Re-discover the meter's register layout on the next read (meter replaced)."""
        self._located.pop(meter_id, None)


async def _locate(connection: _Connection, meter: MeterConfig, regmap: RegisterMap) -> RegisterMap:
    """Walk the device's model chain (SunSpec) until the map's registers are found."""
    words: dict[int, int] = {}
    while True:
        try:
            found = regmap.discover(words)
        except MeterError as exc:
            raise MeterReadError(Outcome.DECODE_ERROR, f"meter {meter.meter_id}: {exc}") from exc
        if found.origin is not None:
            try:
                return regmap.located(found.origin)
            except ValueError as exc:
                raise MeterReadError(
                    Outcome.DECODE_ERROR, f"meter {meter.meter_id}: {exc}"
                ) from exc
        assert found.next_read is not None  # discover gives one or the other
        function, start, count = found.next_read
        async for address, word in _read_block(connection, meter, function, start, count):
            words[address] = word


async def _read_block(
    connection: _Connection, meter: MeterConfig, function: int, start: int, count: int
) -> AsyncIterator[tuple[int, int]]:
    client = connection.client
    if function == 4:
        response = await connection.exchange(
            client.read_input_registers(start, count=count, device_id=meter.unit_id)
        )
    elif function == 3:
        response = await connection.exchange(
            client.read_holding_registers(start, count=count, device_id=meter.unit_id)
        )
    else:
        raise MeterReadError(
            Outcome.DECODE_ERROR, f"meter {meter.meter_id}: unsupported function code {function}"
        )
    if response.isError():
        code = getattr(response, "exception_code", "?")
        raise MeterReadError(
            Outcome.EXCEPTION, f"meter {meter.meter_id}: Modbus exception code {code}"
        )
    if len(response.registers) != count:
        raise MeterReadError(
            Outcome.CORRUPT_FRAME, f"meter {meter.meter_id}: short response for {count} registers"
        )
    for offset, word in enumerate(response.registers):
        yield start + offset, word
