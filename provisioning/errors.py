"""Errors of the installer CLI, each mapped to one exit code in `provisioning.cli`.

ProvisioningError
├── UsageError            the installer's mistake: bad arguments or meter spec  (exit 2)
├── LocalError            this gateway: missing/invalid key or config file      (exit 3)
├── RefusedError          the coordinator said no (token used, expired, ...)    (exit 4)
└── UnreachableError      the world's: coordinator or broker cannot be reached  (exit 5)
"""

__all__ = ["LocalError", "ProvisioningError", "RefusedError", "UnreachableError", "UsageError"]


class ProvisioningError(Exception):
    """Base of every error the installer CLI raises on purpose."""


class UsageError(ProvisioningError):
    """Arguments are invalid; the message says which and how to fix it."""


class LocalError(ProvisioningError):
    """A file on this gateway is missing or invalid."""


class RefusedError(ProvisioningError):
    """The coordinator refused the request; `code` is its stable reason."""

    def __init__(self, code: str, message: str, http_status: int = 0) -> None:
        super().__init__(f"{message} ({code})")
        self.code = code
        self.message = message
        self.http_status = http_status


class UnreachableError(ProvisioningError):
    """The coordinator or the broker could not be reached or failed."""
