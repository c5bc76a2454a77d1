"""One meter never stops the others: the real Modbus reader and the agent against
meters written on raw sockets (tests/utils/raw_modbus.py), which answer any
register words for any map, Modbus exceptions, silence, short, long and
inconsistent frames, garbage, half a frame, a hang-up, and go away and come
back. The healthy meters keep their schedule and publish; the faulty one is
counted under its outcome; nothing outside the protocol's ranges is signed."""

import asyncio
import itertools
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge.agent import GatewayAgent
from edge.config import (
    DEFAULT_CLOCK_REGISTER,
    BrokerConfig,
    GatewayConfig,
    MeterConfig,
    PollingConfig,
)
from edge.errors import MeterError
from edge.meter_reader import MeterReadError, ModbusMeterReader
from edge.outbox import Outbox, OutboxEntry
from edge.publisher import MemoryPublisher
from edge.registermap import MeterValues, RegisterMap, available_maps, load_map
from edge.signing import DeviceKey
from tests.utils.raw_modbus import (
    HANG_UP,
    SILENCE,
    Action,
    Answer,
    RawModbusServer,
    Request,
    float32_words,
    serve_words,
)
from tests.utils.register_words import WORD, register_words, sane_words
from tests.utils.services import async_wait_until
from wire import topics
from wire.health import HealthReport, Outcome
from wire.reading import UINT_MAX, decode_payload

KEY = DeviceKey.generate()
SDM630 = load_map("sdm630")
GOOD = {"import_wh": 12_345.5, "export_wh": 987.25, "power_w": 1500.0}
GOOD_WORDS = sane_words(SDM630, GOOD)
GOOD_VALUES = SDM630.decode(GOOD_WORDS)


def _meter(
    meter_id: str, port: int, unit: int, register_map: str = "sdm630", **kw: str
) -> MeterConfig:
    return MeterConfig(meter_id, "127.0.0.1", port, unit, register_map, 63_000, **kw)  # type: ignore[arg-type]


def _config(
    state: Path, meters: tuple[MeterConfig, ...], timeout_s: float, **kw: object
) -> GatewayConfig:
    polling = PollingConfig(
        timeout_s=timeout_s, max_attempts=1, backoff_initial_s=0.01, backoff_max_s=0.02
    )
    return GatewayConfig(
        key_file=state / "k.pem", state_file=state / "s.sqlite", meters=meters,
        broker=BrokerConfig(topic_root="t"), polling=polling, health_interval_s=3600,
        **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _readings(entries: list[OutboxEntry]) -> dict[str, MeterValues]:
    """Each entry's reading by meter, after checking it is well-formed and signed."""
    out: dict[str, MeterValues] = {}
    public = Ed25519PublicKey.from_public_bytes(KEY.public_key)
    for entry in entries:
        signed = decode_payload(entry.payload)  # refuses anything outside the ranges
        public.verify(signed.signature, signed.reading.signing_bytes())
        r = signed.reading
        assert 0 <= r.import_wh <= UINT_MAX
        assert 0 <= r.export_wh <= UINT_MAX
        out[r.meter_id] = MeterValues(r.import_wh, r.export_wh, 0)
    return out


# -- any register words, any map


def _sunspec_header(regmap: RegisterMap) -> dict[int, int]:
    """A device whose first model after "SunS" is the map's own."""
    assert regmap.sunspec is not None
    base = regmap.sunspec.base
    spec = regmap.sunspec
    return {base: 0x5375, base + 1: 0x6E53, base + 2: spec.model_id, base + 3: spec.model_length}


def _expected(regmap: RegisterMap, words: dict[int, int], clock: str) -> MeterValues | None:
    """What the pure decoder makes of `words`: the values, or None for a decode error."""
    try:
        values = regmap.decode(words)
    except MeterError:
        return None
    if clock == "meter" and words[DEFAULT_CLOCK_REGISTER] == words[DEFAULT_CLOCK_REGISTER + 1] == 0:
        return None
    return MeterValues(values.import_wh, values.export_wh, 0)


async def _poll_good_and_wild(
    state: Path, wild_words: dict[int, int], name: str, clock: str
) -> tuple[list[OutboxEntry], HealthReport]:
    with RawModbusServer({1: serve_words(GOOD_WORDS), 2: serve_words(wild_words)}) as server:
        meters = (_meter("good", server.port, 1), _meter("wild", server.port, 2, name, clock=clock))
        config = _config(state, meters, timeout_s=2.0)
        outbox = Outbox(config.state_file)
        try:
            async with ModbusMeterReader(timeout_s=2.0) as reader:
                agent = GatewayAgent(
                    config=config, key=KEY, reader=reader, outbox=outbox,
                    connect=MemoryPublisher().connect,
                )  # fmt: skip
                return await agent.poll_once(), agent.health()
        finally:
            outbox.close()


@pytest.mark.parametrize("name", available_maps())
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), clock=st.sampled_from(["gateway", "meter"]), header=st.booleans())
def test_any_register_words_of_any_map_never_stop_the_other_meter(
    name: str, data: st.DataObject, clock: str, header: bool
) -> None:
    regmap = load_map(name)
    words: dict[int, int] = {}
    if regmap.sunspec is not None:
        base = regmap.sunspec.base
        if header:  # the model where the map expects it; else any words there
            words |= _sunspec_header(regmap)
        else:
            words |= {a: data.draw(WORD, label=f"header {a}") for a in range(base, base + 4)}
        regmap = regmap.located(base + 4)
    words |= register_words(regmap, data)
    clock_words = st.tuples(WORD, WORD)
    words[DEFAULT_CLOCK_REGISTER], words[DEFAULT_CLOCK_REGISTER + 1] = data.draw(clock_words)

    with tempfile.TemporaryDirectory() as tmp:
        entries, health = asyncio.run(_poll_good_and_wild(Path(tmp), words, name, clock))

    readings = _readings(entries)
    assert readings["good"] == MeterValues(GOOD_VALUES.import_wh, GOOD_VALUES.export_wh, 0)
    assert health.meter("good").counts == {"ok": 1}
    (outcome,) = health.meter("wild").counts
    expected = _expected(regmap, words, clock)
    if regmap.sunspec is None or header:
        assert outcome == ("decode_error" if expected is None else "ok")
        assert readings.get("wild") == expected
    else:  # a header chain of any words: wherever it leads, nothing else breaks
        assert outcome in {"ok", "decode_error", "exception"}


