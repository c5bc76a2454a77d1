"""The outbox rule at unit level: the agent's forwarder against a broker stand-in
(`MemoryPublisher.plan`) that fails partway through a batch, loses PUBACKs and
disconnects after some acknowledgements. Nothing leaves the outbox without
its PUBACK, nothing is signed again under a new sequence number, the order is
kept, and in the end everything arrives."""

import asyncio
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.agent import PUBLISH_WINDOW, GatewayAgent
from edge.config import BrokerConfig, GatewayConfig, MeterConfig, PollingConfig
from edge.meter_reader import MeterSample, ScriptedMeterReader
from edge.outbox import Outbox
from edge.publisher import Delivery, MemoryPublisher
from edge.registermap import MeterValues
from edge.signing import DeviceKey
from tests.utils.services import async_wait_until
from wire import topics
from wire.reading import decode_payload

KEY = DeviceKey.generate()
TOPIC = topics.gateway_readings("t", KEY.gateway_id)
ACK, LOST_ACK, BREAK, REFUSED = Delivery.ACK, Delivery.LOST_ACK, Delivery.BREAK, Delivery.REFUSED


class WatchedOutbox(Outbox):
    """The outbox, noting every entry it is told to forget that the broker has
    not acknowledged (the rule says there are none)."""

    def __init__(self, path: Path, broker: MemoryPublisher) -> None:
        super().__init__(path)
        self.broker = broker
        self.unacknowledged_removals: list[int] = []

    def remove_many(self, seqs: Iterable[int]) -> None:
        seqs = list(seqs)
        acked = {_seq(p) for t, p in self.broker.acks if t == TOPIC}
        self.unacknowledged_removals += [s for s in seqs if s not in acked]
        super().remove_many(seqs)


def _seq(payload: bytes) -> int:
    return decode_payload(payload).reading.seq


def _config(state: Path) -> GatewayConfig:
    meters = tuple(MeterConfig(m, "127.0.0.1", 502, 1, "sdm630", 1000) for m in ("m1", "m2"))
    return GatewayConfig(
        key_file=state / "k.pem",
        state_file=state / "s.sqlite",
        meters=meters,
        broker=BrokerConfig(topic_root="t", reconnect_initial_s=0.001, reconnect_max_s=0.002),
        polling=PollingConfig(timeout_s=0.5, max_attempts=1),
        poll_interval_s=3600,
        health_interval_s=3600,
        shutdown_flush_s=5,
    )


@dataclass
class Forwarded:
    made: dict[int, bytes]  # every reading the agent made: seq -> signed payload
    broker: MemoryPublisher
    unacknowledged_removals: list[int]
    left: int  # outbox depth at the end


async def _forward(state: Path, polls: int, plan: Sequence[Delivery]) -> Forwarded:
    """`polls` polls of two meters made while the broker is away, then the
    agent runs against a broker following `plan` until everything is acknowledged."""
    broker = MemoryPublisher()
    broker.up = False
    outbox = WatchedOutbox(state / "s.sqlite", broker)
    counter = [0]

    def meter(n: int) -> MeterSample:
        counter[0] += 1  # every reading different: a re-signed one would show
        return MeterSample(
            MeterValues(1000 + counter[0], counter[0], 0), 1_764_000_000 + counter[0]
        )

    reader = ScriptedMeterReader({"m1": meter, "m2": meter})
    agent = GatewayAgent(
        config=_config(state), key=KEY, reader=reader, outbox=outbox, connect=broker.connect
    )
    try:
        for _ in range(polls):
            await agent.poll_once()
        made = {e.seq: e.payload for e in outbox.pending(10_000)}
        broker.plan(*plan, topic=TOPIC)
        broker.up = True
        run = asyncio.create_task(agent.run())  # polls once more at start

        def all_acknowledged() -> bool:
            # The poll at start counts too: stopping before it stored its
            # readings would leave them (safely) in the outbox for next time.
            acked = {_seq(p) for t, p in broker.acks if t == TOPIC}
            started = agent.stats.polls > polls
            return started and outbox.depth() == 0 and acked >= set(range(1, outbox.next_seq()))

        await async_wait_until(all_acknowledged, within_s=20, what="every reading acknowledged")
        made |= {_seq(p): p for t, p, _ in broker.messages if t == TOPIC and _seq(p) not in made}
        agent.stop()
        await asyncio.wait_for(run, 10)
        return Forwarded(made, broker, outbox.unacknowledged_removals, outbox.depth())
    finally:
        outbox.close()


