"""Gateway CPU time per reading: decode + sign + outbox write + publish + outbox delete.

Runs the agent's hot path (the same calls `GatewayAgent` makes: register-map
decode, Reading + Ed25519 signature + canonical payload, `Outbox.add` with
WAL and synchronous=FULL, publish, `Outbox.remove_many` per window after the
acknowledgements) and prints CPU time (process_time: this process's user +
system time) and wall time per reading, for

  * an in-process fake publisher (`edge.publisher.MemoryPublisher`), and
  * a real Mosquitto at QoS 1, awaiting every PUBACK (skipped if unreachable),

beside the raw Ed25519 signing cost with `cryptography` measured in the same
run. Target (DESIGN.md): under 1 ms CPU per reading on CPython.

    .venv/bin/python benchmarks/bench_gateway.py [--readings 2000] [--host 127.0.0.1 --port 1883]
"""

import argparse
import asyncio
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from device_sim.encoding import layout_for, read_block
from device_sim.meter import MeterSnapshot, SimulatedMeter
from edge.agent import PUBLISH_WINDOW
from edge.config import BrokerConfig
from edge.errors import BrokerError
from edge.outbox import Outbox
from edge.publisher import MemoryPublisher, MqttPublisher
from edge.registermap import MeterValues, RegisterMap, load_map
from edge.signing import DeviceKey
from wire import topics
from wire.reading import Reading, encode_payload

Publish = Callable[[str, bytes], Awaitable[None]]


def _served_words(regmap: RegisterMap, snapshot: MeterSnapshot) -> dict[int, int]:
    """What the gateway reads from a simulated meter of `regmap`'s model."""
    layout = layout_for(regmap.name)
    words: dict[int, int] = {}
    for function, start, count in regmap.read_blocks():
        block = read_block(layout, snapshot, function, start, count)
        assert isinstance(block, list)
        words.update(zip(range(start, start + count), block, strict=True))
    return words


async def _run(count: int, publish: Publish, key: DeviceKey, root: str) -> tuple[float, float]:
    """(CPU s, wall s) per reading for `count` readings through the hot path."""
    regmap = load_map("sdm630")
    snapshot = SimulatedMeter.fixed(import_wh=12_345_500, export_wh=987_250).snapshot(0)
    words = _served_words(regmap, snapshot)
    topic = topics.gateway_readings(root, key.gateway_id)
    with tempfile.TemporaryDirectory() as tmp:
        outbox = Outbox(Path(tmp) / "state.sqlite")
        cpu0, wall0 = time.process_time(), time.perf_counter()
        done = 0
        while done < count:
            window = min(PUBLISH_WINDOW, count - done)
            for i in range(window):
                values = regmap.decode(words)
                ts = 1_764_000_000 + done + i

                def build(
                    seq: int, ts: int = ts, values: MeterValues = values
                ) -> tuple[str, bytes]:
                    reading = Reading(
                        key.gateway_id, "sdm630-0001", seq, ts, values.import_wh, values.export_wh
                    )
                    return topic, encode_payload(key.sign(reading))

                outbox.add(build, gateway_ts=ts)
            batch = outbox.pending(window)
            await asyncio.gather(*(publish(e.topic, e.payload) for e in batch))
            outbox.remove_many([e.seq for e in batch])
            done += window
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        outbox.close()
    return cpu / count, wall / count


def _raw_sign_cost(count: int, key: DeviceKey) -> float:
    message = Reading(key.gateway_id, "sdm630-0001", 1, 1_764_000_000, 1, 2).signing_bytes()
    private = key._private_key  # the baseline is exactly this call
    cpu0 = time.process_time()
    for _ in range(count):
        private.sign(message)
    return (time.process_time() - cpu0) / count


async def _main(args: argparse.Namespace) -> None:
    key = DeviceKey.generate()
    root = "gtxbench/" + secrets.token_hex(4)
    n = args.readings
    raw = _raw_sign_cost(n, key)
    print(f"baseline  Ed25519 sign (cryptography):      {raw * 1e6:8.1f} us CPU / signature")

    memory = MemoryPublisher()
    cpu, wall = await _run(n, memory.publish, key, root)
    print(
        f"gateway   fake publisher:   {cpu * 1e6:8.1f} us CPU / reading "
        f"({cpu / raw:5.1f}x a raw signature), wall {wall * 1e6:8.1f} us"
    )
    broker = BrokerConfig(host=args.host, port=args.port, topic_root=root)
    try:
        async with MqttPublisher(broker, key.gateway_id) as mqtt:
            cpu, wall = await _run(n, mqtt.publish, key, root)
        print(
            f"gateway   Mosquitto QoS 1:  {cpu * 1e6:8.1f} us CPU / reading "
            f"({cpu / raw:5.1f}x a raw signature), wall {wall * 1e6:8.1f} us"
        )
    except BrokerError as exc:
        print(f"gateway   Mosquitto QoS 1:  skipped ({exc})")
    print("target    under 1000 us CPU per reading")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=2000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
