"""The coordinator's side of the ledger: platform keys, the opened ledger, and
the worker that mints, attests and settles each epoch exactly once.

- `grants` (pure): each owner's grant of an epoch, and what to do next about it
  (mint, finish a job in flight, withhold on a freeze, park after refusals);
- `minting`: the epoch's plan stored, batches minted, refused ones split, withheld
  grants minted once thawed;
- `reconcile`: every epoch's verified export minted, withheld or pending, and
  every balance on the ledger explained;
- `worker`: the loop, under the leader lock; `governed`: the market under the REC
  authority's controls and parameters; `ledger`, `platform_keys`.

Drives `programs` (the on-chain roles and the job engine). May import `wire`,
`programs`, `coordinator.db`, `coordinator.readings` (epoch results) and
`coordinator.market` (settlement); never the API.
"""
