"""Readings: from a signed MQTT payload to an epoch's attested energy.

- `ingest`: the MQTT source, signature checks, and each batch's unit of work
  (`ingest.commit`: load, decide, write) over the `ReadingStore` (`ingest.store`);
- `oracle`: the pure rules, per-epoch energy and the Merkle attestation (the core);
- `epoch_close`: closing each epoch exactly once, and recomputing one on demand;
- `live_cache`: latest readings in Redis (it reads ingest's `BatchOutcome`;
  ingest knows it only as something that takes notes).

Decides what is accepted and what each meter exported and imported per epoch.
May import `wire`, `coordinator.db`, `coordinator.ops` and `coordinator.config`;
never the market, the API or the on-chain worker.
"""
