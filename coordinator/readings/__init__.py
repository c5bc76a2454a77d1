"""Readings: from a signed MQTT payload to an epoch's attested energy.

- `ingest`: the MQTT source, signature checks and batch commits (the shell);
- `oracle`: the pure rules, per-epoch energy and the Merkle attestation (the core);
- `epoch_close`: closing each epoch exactly once, and recomputing one on demand;
- `partitions`: time partitions of the readings table; `live_cache`: latest
  readings in Redis.

Decides what is accepted and what each meter exported and imported per epoch.
May import `wire`, `coordinator.db`, `coordinator.ops` and `coordinator.config`;
never the market, the API or the on-chain worker.
"""
