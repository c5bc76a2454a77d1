"""Ledger backends behind one interface: `Ledger` (base), the embedded LiteSVM backend
and its durable `LedgerStore`."""

from programs.ledger.base import Ledger, TxStatus
from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.store import (
    JournalEntry,
    LedgerStore,
    MemoryLedgerStore,
    SqlLedgerStore,
    ledger_metadata,
)

__all__ = [
    "EmbeddedLedger",
    "JournalEntry",
    "Ledger",
    "LedgerStore",
    "MemoryLedgerStore",
    "SqlLedgerStore",
    "TxStatus",
    "ledger_metadata",
]
