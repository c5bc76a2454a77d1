"""Ingest: MQTT readings in, verified and stored (or rejected with a reason) in batches.

- `mqtt_source`, `paho_client`: the broker connection (receive, acknowledge);
- `screen`: parse a message; `decide`: the pure decision over a batch;
- `store`: the `ReadingStore` interface and its SQL adapter (loads and writes only);
- `commit`: one batch's unit of work (load, decide, write, commit);
- `service`, `workers`, `routing`: the loop, in process or over worker processes.

May import `wire`, `coordinator.db`, `coordinator.ops`, `coordinator.errors` and
the oracle; nothing else of `coordinator.readings` (the live cache reaches it
through `service.NotesBatches`).
"""
