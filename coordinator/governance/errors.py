"""Refusals of governance: the caller's mistakes, each with a stable `code`.

    CoordinatorError                  (coordinator.errors)
    └── GovernanceError
        ├── ChangeRefused             a parameter change, note or role change is invalid
        │                             (unknown_parameter, invalid_value, too_soon,
        │                             bad_signature, stale_request, look_alike, ...)
        └── ControlConflict           pausing what is paused, resuming what runs

The API maps `ChangeRefused` to 422 (403 where the code is a duty that is not the
caller's) and `ControlConflict` to 409, with the code and the message as they are.
"""

from coordinator.errors import CoordinatorError

__all__ = ["ChangeRefused", "ControlConflict", "GovernanceError"]


class GovernanceError(CoordinatorError):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class ChangeRefused(GovernanceError):  # noqa: N818 - names the condition
    """The change is not acceptable as asked; the message says why."""


class ControlConflict(GovernanceError):  # noqa: N818 - names the condition
    """The emergency control is already in the asked state."""
