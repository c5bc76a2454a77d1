"""Sticky ingest routing: each gateway's readings belong to exactly one instance."""

import datetime as dt
import itertools

from hypothesis import given
from hypothesis import strategies as st

from coordinator.readings.ingest.mqtt_source import Delivery
from coordinator.readings.ingest.routing import owner, owns_topic
from coordinator.readings.ingest.screen import Incoming
from coordinator.readings.ingest.workers import retry_delays, split_by_worker
from wire import topics

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


def _delivery(topic: str, mid: int) -> Delivery:
    return Delivery(Incoming(topic, b"{}", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)), mid, 1, 1)


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "e"]), max_size=40), st.integers(1, 4))
def test_split_keeps_each_gateway_on_one_worker_in_order(gateways: list[str], n: int) -> None:
    batch = [_delivery(topics.gateway_readings(ROOT, gw), mid) for mid, gw in enumerate(gateways)]
    parts = split_by_worker(ROOT, batch, n)
    assert sorted(d.mid for part in parts.values() for d in part) == list(range(len(batch)))
    for worker, part in parts.items():
        assert [d.mid for d in part] == sorted(d.mid for d in part)  # arrival order kept
        for d in part:
            gw = topics.gateway_id_from_topic(ROOT, d.incoming.topic)
            assert gw is not None
            assert owner(gw, n) == worker


def test_split_sends_topics_without_a_gateway_to_worker_zero() -> None:
    assert list(split_by_worker(ROOT, [_delivery("elsewhere", 1)], 3)) == [0]


def test_retry_delays_double_up_to_five_seconds() -> None:
    assert list(itertools.islice(retry_delays(), 7)) == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
