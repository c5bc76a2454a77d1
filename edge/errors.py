"""Errors of the gateway agent.

    GatewayError
    ├── ConfigError      the caller's mistake: bad config file or key file
    ├── MeterError       the world's: a meter did not answer or answered nonsense
    └── BrokerError      the world's: the MQTT broker is unreachable or refused us

Protocol errors live with the protocol (`wire.reading.ProtocolError`) since
the coordinator raises them too.
"""

__all__ = ["BrokerError", "ConfigError", "GatewayError", "MeterError"]


class GatewayError(Exception):
    """Base of every error the gateway agent raises on purpose."""


class ConfigError(GatewayError):
    """The configuration or key file is missing or invalid; the message names what."""


class MeterError(GatewayError):
    """Reading a meter failed: timeout, Modbus exception, or undecodable registers."""


class BrokerError(GatewayError):
    """The MQTT broker could not be reached or refused the connection."""
