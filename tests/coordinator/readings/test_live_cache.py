"""LiveCache against the real Redis: the newest reading of each meter wins, across
batches and across instances writing the same keys, however many meters a flush
carries; counters add up."""

import datetime as dt

import pytest
import redis.asyncio as aioredis

from coordinator.readings.ingest.outcome import BatchOutcome, LatestReading
from coordinator.readings.ingest.screen import Incoming, Rejected
from coordinator.readings.live_cache import LiveCache
from tests.conftest import RUN_ID

pytestmark = pytest.mark.services
URL = "redis://127.0.0.1:6379/0"
AT = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)


def _outcome(newest: dict[tuple[str, str], LatestReading], rejected: int = 0) -> BatchOutcome:
    rejects = [Rejected(Incoming("t", b"x", AT), "bad_signature", "d", None)] * rejected
    return BatchOutcome(accepted=len(newest), duplicates=1, rejected=rejects, newest=newest)


async def test_newest_reading_wins_across_instances_and_many_meters(
    request: pytest.FixtureRequest,
) -> None:
    root = f"gtxtest:{RUN_ID}:{request.node.name}"
    one, other = LiveCache(URL, root, timeout_s=5), LiveCache(URL, root, timeout_s=5)
    client = aioredis.Redis.from_url(URL, decode_responses=True)
    # More meters than one script call takes, so the flush spans several.
    meters = [(f"gw{n}", "m1") for n in range(1_203)]
    try:
        one.note(_outcome({m: (2, 200, 20, 2) for m in meters}, rejected=2))
        # Another instance holds an older reading of every even meter and a newer
        # one of every odd meter: only the newer ones replace what is stored.
        older_or_newer = {
            m: (1, 100, 10, 1) if n % 2 == 0 else (3, 300, 30, 3) for n, m in enumerate(meters)
        }
        other.note(_outcome(older_or_newer))
        assert await one.flush()
        assert await other.flush()
        assert one.pending() == other.pending() == 0
        stored = {}
        for gw, meter in meters:
            stored[gw] = await client.hgetall(f"{root}:meter:{gw}:{meter}")
        counters = await client.hgetall(f"{root}:counters")
    finally:
        keys = [k async for k in client.scan_iter(f"{root}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await one.aclose()
        await other.aclose()
    for n, (gw, _) in enumerate(meters):
        seq, ts, imp, exp = (2, 200, 20, 2) if n % 2 == 0 else (3, 300, 30, 3)
        assert stored[gw] == {
            "seq": str(seq), "ts": str(ts), "import_wh": str(imp), "export_wh": str(exp)
        }  # fmt: skip
    assert counters == {
        "accepted": str(2 * len(meters)),
        "duplicate": "2",
        "rejected:bad_signature": "2",
    }
