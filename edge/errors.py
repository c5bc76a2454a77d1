"""Errors of the gateway agent.

    GatewayError
    ├── ConfigError      the caller's mistake: bad config file or key file
    ├── MeterError       the world's: a meter did not answer or answered nonsense
    └── BrokerError      the world's: the MQTT broker is unreachable or refused us
        └── BrokerRefusedError  it answered a publish with a failure reason code

Protocol errors live with the protocol (`wire.reading.ProtocolError`) since
the coordinator raises them too.
"""

__all__ = ["BrokerError", "BrokerRefusedError", "ConfigError", "GatewayError", "MeterError"]


class GatewayError(Exception):
    """Base of every error the gateway agent raises on purpose."""


class ConfigError(GatewayError):
    """The configuration or key file is missing or invalid; the message names what."""


class MeterError(GatewayError):
    """Reading a meter failed: timeout, Modbus exception, or undecodable registers."""


class BrokerError(GatewayError):
    """The MQTT broker could not be reached or refused the connection."""


class BrokerRefusedError(BrokerError):
    """The broker acknowledged a publish with an MQTT 5 failure reason code (not
    authorized, quota exceeded, ...): it did not accept the message, so the
    outbox must keep it."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"broker refused a publish on {topic}: {reason}")
        self.topic = topic
        self.reason = reason
