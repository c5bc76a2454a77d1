"""Operations: what tells a person how the system is doing.

- `alerts`: alert rules (pure), their SQL source, the loop that publishes them,
  and the ingest counts published for the monitor;
- `monitor`: `gtx-coordinator monitor`, the live view of the MQTT topics;
- `metrics`: Prometheus metrics; `logs`: JSON log lines.

`metrics` and `logs` sit below the domains (they import only `coordinator.config`),
and the domains import them. `alerts` sits above the domains: it reads what they
record (rejection reasons, closed epochs, the ledger's job table) and may import
their pure values and tables; `monitor` only reads MQTT through `wire`. Nothing
below imports `alerts` or `monitor` (the layers contract in pyproject.toml).
"""
