"""Which webhook destinations may be reached, and when a failed delivery is tried again.

A webhook URL names a host the coordinator connects to from inside the campus
network: without a rule, any user could make it call the database, the broker
or a cloud metadata service (server-side request forgery). `refusal` refuses
every address that is not globally routable (loopback, private, link-local,
multicast, reserved, unspecified, shared) unless the operator allows private
addresses or lists the network; it is checked when the URL is saved and again
against the address actually resolved at each delivery, so a name that later
resolves elsewhere (DNS rebinding) is refused then.
"""

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from coordinator.notify.errors import DestinationRefusedError

__all__ = [
    "AddressPolicy",
    "IpAddress",
    "IpNetwork",
    "Retry",
    "WebhookTarget",
    "parse_networks",
    "parse_webhook_url",
]

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> tuple[IpNetwork, ...]:
    """Comma-separated CIDRs ("10.1.0.0/16, fd00::/8"); ValueError names a bad one."""
    return tuple(ipaddress.ip_network(part.strip()) for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class WebhookTarget:
    url: str
    scheme: str
    host: str
    port: int


def parse_webhook_url(url: str) -> WebhookTarget:
    """An http(s) URL with a host and no credentials in it, or DestinationRefusedError."""
    if len(url) > 2000:
        raise DestinationRefusedError("the webhook URL is longer than 2000 characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefusedError(f"the webhook URL is not valid: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise DestinationRefusedError("the webhook URL must start with https:// or http://")
    if not parts.hostname:
        raise DestinationRefusedError("the webhook URL has no host")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefusedError("the webhook URL must not carry a user name or password")
    default = 443 if parts.scheme == "https" else 80
    return WebhookTarget(url, parts.scheme, parts.hostname, port or default)


@dataclass(frozen=True, slots=True)
class AddressPolicy:
    """`allow_private`: every address may be reached (a test or a closed campus
    network); `allowed`: networks reachable even though not global."""

    allow_private: bool = False
    allowed: Sequence[IpNetwork] = ()

    def refusal(self, address: IpAddress) -> str | None:
        """Why `address` may not be reached, in words; None if it may."""
        if self.allow_private or any(address in net for net in self.allowed):
            return None
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return self.refusal(address.ipv4_mapped)
        for test, what in (
            (address.is_loopback, "a loopback"),
            (address.is_link_local, "a link-local"),
            (address.is_multicast, "a multicast"),
            (address.is_unspecified, "an unspecified"),
            (address.is_private, "a private"),
            (address.is_reserved, "a reserved"),
            (not address.is_global, "a non-public"),
        ):
            if test:
                return f"{address} is {what} address, which webhooks may not reach"
        return None

    def check_all(self, addresses: Sequence[IpAddress]) -> None:
        """DestinationRefusedError unless every one of a name's addresses may be reached
        (one bad answer among good ones is how rebinding hides)."""
        if not addresses:
            raise DestinationRefusedError("the webhook host has no address")
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                raise DestinationRefusedError(why)


@dataclass(frozen=True, slots=True)
class Retry:
    """The retry schedule: attempt n failed waits base * 2**(n-1) seconds, at most
    `cap_s`; after `max_attempts` failed attempts the delivery is parked for an
    operator. Doubling reaches the cap in a few steps, so a receiver that is down
    for an hour is not hammered and one down for a minute is tried again soon."""

    base_s: float = 30.0
    cap_s: float = 3600.0
    max_attempts: int = 10

    def delay_s(self, attempts: int) -> float:
        """Seconds to wait after the `attempts`-th failed attempt (attempts >= 1)."""
        exponent = min(max(attempts - 1, 0), 32)
        return float(min(self.cap_s, self.base_s * 2**exponent))

    def parks(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
