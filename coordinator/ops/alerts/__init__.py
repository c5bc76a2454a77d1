"""Operator alerts: pure rules, their SQL source, the loop that publishes them,
and the ingest counts the monitor shows.

- `rules`: the rules and `evaluate` (pure), and the `AlertSource` they read;
- `storage`: `SqlAlertSource`, that source read from the database;
- `loop`: `AlertMonitor`, which evaluates periodically, logs and publishes
  each change once on MQTT;
- `stats`: `StatsCollector` and `run_stats_publisher`, one instance's ingest
  counts, retained on MQTT for `gtx-coordinator monitor`.

The payloads themselves are the wire contract (`wire.alerts`). `rules` may
import `wire` and the oracle's epoch arithmetic (`coordinator.readings.oracle`),
nothing with I/O; `storage` adds `coordinator.db` and the chain job table
(`programs.ledger.store`); `loop` adds `coordinator.ops.metrics`; `stats` adds
the ingest's `BatchOutcome`.
"""
