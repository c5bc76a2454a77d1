"""The metric names a PromQL expression reads, and the names the coordinator exports.

Enough of PromQL for the project's dashboards and rules: strings, label matchers,
range and offset durations, grouping clauses and function calls are taken out;
what is left that looks like a name is a metric. A name the parser is unsure of
fails the check loudly rather than passing quietly.
"""

import re
from collections.abc import Iterable

from prometheus_client import CollectorRegistry

__all__ = ["KEYWORDS", "exported_series", "metric_names"]

# Operators and modifiers spelled as words; `le` and the like only ever appear in
# grouping clauses or matchers, which are removed first.
KEYWORDS = frozenset(
    {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
     "bool", "offset", "atan2", "inf", "nan"}
)  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_CALL = re.compile(r"\b[a-zA-Z_][a-zA-Z0-9_]*\s*\(")
# Not part of a number (1e9) nor of a duration left behind.
_NAME = re.compile(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects."""
    text = _STRING.sub(" ", expr)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    text = _GROUPING.sub(" ", text)
    text = _CALL.sub("(", text)
    return {n for n in _NAME.findall(text) if n.lower() not in KEYWORDS}


def exported_series(registry: CollectorRegistry, prefixes: Iterable[str] = ("gtx_",)) -> set[str]:
    """Every series name the registry's metrics expose, whether or not a sample has
    been taken yet (a labelled metric has none until first used): a counter as
    `<name>_total`, a histogram as its `_bucket`, `_count` and `_sum`, a gauge as is."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"),
                "summary": ("_count", "_sum", ""), "gauge": ("",), "info": ("_info",)}  # fmt: skip
    names: set[str] = set()
    for family in registry.collect():
        if not family.name.startswith(tuple(prefixes)):
            continue
        names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names