# -- a meter that misbehaves in every way, behind the same gateway as two good ones

_LONG_WAIT_S = 1.0  # the Modbus response timeout in these tests


def _registers_frame(request: Request, count: int, byte_count: int | None = None) -> bytes:
    data = b"\x00" * (2 * count)
    return request.frame(
        bytes([request.function, len(data) if byte_count is None else byte_count]) + data
    )


HUGE = dict(GOOD_WORDS)
HUGE[72], HUGE[73] = float32_words(3e38)  # "Total import kWh": a corrupt register

# (what the meter does, how the gateway counts it, whether it can tell at once)
MISBEHAVIOURS: list[tuple[str, Callable[[Request], Action], Outcome, bool]] = [
    ("Modbus exception", lambda r: r.exception(4), Outcome.EXCEPTION, True),
    ("silence", lambda r: SILENCE, Outcome.TIMEOUT, False),
    ("short frame", lambda r: _registers_frame(r, r.count - 1), Outcome.CORRUPT_FRAME, True),
    ("long frame", lambda r: _registers_frame(r, r.count + 1), Outcome.CORRUPT_FRAME, True),
    (
        "byte count disagreeing with the length",
        lambda r: _registers_frame(r, r.count, byte_count=2 * r.count + 2),
        Outcome.CORRUPT_FRAME,
        True,
    ),
    (
        "trailing bytes",
        lambda r: r.registers(GOOD_WORDS) + b"\x00\x00",
        Outcome.CORRUPT_FRAME,
        True,
    ),
    ("garbage", lambda r: b"\xde\xad\xbe\xef" * 8, Outcome.CORRUPT_FRAME, True),
    (
        "half a frame, then nothing",
        lambda r: r.registers(GOOD_WORDS)[:20],
        Outcome.CORRUPT_FRAME,
        False,
    ),
    ("hang-up", lambda r: HANG_UP, Outcome.UNREACHABLE, True),
    ("3e38 kWh in a register", serve_words(HUGE), Outcome.DECODE_ERROR, True),
]


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.WARNING)
    yield
    for record in caplog.records:
        text = record.getMessage()
        assert "Fatal error" not in text, text
        assert "Unable to decode" not in text, text
        assert record.exc_info is None, text


