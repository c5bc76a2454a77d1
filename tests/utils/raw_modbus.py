"""A Modbus TCP meter written on plain sockets, to misbehave on purpose.

It shares no code with pymodbus, so the gateway's client is tested against an
independent implementation, and it can do what no well-behaved server does:
answer garbage, short, long or inconsistent frames, stop in the middle of a
frame, hang up, go away and come back on the same port.

    def meter(request: Request) -> Action:
        return request.registers(words)          # a well-formed answer
    with RawModbusServer({1: meter}) as server:  # 127.0.0.1:server.port
        ...
        server.go_away()                         # refuses connections, drops the open ones
        server.come_back()                       # listens again on the same port

Each unit id's `Answer` maps the parsed request to an action: bytes to send
(the connection then serves the next request), `SILENCE` (send nothing, keep
the connection open) or `HANG_UP` (close the connection). A unit with no
answer is silent. Requests other than function codes 3 and 4 are answered
with exception 1 (illegal function). The server runs in its own threads, so
a meter that hangs never blocks the event loop under test.
"""

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from types import TracebackType

__all__ = [
    "HANG_UP",
    "SILENCE",
    "Action",
    "Answer",
    "RawModbusServer",
    "Request",
    "float32_words",
    "serve_words",
]


class _Sentinel(Enum):
    SILENCE = "silence"
    HANG_UP = "hang_up"


SILENCE = _Sentinel.SILENCE
HANG_UP = _Sentinel.HANG_UP
Action = bytes | _Sentinel


@dataclass(frozen=True, slots=True)
class Request:
    """A read request as it arrived (MBAP header and PDU)."""

    tid: int
    unit: int
    function: int
    address: int
    count: int

    def frame(
        self,
        pdu: bytes,
        *,
        length: int | None = None,
        protocol: int = 0,
        unit: int | None = None,
        tid: int | None = None,
    ) -> bytes:
        """`pdu` (function code onwards) behind an MBAP header; each header
        field may be overridden to make it wrong."""
        return (
            struct.pack(
                ">HHHB",
                self.tid if tid is None else tid,
                protocol,
                len(pdu) + 1 if length is None else length,
                self.unit if unit is None else unit,
            )
            + pdu
        )

    def registers(self, words: Mapping[int, int]) -> bytes:
        """The well-formed answer: the requested registers from `words`, or
        exception 2 (illegal data address) if any of them is not there."""
        addresses = range(self.address, self.address + self.count)
        if any(a not in words for a in addresses):
            return self.exception(2)
        data = b"".join(struct.pack(">H", words[a]) for a in addresses)
        return self.frame(bytes([self.function, len(data)]) + data)

    def exception(self, code: int) -> bytes:
        """A Modbus exception response with `code`."""
        return self.frame(bytes([self.function | 0x80, code]))


Answer = Callable[[Request], Action]


def serve_words(words: Mapping[int, int]) -> Answer:
    """A meter answering every read from `words` (address -> 16-bit word)."""
    return lambda request: request.registers(words)


def float32_words(value: float) -> tuple[int, int]:
    """`value` as an IEEE-754 float32 in two registers, high word first."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return high, low


class RawModbusServer:
    """Modbus TCP on 127.0.0.1, one thread per connection; see the module docstring.

    `answers` may be changed while the server runs (per unit id); `requests`
    lists every request received, in order.
    """

    def __init__(self, answers: Mapping[int, Answer], *, port: int = 0) -> None:
        self.answers: dict[int, Answer] = dict(answers)
        self.requests: list[Request] = []
        self.port = port
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> "RawModbusServer":
        self.come_back()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.go_away()
        for thread in self._threads:
            thread.join(timeout=5)

    def come_back(self) -> None:
        """Listen (again) on `port` (the first call picks a free port if it is 0)."""
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        with self._lock:
            self._listener = listener
        self._start(self._accept, listener)

    def go_away(self) -> None:
        """Stop listening and drop every open connection, as a meter losing power."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, set()
        if listener is not None:
            _shut(listener)
        for conn in connections:
            _shut(conn)

    def _start(self, target: Callable[[socket.socket], None], sock: socket.socket) -> None:
        thread = threading.Thread(target=target, args=(sock,), daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return  # go_away closed the listener
            with self._lock:
                if self._listener is not listener:
                    conn.close()
                    return
                self._connections.add(conn)
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buffer += data
                while len(buffer) >= 7:
                    length = struct.unpack(">H", buffer[4:6])[0]
                    if len(buffer) < 6 + length:
                        break
                    frame, buffer = buffer[: 6 + length], buffer[6 + length :]
                    if not self._respond(conn, frame):
                        return
        except OSError:
            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            conn.close()

    def _respond(self, conn: socket.socket, frame: bytes) -> bool:
        tid, _, _, unit = struct.unpack(">HHHB", frame[:7])
        function = frame[7] if len(frame) > 7 else 0
        address, count = struct.unpack(">HH", frame[8:12]) if len(frame) >= 12 else (0, 0)
        request = Request(tid, unit, function, address, count)
        self.requests.append(request)
        if function not in (3, 4):
            action: Action = request.exception(1)
        else:
            answer = self.answers.get(unit)
            action = SILENCE if answer is None else answer(request)
        if action is HANG_UP:
            return False
        if isinstance(action, bytes) and action:
            conn.sendall(action)
        return True


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
