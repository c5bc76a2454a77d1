"""Sticky ingest routing: each gateway's readings belong to exactly one instance."""

from hypothesis import given
from hypothesis import strategies as st

from coordinator.ingest.routing import owner, owns_topic
from edge import topics

ROOT = "gtx-test"


@given(st.text(min_size=1, max_size=44).filter(lambda s: "/" not in s), st.integers(1, 16))
def test_exactly_one_instance_keeps_each_gateway(gateway_id: str, partitions: int) -> None:
    topic = topics.gateway_readings(ROOT, gateway_id)
    keepers = [p for p in range(partitions) if owns_topic(ROOT, topic, p, partitions)]
    assert keepers == [owner(gateway_id, partitions)]


def test_owner_is_stable_and_spreads() -> None:
    ids = [f"gw{i}" for i in range(200)]
    first = [owner(g, 4) for g in ids]
    assert first == [owner(g, 4) for g in ids]  # same answer every time, every process
    assert set(first) == {0, 1, 2, 3}


def test_topics_naming_no_gateway_go_to_instance_zero() -> None:
    for topic in (f"{ROOT}/gw//readings", "elsewhere/x", f"{ROOT}/gw/a/b/readings"):
        assert [p for p in range(3) if owns_topic(ROOT, topic, p, 3)] == [0]
