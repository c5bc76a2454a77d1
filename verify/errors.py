"""Errors of the verifier.

    VerifyError
    ├── Refused        the evidence does not hold: `code` names the check that failed,
    │                  the message says what differs (exit status 1)
    └── Unavailable    the evidence could not be had: the API or the RPC endpoint is
                       unreachable, answered with an error, or has nothing yet, e.g.
                       an epoch not attested yet (exit status 2)

A `Refused` is a finding about the data; an `Unavailable` says nothing about it.
"""

__all__ = ["Refused", "Unavailable", "VerifyError"]


class VerifyError(Exception):
    """Base of every error the verifier raises on purpose."""


class Refused(VerifyError):  # noqa: N818 - names the outcome
    """A check failed. `code` is stable (docs/protocol.md lists them); `detail` says why."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class Unavailable(VerifyError):  # noqa: N818 - names the condition
    """The evidence could not be fetched; the message names the source and the reason."""
