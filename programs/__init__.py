"""The on-chain layer: the five on-chain roles on SPL Token, ATA and Memo, the job
engine that makes them exactly-once, and the ledger backends.

- `programs.roles`: one module per role (token, registry, oracle, trading,
  governance) with what they share (deployment, transactions, memos): the
  operations the coordinator calls.
- `programs.jobs` (stores in `programs.jobstore`): the exactly-once minting and
  attestation jobs, and the generic job runner; `programs.table_jobs` and
  `programs.lookup_tables`: address lookup tables, created through jobs.
- `programs.spl`: the SPL Token / ATA / Memo instruction builders;
  `programs.txsize`: the 1232-byte check and the packers.
- `programs.ledger`: the `Ledger` interface and its backends (the embedded LiteSVM
  one, durable through a `LedgerStore`, served as Solana JSON-RPC by
  `programs.ledger.jsonrpc`; the rpc one in `programs.ledger.rpc`).
- `programs.bulk`: many rows into one table (COPY on PostgreSQL).
- `programs.errors`: the exception tree.

programs may import `wire` and third-party libraries; never `coordinator`, `edge`,
`provisioning` or `demo` (they import programs).
"""
