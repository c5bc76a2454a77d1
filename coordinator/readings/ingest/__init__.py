"""Ingest: MQTT readings in, verified and stored (or rejected with a reason) in batches."""
