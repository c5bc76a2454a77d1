"""The agent with the scripted meter reader and the in-memory broker: retries,
independence of meters, outcome counting, the outbox bound, health, shutdown."""

import asyncio
import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from edge.agent import GatewayAgent
from edge.config import BrokerConfig, GatewayConfig, MeterConfig, OutboxConfig, PollingConfig
from edge.errors import MeterError
from edge.meter_reader import (
    MeterReader,
    MeterReadError,
    MeterSample,
    Script,
    ScriptedMeterReader,
)
from edge.outbox import Outbox
from edge.publisher import MemoryPublisher
from edge.registermap import MeterValues
from edge.signing import DeviceKey
from tests.utils.services import async_wait_until
from wire import topics
from wire.health import Outcome, decode_health
from wire.reading import UINT_MAX, decode_payload


def _ok(import_wh: int = 1000, meter_ts: int | None = None) -> Script:
    return lambda n: MeterSample(MeterValues(import_wh + n, 0, 0), meter_ts)


def _fail(outcome: Outcome) -> Script:
    def script(n: int) -> MeterSample:
        raise MeterReadError(outcome, f"injected {outcome.value}")

    return script


def _config(tmp_path: Path, ids: list[str], **kw: object) -> GatewayConfig:
    meters = tuple(MeterConfig(i, "127.0.0.1", 502, 1, "sdm630", 1000) for i in ids)
    defaults: dict[str, object] = {
        "poll_interval_s": 3600,
        "health_interval_s": 3600,
        "shutdown_flush_s": 5,
        "broker": BrokerConfig(topic_root="t"),
        "polling": PollingConfig(timeout_s=0.5, max_attempts=3, backoff_initial_s=0.01,
                                 backoff_max_s=0.02),
    }  # fmt: skip
    defaults.update(kw)
    return GatewayConfig(
        key_file=tmp_path / "k.pem", state_file=tmp_path / "s.sqlite", meters=meters,
        **defaults,  # type: ignore[arg-type]
    )  # fmt: skip


