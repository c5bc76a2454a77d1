"""Errors of the notifications.

CoordinatorError (coordinator.errors)
└── NotifyError
    ├── DestinationRefusedError  the user's mistake: a webhook URL or address
    │                            the policy refuses (loopback, private, scheme)
    └── DeliveryError            the world's: the SMTP server or the webhook
                                 did not take the message (retried, backoff)
"""

from coordinator.errors import CoordinatorError

__all__ = ["DeliveryError", "DestinationRefusedError", "NotifyError"]


class NotifyError(CoordinatorError):
    """Base of the notifications' errors."""


class DestinationRefusedError(NotifyError):
    """A destination the address policy refuses; the message says why, in words."""


class DeliveryError(NotifyError):
    """One delivery attempt failed; the message is what operators see as last error."""
