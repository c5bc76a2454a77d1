"""A Modbus TCP client on raw asyncio streams, written for the tests from the spec.

Not pymodbus: it frames requests and parses answers itself, so a test can
read the simulator the way any third-party client would.

    async with RawModbusTcp("127.0.0.1", port) as client:
        words = await client.read(unit=1, function=4, address=0x48, count=4)
        # a list of words, or ModbusException(code) for an exception answer
"""

import asyncio
import struct
from dataclasses import dataclass
from types import TracebackType
from typing import Self

__all__ = ["ModbusException", "RawModbusTcp"]

_READ_FUNCTIONS = (3, 4)


@dataclass(frozen=True)
class ModbusException:
    """An exception answer: the function code with its high bit set, and the code."""

    code: int


class RawModbusTcp:
    """One connection; requests one at a time, each checked against its answer."""

    def __init__(self, host: str, port: int, *, timeout_s: float = 2.0) -> None:
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        self._transaction = 0
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def __aenter__(self) -> Self:
        self._streams = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            writer.close()
            await writer.wait_closed()
            self._streams = None

    async def read(
        self, *, unit: int, function: int, address: int, count: int
    ) -> list[int] | ModbusException:
        """Read `count` registers (function 3: holding, 4: input) from `address`."""
        if function not in _READ_FUNCTIONS:
            raise ValueError("only the register reads (3, 4)")
        if self._streams is None:
            raise RuntimeError("not connected (use `async with`)")
        reader, writer = self._streams
        self._transaction = (self._transaction + 1) & 0xFFFF
        pdu = struct.pack(">BHH", function, address, count)
        # MBAP header: transaction, protocol 0, length of what follows (unit + PDU), unit.
        writer.write(struct.pack(">HHHB", self._transaction, 0, len(pdu) + 1, unit) + pdu)
        await writer.drain()
        async with asyncio.timeout(self._timeout_s):
            header = await reader.readexactly(7)
            transaction, protocol, length, answered_unit = struct.unpack(">HHHB", header)
            body = await reader.readexactly(length - 1)
        assert (transaction, protocol, answered_unit) == (self._transaction, 0, unit), header
        if body[0] == function | 0x80:
            assert len(body) == 2, body
            return ModbusException(body[1])
        assert body[0] == function, body
        assert body[1] == 2 * count == len(body) - 2, body
        return list(struct.unpack(f">{count}H", body[2:]))