def _check_the_rule(result: Forwarded) -> None:
    broker = result.broker
    # Nothing was forgotten before its PUBACK.
    assert result.unacknowledged_removals == []
    # Every attempt carried the bytes signed once for that sequence number.
    attempts = [(conn, _seq(p), p) for conn, t, p, _ in broker.log if t == TOPIC]
    for _, seq, payload in attempts:
        assert payload == result.made[seq]
    # No reading was signed again under another sequence number.
    contents = [decode_payload(p).reading for p in result.made.values()]
    keys = {(r.meter_id, r.ts, r.import_wh, r.export_wh) for r in contents}
    assert len(keys) == len(contents)
    # Order: each connection sends in sequence order, and the broker first
    # sees every reading in sequence order.
    for conn in {c for c, _, _ in attempts}:
        sent = [seq for c, seq, _ in attempts if c == conn]
        assert sent == sorted(set(sent))
    first_seen: list[int] = []
    for t, p, _ in broker.messages:
        if t == TOPIC and _seq(p) not in first_seen:
            first_seen.append(_seq(p))
    assert first_seen == sorted(result.made)
    # And everything arrived.
    assert {_seq(p) for t, p in broker.acks if t == TOPIC} == set(result.made)
    assert result.left == 0


def _connection_seqs(broker: MemoryPublisher, conn: int) -> list[tuple[int, str]]:
    return [(_seq(p), what) for c, t, p, what in broker.log if c == conn and t == TOPIC]


async def test_a_failure_partway_through_a_batch_keeps_the_rest(tmp_path: Path) -> None:
    result = await _forward(tmp_path, 5, [ACK, ACK, ACK, BREAK])
    _check_the_rule(result)
    first = _connection_seqs(result.broker, 1)
    assert first[:4] == [(1, "ack"), (2, "ack"), (3, "ack"), (4, "break")]
    assert {what for _, what in first[4:]} == {"broken"}  # the rest of the batch failed
    # The next connection starts again with the oldest unacknowledged reading.
    assert [seq for seq, _ in _connection_seqs(result.broker, 2)][:2] == [4, 5]


async def test_a_lost_puback_keeps_the_reading_and_sends_the_same_bytes_again(
    tmp_path: Path,
) -> None:
    result = await _forward(tmp_path, 3, [ACK, LOST_ACK])
    _check_the_rule(result)
    assert _connection_seqs(result.broker, 1)[:2] == [(1, "ack"), (2, "lost_ack")]
    assert _connection_seqs(result.broker, 2)[0] == (2, "ack")
    at_broker = [p for p in result.broker.payloads(TOPIC) if _seq(p) == 2]
    assert at_broker == [result.made[2]] * 2  # a duplicate for the coordinator, not a new reading


async def test_a_refused_publish_keeps_the_reading_and_sends_it_again(tmp_path: Path) -> None:
    # An MQTT 5 PUBACK with a failure code (an ACL denial, a quota) is no
    # acknowledgement: aiomqtt completes such a publish, the publisher must not.
    result = await _forward(tmp_path, 3, [ACK, REFUSED])
    _check_the_rule(result)
    first = _connection_seqs(result.broker, 1)
    assert first[:2] == [(1, "ack"), (2, "refused")]
    assert {what for _, what in first[2:]} == {"refused"}  # the topic stays denied
    assert _connection_seqs(result.broker, 2)[0] == (2, "ack")
    assert sorted(_seq(p) for p in result.broker.payloads(TOPIC)) == sorted(result.made)


async def test_a_disconnect_after_some_acknowledgements_in_a_long_backlog(tmp_path: Path) -> None:
    # More than one window of readings; the broker drops the connection after
    # 70 acknowledgements, then, losing a PUBACK on the way, after 4 more.
    plan = [ACK] * 70 + [BREAK] + [ACK] * 2 + [LOST_ACK] + [ACK] * 2 + [BREAK]
    result = await _forward(tmp_path, PUBLISH_WINDOW, plan)
    _check_the_rule(result)
    assert result.broker.connections == 3
    assert [s for s, w in _connection_seqs(result.broker, 2) if w != "broken"] == [
        71,
        72,
        73,
        74,
        75,
        76,
    ]
    assert _connection_seqs(result.broker, 3)[0] == (73, "ack")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    polls=st.integers(0, 40),
    plan=st.lists(st.sampled_from(list(Delivery)), max_size=60),
)
def test_any_broker_behaviour_keeps_the_outbox_rule(polls: int, plan: list[Delivery]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = asyncio.run(_forward(Path(tmp), polls, plan))
    _check_the_rule(result)
