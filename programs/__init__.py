"""The on-chain layer: the five on-chain roles on SPL Token, ATA and Memo, and the ledger
backends.

`programs.ledger` holds the `Ledger` interface and its backends (the embedded LiteSVM
one, durable through a `LedgerStore`, served as Solana JSON-RPC by
`programs.ledger.jsonrpc`; the rpc one in `programs.ledger.rpc`); `programs.spl` the
instruction builders; `programs.txsize` the 1232-byte check and packer;
`programs.roles` the operations the coordinator calls; `programs.jobs` (stores in
`programs.jobstore`) the exactly-once minting and attestation jobs;
`programs.errors` the exception tree.
"""
