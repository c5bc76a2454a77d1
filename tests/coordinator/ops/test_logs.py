"""Structured logs: correlation ids become top-level JSON keys."""

import json
import logging

from coordinator.ops.logs import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("gtx.test", logging.WARNING, __file__, 1, "batch %d", (7,), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_reading_and_request_ids_are_top_level_keys() -> None:
    line = JsonFormatter().format(_record(gateway_id="GW1", seq=42, request_id="r-1"))
    doc = json.loads(line)
    assert doc["msg"] == "batch 7"
    assert (doc["gateway_id"], doc["seq"], doc["request_id"]) == ("GW1", 42, "r-1")


def test_other_attributes_stay_out() -> None:
    doc = json.loads(JsonFormatter().format(_record(password="secret")))
    assert "password" not in doc