def _agent(
    config: GatewayConfig, reader: MeterReader, broker: MemoryPublisher, **kw: object
) -> tuple[GatewayAgent, Outbox, DeviceKey]:
    key = DeviceKey.generate()
    outbox = Outbox(config.state_file, max_entries=config.outbox.max_entries)
    agent = GatewayAgent(
        config=config, key=key, reader=reader, outbox=outbox, connect=broker.connect,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip
    return agent, outbox, key


async def test_each_failure_is_counted_and_other_meters_still_read(tmp_path: Path) -> None:
    kinds = [o for o in Outcome if o is not Outcome.OK]
    scripts = {"good": _ok()} | {o.value: _fail(o) for o in kinds}
    reader = ScriptedMeterReader(scripts)
    agent, outbox, _ = _agent(_config(tmp_path, list(scripts)), reader, MemoryPublisher())

    entries = await agent.poll_once()

    assert [decode_payload(e.payload).reading.meter_id for e in entries] == ["good"]
    health = agent.health()
    assert health.meter("good").counts == {"ok": 1}
    for outcome in kinds:
        m = health.meter(outcome.value)
        assert m.counts == {outcome.value: 3}  # three attempts, each counted
        assert (m.missed_polls, m.last_outcome) == (1, outcome.value)
    assert agent.stats.ok == {"good": 1}
    assert agent.stats.errors == {o.value: 3 for o in kinds}
    assert decode_health(outbox.load_health() or b"") == health  # kept for `status`


async def test_a_reader_defect_costs_only_that_meter_and_is_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(n: int) -> MeterSample:
        raise IndexError("a defect some answer of this meter sets off")

    reader = ScriptedMeterReader({"good": _ok(), "odd": broken})
    agent, _, _ = _agent(_config(tmp_path, ["odd", "good"]), reader, MemoryPublisher())
    entries = await agent.poll_once()
    assert [decode_payload(e.payload).reading.meter_id for e in entries] == ["good"]
    odd = agent.health().meter("odd")
    assert odd.counts == {"reader_error": 3}
    assert odd.last_error == "meter odd: IndexError: a defect some answer of this meter sets off"
    tracebacks = [r for r in caplog.records if r.exc_info is not None]
    assert len(tracebacks) == 3
    assert all("IndexError" in logging.Formatter().format(r) for r in tracebacks)


async def test_values_a_reading_cannot_carry_are_never_signed(tmp_path: Path) -> None:
    def huge(n: int) -> MeterSample:  # a reader that let a corrupt register through
        return MeterSample(MeterValues(UINT_MAX + 1, 0, 0), None)

    def negative_clock(n: int) -> MeterSample:
        return MeterSample(MeterValues(1, 0, 0), -5)

    reader = ScriptedMeterReader({"good": _ok(), "huge": huge, "clock": negative_clock})
    config = _config(tmp_path, ["huge", "good", "clock"])
    agent, outbox, _ = _agent(config, reader, MemoryPublisher())
    entries = await agent.poll_once()
    assert [decode_payload(e.payload).reading.meter_id for e in entries] == ["good"]
    assert outbox.next_seq() == 2  # no sequence number spent on them either
    assert agent.health().meter("huge").counts == {"decode_error": 3}
    assert "imp_wh out of range" in agent.health().meter("huge").last_error
    assert agent.health().meter("clock").counts == {"decode_error": 3}


async def test_retry_succeeds_within_the_poll(tmp_path: Path) -> None:
    def flaky(n: int) -> MeterSample:
        if n < 3:
            raise MeterError("garbled")  # not classified by the reader: a decode error
        return MeterSample(MeterValues(5, 6, 0), 1764000000)

    reader = ScriptedMeterReader({"m1": flaky})
    agent, _, _ = _agent(_config(tmp_path, ["m1"]), reader, MemoryPublisher())
    (entry,) = await agent.poll_once()
    reading = decode_payload(entry.payload).reading
    assert (reading.import_wh, reading.export_wh, reading.ts) == (5, 6, 1764000000)
    assert agent.health().meter("m1").counts == {"decode_error": 2, "ok": 1}


async def test_gateway_clock_stamps_meters_without_one(tmp_path: Path) -> None:
    reader = ScriptedMeterReader({"m1": _ok()})
    agent, _, _ = _agent(_config(tmp_path, ["m1"]), reader, MemoryPublisher(), clock=lambda: 42.9)
    (entry,) = await agent.poll_once()
    assert decode_payload(entry.payload).reading.ts == 42


async def test_a_hung_meter_does_not_hold_back_the_others(tmp_path: Path) -> None:
    release = asyncio.Event()

    class HangingReader(ScriptedMeterReader):
        async def read(self, meter: MeterConfig) -> MeterSample:
            if meter.meter_id == "hung":
                await release.wait()
            return await super().read(meter)

    reader = HangingReader({"good": _ok(), "hung": _ok()})
    config = _config(tmp_path, ["hung", "good"], polling=PollingConfig(timeout_s=30))
    agent, outbox, _ = _agent(config, reader, MemoryPublisher())
    poll = asyncio.create_task(agent.poll_once())
    await async_wait_until(lambda: outbox.depth() == 1, what="the good meter's reading")
    assert not poll.done()
    release.set()
    assert len(await poll) == 2


async def test_per_attempt_timeout_counts_a_timeout(tmp_path: Path) -> None:
    class SilentReader(ScriptedMeterReader):
        async def read(self, meter: MeterConfig) -> MeterSample:
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    config = _config(tmp_path, ["m1"], polling=PollingConfig(timeout_s=0.05, max_attempts=1))
    agent, _, _ = _agent(config, SilentReader({}), MemoryPublisher())
    assert await agent.poll_once() == []
    assert agent.health().meter("m1").counts == {"timeout": 1}


async def test_full_outbox_drops_oldest_counts_and_reports_it(tmp_path: Path) -> None:
    broker = MemoryPublisher()
    broker.up = False
    config = _config(tmp_path, ["m1"], outbox=OutboxConfig(max_entries=3))
    agent, outbox, key = _agent(config, ScriptedMeterReader({"m1": _ok()}), broker)
    for _ in range(5):
        await agent.poll_once()
    assert (outbox.depth(), outbox.dropped()) == (3, 2)
    assert decode_health(outbox.load_health() or b"").dropped == 2

    broker.up = True
    run = asyncio.create_task(agent.run())
    readings_topic = topics.gateway_readings("t", key.gateway_id)
    await async_wait_until(lambda: len(broker.payloads(readings_topic)) >= 4, what="publishing")
    agent.stop()
    await asyncio.wait_for(run, 5)
    seqs = [decode_payload(p).reading.seq for p in broker.payloads(readings_topic)]
    assert seqs[:3] == [3, 4, 5]  # 1 and 2 were dropped, the rest arrive in order
    assert seqs == sorted(set(seqs))
    health = json.loads(broker.payloads(topics.gateway_health("t", key.gateway_id))[-1])
    assert health["outbox"]["dropped"] == 2
    assert health["outbox"]["depth"] == 0  # flushed before leaving


async def test_stop_flushes_what_was_polled_while_the_broker_was_away(tmp_path: Path) -> None:
    broker = MemoryPublisher()
    broker.up = False
    config = _config(tmp_path, ["m1", "m2"], broker=BrokerConfig(
        topic_root="t", reconnect_initial_s=0.01, reconnect_max_s=0.02))  # fmt: skip
    agent, outbox, key = _agent(config, ScriptedMeterReader({"m1": _ok(), "m2": _ok()}), broker)
    run = asyncio.create_task(agent.run())
    await async_wait_until(lambda: outbox.depth() == 2, what="the first poll")
    broker.up = True
    agent.stop()
    await asyncio.wait_for(run, 5)
    assert outbox.depth() == 0
    topic = topics.gateway_readings("t", key.gateway_id)
    assert sorted(decode_payload(p).reading.seq for p in broker.payloads(topic)) == [1, 2]


async def test_stop_gives_up_flushing_after_the_bound(tmp_path: Path) -> None:
    broker = MemoryPublisher()
    broker.up = False
    config = _config(tmp_path, ["m1"], shutdown_flush_s=0.1)
    agent, outbox, _ = _agent(config, ScriptedMeterReader({"m1": _ok()}), broker)
    run = asyncio.create_task(agent.run())
    await async_wait_until(lambda: outbox.depth() == 1, what="the first poll")
    agent.stop()
    await asyncio.wait_for(run, 5)
    assert outbox.depth() == 1  # kept for the next run, not lost


async def test_after_a_key_rotation_readings_keep_the_enrolled_id(tmp_path: Path) -> None:
    enrolled = DeviceKey.generate().gateway_id  # the first key's id, kept for life
    config = _config(tmp_path, ["m1"], gateway_id=enrolled)
    agent, _, new_key = _agent(config, ScriptedMeterReader({"m1": _ok()}), MemoryPublisher())

    (entry,) = await agent.poll_once()

    signed = decode_payload(entry.payload)
    assert signed.reading.gateway_id == enrolled
    assert entry.topic.endswith(f"/gw/{enrolled}/readings")
    # Signed by the current (rotated-in) key, over the enrolled identity.
    Ed25519PublicKey.from_public_bytes(new_key.public_key).verify(
        signed.signature, signed.reading.signing_bytes()
    )
    assert agent.health().gateway_id == enrolled
