"""Operations: what tells a person how the system is doing.

- `alerts`: alert rules (pure), their SQL source and the loop that publishes them;
- `monitor`: `gtx-coordinator monitor`, the live view of the MQTT topics;
- `metrics`: Prometheus metrics; `logs`: JSON log lines.

May import `wire`, `coordinator.db` and `coordinator.config`; the domains
import `metrics` and `logs`, never the other way round.
"""
