"""decide_batch: the oracle's state carried within one batch."""

import datetime as dt

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from coordinator.readings.ingest.decide import BatchDecision, BatchState, decide_batch, verify_all
from coordinator.readings.ingest.screen import Incoming, Parsed
from coordinator.readings.oracle import (
    DeviceRecord,
    Flag,
    MeterKey,
    MeterState,
    OracleConfig,
    Reason,
)
from coordinator.readings.oracle.records import RetiredKey
from edge.signing import DeviceKey
from wire.reading import Reading, SignedReading

KEY = DeviceKey.generate()
GW = KEY.gateway_id
NOW = 1_764_028_800
DEVICES = {GW: DeviceRecord(public_key=KEY.public_key, active=True, rated_power_w={"m1": 36_000})}
AT = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)


def _p(seq: int, ts: int, imp: int, exp: int = 0) -> Parsed:
    return Parsed(Incoming("t", b"", AT), KEY.sign(Reading(GW, "m1", seq, ts, imp, exp)))


def _state(previous: MeterState | None = None, foe: int | None = None) -> BatchState:
    prev = {} if previous is None else {MeterKey(GW, "m1"): previous}
    return BatchState(DEVICES, prev, {}, {}, foe)


def _decide(parsed: list[Parsed], state: BatchState) -> BatchDecision:
    return decide_batch(
        parsed, state, now=NOW, config=OracleConfig(), length_s=900,
        verified=verify_all(parsed, DEVICES),
    )  # fmt: skip


def test_state_carries_within_a_batch() -> None:
    t0 = NOW - 1800  # epoch boundaries at multiples of 900
    batch = [_p(1, t0, 0), _p(2, t0 + 900, 900), _p(2, t0 + 900, 900), _p(5, t0 + 1800, 1800)]
    d = _decide(batch, _state())
    assert [a.signed.reading.seq for a in d.accepted] == [1, 2, 5]
    assert len(d.duplicates) == 1
    assert d.accepted[2].flags == frozenset({Flag.SEQUENCE_GAP})
    e0 = t0 // 900
    assert d.energy == {
        (e0, MeterKey(GW, "m1")): (900, 0),
        (e0 + 1, MeterKey(GW, "m1")): (900, 0),
    }
    assert d.meters[MeterKey(GW, "m1")] == (5, MeterState(t0 + 1800, 1800, 0))
    assert d.gateways == {GW: 5}


def test_closed_epochs_fold_into_first_open() -> None:
    t0 = NOW - 1800
    d = _decide([_p(2, t0 + 900, 900)], _state(MeterState(t0, 0, 0), foe=NOW // 900))
    assert d.energy == {(NOW // 900, MeterKey(GW, "m1")): (900, 0)}
    assert d.accepted[0].epoch == NOW // 900


def test_reused_seq_in_batch_and_forged_signature() -> None:
    good = _p(1, NOW - 60, 10)
    other = _p(1, NOW - 30, 20)
    forged = Parsed(good.incoming, SignedReading(other.signed.reading, good.signed.signature))
    d = _decide([good, other, forged], _state())
    assert [r.reason for r in d.rejected] == [Reason.SEQ_REUSED, Reason.BAD_SIGNATURE]


def test_rotated_gateway_new_key_and_retired_key_judged_by_receive_time() -> None:
    new = Ed25519PrivateKey.generate()
    new_pub = new.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    until = int(AT.timestamp())  # the old key (the gateway id) retired at AT
    devices = {
        GW: DeviceRecord(
            public_key=new_pub,
            active=True,
            rated_power_w={"m1": 36_000},
            retired_keys=(RetiredKey(KEY.public_key, until),),
        )
    }
    before, after = AT - dt.timedelta(seconds=1), AT + dt.timedelta(seconds=1)

    def signed(seq: int, at: dt.datetime, by_new: bool) -> Parsed:
        r = Reading(GW, "m1", seq, NOW - 100 + seq, seq, 0)
        s = SignedReading(r, new.sign(r.signing_bytes())) if by_new else KEY.sign(r)
        return Parsed(Incoming("t", b"", at), s)

    batch = [signed(1, after, True), signed(2, before, False), signed(3, after, False)]
    verified = verify_all(batch, devices)
    # The current key first; the retired one only where it failed.
    assert verified[(id(batch[0].signed), new_pub)] is True
    assert (id(batch[0].signed), KEY.public_key) not in verified
    assert verified[(id(batch[1].signed), KEY.public_key)] is True
    state = BatchState(devices, {}, {}, {}, None)
    d = decide_batch(batch, state, now=NOW, config=OracleConfig(), length_s=900, verified=verified)
    assert [a.signed.reading.seq for a in d.accepted] == [1, 2]
    assert [r.reason for r in d.rejected] == [Reason.BAD_SIGNATURE]
    assert "retired" in d.rejected[0].detail