async def test_a_misbehaving_meter_is_counted_and_the_others_publish_every_poll(
    tmp_path: Path, no_tracebacks: None
) -> None:
    with (
        RawModbusServer({1: serve_words(GOOD_WORDS), 2: serve_words(GOOD_WORDS)}) as healthy,
        RawModbusServer({7: serve_words(GOOD_WORDS)}) as meter,
    ):
        meters = (
            _meter("good-1", healthy.port, 1),
            _meter("odd", meter.port, 7),
            _meter("good-2", healthy.port, 2),
        )
        config = _config(tmp_path, meters, timeout_s=_LONG_WAIT_S, poll_interval_s=5)
        outbox = Outbox(config.state_file)
        async with ModbusMeterReader(timeout_s=_LONG_WAIT_S) as reader:
            agent = GatewayAgent(
                config=config, key=KEY, reader=reader, outbox=outbox,
                connect=MemoryPublisher().connect,
            )  # fmt: skip

            async def poll(expect: Outcome, what: str) -> float:
                before = dict(agent.health().meter("odd").counts)
                started = time.monotonic()
                entries = await agent.poll_once()
                took = time.monotonic() - started
                readings = _readings(entries)
                assert set(readings) >= {"good-1", "good-2"}, what  # the others published
                counts = dict(agent.health().meter("odd").counts)
                assert counts.get(expect.value, 0) == before.get(expect.value, 0) + 1, what
                assert ("odd" in readings) == (expect is Outcome.OK), what
                assert took < 0.8 * config.poll_interval_s, what  # the schedule holds
                return took

            await poll(Outcome.OK, "a good start")
            for what, behaviour, outcome, at_once in MISBEHAVIOURS:
                meter.answers[7] = behaviour
                took = await poll(outcome, what)
                if at_once:
                    assert took < _LONG_WAIT_S / 2, f"{what}: {took:.2f} s, not at once"
            meter.go_away()
            await poll(Outcome.UNREACHABLE, "gone")
            meter.answers[7] = serve_words(GOOD_WORDS)
            meter.come_back()
            await poll(Outcome.OK, "back")
            health = agent.health()
        outbox.close()
    assert health.meter("good-1").counts == {"ok": len(MISBEHAVIOURS) + 3}
    assert health.meter("good-2").missed_polls == 0
    assert health.meter("odd").missed_polls == len(MISBEHAVIOURS) + 1


async def test_an_inconsistent_frame_fails_at_once_without_a_traceback(no_tracebacks: None) -> None:
    def inconsistent(r: Request) -> Action:
        return _registers_frame(r, r.count, byte_count=2 * r.count - 2)

    with RawModbusServer({1: inconsistent}) as meter:
        async with ModbusMeterReader(timeout_s=2.0) as reader:
            started = time.monotonic()
            with pytest.raises(
                MeterReadError, match="byte count 46 disagrees with the length 51"
            ) as info:
                await reader.read(_meter("m1", meter.port, 1))
            assert time.monotonic() - started < 0.5
            assert info.value.outcome is Outcome.CORRUPT_FRAME
            meter.answers[1] = serve_words(GOOD_WORDS)
            assert (await reader.read(_meter("m1", meter.port, 1))).values == GOOD_VALUES


async def test_the_healthy_meters_keep_their_schedule_while_one_misbehaves(tmp_path: Path) -> None:
    """Under `run`, on wall-clock boundaries: each second a reading of the good
    meter, while the other answers in turn 3e38 kWh, silence, garbage, a hang-up."""
    faults: list[Answer] = [
        serve_words(HUGE),
        lambda r: SILENCE,
        lambda r: b"\xde\xad\xbe\xef" * 3,
        lambda r: HANG_UP,
    ]
    calls = [0]

    def odd(r: Request) -> Action:
        calls[0] += 1
        return faults[(calls[0] - 1) % len(faults)](r)

    broker = MemoryPublisher()
    with RawModbusServer({1: serve_words(GOOD_WORDS), 7: odd}) as server:
        meters = (_meter("good", server.port, 1), _meter("odd", server.port, 7))
        config = _config(tmp_path, meters, timeout_s=0.3, poll_interval_s=1)
        outbox = Outbox(config.state_file)
        async with ModbusMeterReader(timeout_s=0.3) as reader:
            agent = GatewayAgent(
                config=config, key=KEY, reader=reader, outbox=outbox, connect=broker.connect
            )
            run = asyncio.create_task(agent.run())
            topic = topics.gateway_readings("t", KEY.gateway_id)
            await async_wait_until(
                lambda: len(broker.payloads(topic)) >= 4, within_s=10, what="4 good readings"
            )
            agent.stop()
            await asyncio.wait_for(run, 10)
            health = agent.health()
        outbox.close()
    stamps = [decode_payload(p).reading.ts for p in broker.payloads(topic)]
    assert {decode_payload(p).reading.meter_id for p in broker.payloads(topic)} == {"good"}
    # The first poll runs at start, the rest on consecutive second boundaries.
    assert [b - a for a, b in itertools.pairwise(stamps[1:])] == [1] * (len(stamps) - 2)
    assert health.meter("good").missed_polls == 0
    assert health.meter("odd").counts.get("ok", 0) == 0
