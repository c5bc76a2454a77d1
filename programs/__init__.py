"""The on-chain layer: the five on-chain roles on SPL Token, ATA and Memo, and the ledger
backends.

`programs.ledger` holds the `Ledger` interface and its backends (the embedded LiteSVM
one, durable through a `LedgerStore`); `programs.spl` the instruction builders;
`programs.txsize` the 1232-byte check and packer; `programs.roles` the operations the
coordinator calls; `programs.errors` the exception tree.
"""
