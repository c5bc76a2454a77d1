"""The on-chain roles as operations the coordinator calls, over any `Ledger`; one
module per role, each holding its own memo format (`gtx/v1 <kind> key=value ...`).

| role | module | operations |
|---|---|---|
| energy token, payment | `token` | `bootstrap` (two SPL mints), `mint_payment` |
| registry | `registry` | `register_user` (ATAs), `record_registration_memo` |
| oracle | `oracle` | `mint_energy` (MintTo per epoch), `post_attestation` (Merkle root) |
| trading | `trading` | `approve_escrow` (delegation to the settlement authority), `settle` |
| governance | `governance` | `freeze_user` / `thaw_user`, `is_frozen`, `record_memo` |

What they share: `deployment` (the `Deployment`'s addresses, each owner's token
accounts), `transactions` (`sign`, `PlannedTx`, sending), `memos` (the memo text).

Operations that may be retried after a crash come in two halves: a pure `build_*`
that returns signed transactions (so the caller can store their signatures before
sending, `programs.jobs`) and an async operation that builds and sends.

Import from the role's module (`from programs.roles.trading import settle`): this
package re-exports nothing. A role's module may import `programs.spl`,
`programs.txsize`, `programs.ledger.base`, `programs.errors`, the shared modules here
and `token` (the decimals); no other role, nor `programs.jobs` (which builds on the
roles), nor anything of `coordinator` or `edge`.
"""
