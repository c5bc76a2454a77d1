"""Errors of the coordinator.

    CoordinatorError
    ├── ConfigError      the operator's mistake: bad settings or arguments
    ├── BrokerError      the world's: the MQTT broker is unreachable or refused us
    └── StorageError     the world's: the database is unreachable or failed

Protocol errors live with the protocol (`wire.reading.ProtocolError`); they
are not raised here but recorded as rejection reasons.
"""

__all__ = ["BrokerError", "ConfigError", "CoordinatorError", "StorageError"]


class CoordinatorError(Exception):
    """Base of every error the coordinator raises on purpose."""


class ConfigError(CoordinatorError):
    """Settings or arguments are invalid; the message names which."""


class BrokerError(CoordinatorError):
    """The MQTT broker could not be reached or refused the connection."""


class StorageError(CoordinatorError):
    """The database could not be reached or failed a write."""
