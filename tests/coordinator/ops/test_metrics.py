"""BatchHistogram is exposed exactly as prometheus_client's Histogram fed the same
values one at a time (buckets, count, sum), however the values are batched."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from coordinator.ops.metrics import BatchHistogram

BUCKETS = (0.005, 0.25, 1, 2.5, 60)


def _samples(registry: CollectorRegistry) -> dict[str, float]:
    out = {}
    for line in generate_latest(registry).decode().splitlines():
        if line.startswith("#") or "_created" in line:
            continue
        name, value = line.rsplit(" ", 1)
        out[name] = float(value)
    return out


values = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(st.lists(st.lists(values, max_size=30), max_size=5), st.sampled_from(BUCKETS))
def test_exposed_as_prometheus_histogram(batches: list[list[float]], bound: float) -> None:
    # A value on a bound belongs to that bound's bucket (le): always try one.
    batches = [*batches, [bound]]
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    reference = Histogram("lat_seconds", "doc", buckets=BUCKETS, registry=theirs)
    mine = BatchHistogram("lat_seconds", "doc", BUCKETS, registry=ours)
    for batch in batches:
        for v in batch:
            reference.observe(v)
        mine.observe_many(batch)
    expected, got = _samples(theirs), _samples(ours)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-9), name
    assert got['lat_seconds_bucket{le="+Inf"}'] == sum(len(b) for b in batches)


def test_buckets_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        BatchHistogram("x_seconds", "doc", (1, 0.5), registry=None)
