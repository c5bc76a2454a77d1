"""Errors of the on-chain layer.

    LedgerError
    ├── LedgerUsageError          the caller's mistake; retrying the same call fails again
    │   ├── TransactionTooLarge   serialized transaction above the network's 1232 bytes
    │   └── UnsupportedOperation  e.g. an airdrop on a real cluster
    └── LedgerFailure             the world's; the message says what happened
        ├── LedgerUnavailable     the cluster (rpc) or the ledger's store is unreachable
        ├── TransactionExpired    the blockhash is no longer valid: the transaction can
        │                         never land, so it is safe to rebuild and sign again
        └── TransactionFailed     the runtime rejected the transaction; nothing in it took
                                  effect (fees aside); carries the error and program logs

A `TransactionFailed` is final for that signature: resending the same bytes fails the
same way. Build a new transaction (new blockhash) to try again.
"""

__all__ = [
    "LedgerError",
    "LedgerFailure",
    "LedgerUnavailable",
    "LedgerUsageError",
    "TransactionExpired",
    "TransactionFailed",
    "TransactionTooLarge",
    "UnsupportedOperation",
]


class LedgerError(Exception):
    """Base of every error the on-chain layer raises on purpose."""


class LedgerUsageError(LedgerError):
    """The caller asked for something the ledger cannot do as asked."""


class TransactionTooLarge(LedgerUsageError):  # noqa: N818 - names the condition
    """A transaction serializes to more bytes than a Solana packet carries."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"transaction is {size} bytes, the limit is {limit}")
        self.size = size
        self.limit = limit


class UnsupportedOperation(LedgerUsageError):  # noqa: N818 - names the condition
    """This backend does not offer the operation (e.g. airdrop outside the embedded SVM)."""


class LedgerFailure(LedgerError):  # noqa: N818 - names the condition
    """The ledger or the cluster behind it did not do what was asked."""


class LedgerUnavailable(LedgerFailure):
    """The cluster or the embedded ledger's durable store could not be reached."""


class TransactionExpired(LedgerFailure):
    """The transaction's blockhash is unknown or too old; it will never be processed."""

    def __init__(self, signature: str) -> None:
        super().__init__(f"blockhash of transaction {signature} is expired or unknown")
        self.signature = signature


class TransactionFailed(LedgerFailure):
    """The runtime processed the transaction and rejected it; none of its instructions stuck."""

    def __init__(self, signature: str, error: str, logs: tuple[str, ...] = ()) -> None:
        detail = f"; last log: {logs[-1]}" if logs else ""
        super().__init__(f"transaction {signature} failed: {error}{detail}")
        self.signature = signature
        self.error = error
        self.logs = logs
