"""A real SMTP server (aiosmtpd) and a local webhook receiver for the notification
tests, and a database of the module's own (the producer's position is per database)."""

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.engine import Engine

from coordinator.db.session import make_engine
from tests.utils.services import migrated_database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mailbox:
    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
        return "250 OK"

    def snapshot(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.messages)


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes
    path: str


@dataclass
class Receiver:
    """Records each POST; answers `status` (settable)."""

    port: int = 0
    status: int = 200
    hooks: list[Hook] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/gtx-hook"

    def snapshot(self) -> list[Hook]:
        with self.lock:
            return list(self.hooks)

    def keys(self) -> list[str]:
        return [h.headers["x-gtx-delivery"] for h in self.snapshot()]

    def docs(self) -> list[dict[str, object]]:
        return [json.loads(h.body) for h in self.snapshot()]


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with rec.lock:
                rec.hooks.append(
                    Hook({k.lower(): v for k, v in self.headers.items()}, body, self.path)
                )
            self.send_response(rec.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def notify_url() -> Iterator[str]:
    with migrated_database("gtx_notify") as url:
        yield url


@pytest.fixture
def notify_engine(notify_url: str) -> Iterator[Engine]:
    eng = make_engine(notify_url)
    yield eng
    eng.dispose()


@pytest.fixture
def smtp_port(mailbox: Mailbox) -> int:
    return mailbox.port
