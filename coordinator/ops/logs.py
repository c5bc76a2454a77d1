"""Structured logs: one JSON object per line, with correlation fields.

    log.info("rejected", extra={"gateway_id": gw, "seq": 7, "reason": "bad_signature"})

Any of `CORRELATION_FIELDS` passed in `extra` becomes a top-level key, so a
reading can be followed from gateway to epoch by (gateway_id, seq).
"""

import datetime as dt
import json
import logging
import sys

__all__ = ["CORRELATION_FIELDS", "JsonFormatter", "configure_logging"]

CORRELATION_FIELDS = (
    "gateway_id", "seq", "meter_id", "reason", "epoch", "batch_size", "instance", "request_id",
)  # fmt: skip


class JsonFormatter(logging.Formatter):
    """Formats a record as a JSON line: time (UTC, ISO 8601), level, logger, msg."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in CORRELATION_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: int = logging.INFO, json_lines: bool = True) -> None:
    """Log to stderr, as JSON lines or as plain text for people."""
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
