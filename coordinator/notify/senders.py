"""The two ways out: SMTP for emails, HTTP POST for webhooks. Each translates its
library's failures into `DeliveryError` in one place; neither decides anything
the pure core decides (words, signature, which addresses may be reached).
"""

import asyncio
import contextlib
import email.utils
import ipaddress
import smtplib
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import httpx

from coordinator.notify.errors import DeliveryError, DestinationRefusedError
from coordinator.notify.events import Delivery
from coordinator.notify.messages import email_for, webhook_body, webhook_headers
from coordinator.notify.policy import AddressPolicy, IpAddress, parse_webhook_url

__all__ = [
    "EmailSender",
    "Resolve",
    "SmtpConfig",
    "WebhookSender",
    "check_webhook_url",
    "resolve_host",
]

RESOLVE_TIMEOUT_S = 5.0

Resolve = Callable[[str, int], Awaitable[list[IpAddress]]]
"""Resolve (host, port) to its addresses."""


async def resolve_host(host: str, port: int) -> list[IpAddress]:
    """Every address `host` resolves to (an IP literal is itself)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_S):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except TimeoutError as exc:
        raise DestinationRefusedError(f"the webhook host {host} did not resolve in time") from exc
    except (OSError, UnicodeError, ValueError) as exc:  # no such name; not a name at all
        raise DestinationRefusedError(f"the webhook host {host} does not resolve: {exc}") from exc
    found: list[IpAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


async def check_webhook_url(
    url: str, policy: AddressPolicy, resolve: Resolve = resolve_host
) -> list[IpAddress]:
    """The URL's addresses if the policy lets webhooks reach all of them, else
    DestinationRefusedError saying why (when the URL is saved, and at each delivery)."""
    target = parse_webhook_url(url)
    addresses = await resolve(target.host, target.port)
    policy.check_all(addresses)
    return addresses


class Sender(Protocol):
    async def send(self, delivery: Delivery, destination: str, secret: str | None) -> None:
        """Deliver or raise DeliveryError / DestinationRefusedError."""


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    security: str = "starttls"  # starttls | tls | none
    username: str | None = None
    password: str | None = None
    sender: str = "GridTokenX <notifications@gridtokenx.invalid>"
    timeout_s: float = 10.0

    @property
    def domain(self) -> str:
        """The domain of the From address: Message-IDs are made in it."""
        address = email.utils.parseaddr(self.sender)[1]
        return address.rsplit("@", 1)[1] if "@" in address else "gridtokenx.invalid"


@contextlib.contextmanager
def _smtp_errors() -> Iterator[None]:
    try:
        yield
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"SMTP server refused the recipient: {exc.recipients}") from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"SMTP server unreachable or failed: {exc}") from exc


class EmailSender:
    """Plain-text emails over SMTP (smtplib, in a thread: one connection per
    message, which a campus's volume allows and which leaves nothing to go stale)."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    def message(self, delivery: Delivery, to: str) -> EmailMessage:
        rendered = email_for(delivery, self._config.domain)
        msg = EmailMessage()
        msg["From"] = self._config.sender
        msg["To"] = to
        msg["Subject"] = rendered.subject
        msg["Message-ID"] = rendered.message_id
        msg["Date"] = email.utils.formatdate(time.time(), usegmt=True)
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-GTX-Delivery"] = delivery.key
        msg.set_content(rendered.body)
        return msg

    def _send(self, msg: EmailMessage) -> None:
        c = self._config
        with _smtp_errors():
            if c.security == "tls":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    c.host, c.port, timeout=c.timeout_s, context=ssl.create_default_context()
                )
            else:
                client = smtplib.SMTP(c.host, c.port, timeout=c.timeout_s)
            with client:
                if c.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if c.username is not None and c.password is not None:
                    client.login(c.username, c.password)
                client.send_message(msg)

    async def send(self, delivery: Delivery, destination: str, secret: str | None) -> None:
        await asyncio.to_thread(self._send, self.message(delivery, destination))


class WebhookSender:
    """Signed JSON POSTs. The host is resolved here and every address checked
    against the policy; the request then goes to the checked address (the name
    kept in Host and, for https, in SNI and certificate checking), so a name
    that resolves elsewhere between check and connect cannot steer it.
    Redirects are not followed: they could point anywhere."""

    def __init__(
        self,
        policy: AddressPolicy,
        *,
        timeout_s: float = 10.0,
        resolve: Resolve = resolve_host,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._policy = policy
        self._timeout_s = timeout_s
        self._resolve = resolve
        self._clock = clock

    async def send(self, delivery: Delivery, destination: str, secret: str | None) -> None:
        if secret is None:
            raise DeliveryError("no webhook secret on record")
        target = parse_webhook_url(destination)
        addresses = await check_webhook_url(destination, self._policy, self._resolve)
        address = addresses[0]
        default_port = 443 if target.scheme == "https" else 80
        host_header = target.host if target.port == default_port else f"{target.host}:{target.port}"
        body = webhook_body(delivery)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GridTokenX-notify/1",
            "Host": host_header,
            **webhook_headers(delivery, secret, int(self._clock())),
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            # To the checked address; the name stays in Host (and SNI, for https).
            url = httpx.URL(destination).copy_with(host=str(address))
            async with httpx.AsyncClient(timeout=self._timeout_s, follow_redirects=False,
                                         trust_env=False) as client:  # fmt: skip
                response = await client.post(
                    url, content=body, headers=headers, extensions=extensions
                )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(
                f"webhook answered HTTP {response.status_code}: {response.text[:200]!r}"
            )
