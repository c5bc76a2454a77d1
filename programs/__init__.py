"""The on-chain layer: the five on-chain roles on SPL Token, ATA and Memo, and the ledger backends."""
