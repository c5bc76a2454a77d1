"""Ledger backends behind one interface: `Ledger` (base), the embedded LiteSVM backend
and its durable `LedgerStore`. The rpc backend (`programs.ledger.rpc`) and the
embedded ledger's JSON-RPC server (`programs.ledger.jsonrpc`) are imported from
their modules, so code that needs neither does not load solana-py or starlette."""

from programs.ledger.base import NO_PRIORITY_FEE, FeePolicy, Ledger, TxStatus, send_rebuilding
from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.store import (
    AddressSignature,
    JournalEntry,
    LedgerStore,
    MemoryLedgerStore,
    SqlLedgerStore,
    ledger_metadata,
)

__all__ = [
    "NO_PRIORITY_FEE",
    "AddressSignature",
    "EmbeddedLedger",
    "FeePolicy",
    "JournalEntry",
    "Ledger",
    "LedgerStore",
    "MemoryLedgerStore",
    "SqlLedgerStore",
    "TxStatus",
    "ledger_metadata",
    "send_rebuilding",
]
