"""The coordinator's side of the ledger: platform keys, the opened ledger, and
the worker that mints, attests and settles each epoch exactly once.

Drives `programs` (the on-chain roles and the job engine). May import `wire`,
`programs`, `coordinator.db`, `coordinator.readings` (epoch results) and
`coordinator.market` (settlement); never the API.
"""
