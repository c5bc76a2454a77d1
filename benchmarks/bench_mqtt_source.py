"""The coordinator's MQTT receive path: CPU per reading received and acknowledged.

`coordinator.readings.ingest.mqtt_source.MqttSource` (on `BulkClient`: bulk socket reads
and writes, one wake-up per batch of acknowledgements) beside the same source
on paho's own `Client` (a `recv` per packet part, a `send` and a wake-up per
acknowledgement), measured in the same run on a private Mosquitto.

A load process writes pre-encoded QoS 1 PUBLISH packets as fast as the broker
takes them; the receiving process's CPU time (all its threads) from the first
to the last message, divided by the messages, is the figure.

    .venv/bin/python benchmarks/bench_mqtt_source.py [--messages 100000]
"""

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import socket
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import paho.mqtt.client as mqtt
from bench_ingest import _mqtt_connect, _mqtt_publish_qos1, private_broker

from coordinator.readings.ingest import paho_client
from coordinator.readings.ingest.mqtt_source import MqttSource
from coordinator.readings.ingest.paho_client import BulkClient


class PahoClient(mqtt.Client):
    """paho as it comes: every acknowledgement queued on its own."""

    def ack_many(self, acks: Iterable[tuple[int, int]]) -> None:
        for mid, qos in acks:
            self.ack(mid, qos)

    def round_trip(self, timeout_s: float) -> bool:
        return True  # only at the source's exit, outside what is timed


def _load(port: int, n: int) -> None:
    payload = os.urandom(90).hex().encode()  # about a signed reading's size
    packets = [
        _mqtt_publish_qos1(f"gtx/readings/gw{i % 500:04d}", payload, i % 65535 + 1)
        for i in range(n)
    ]
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(_mqtt_connect(f"gtx-bench-load-{os.getpid()}"))
    sock.recv(4)

    acked = threading.Event()

    def drain() -> None:
        # Every PUBACK is 4 bytes; closing before the broker has acknowledged
        # everything could reset the connection under unread publishes.
        received = 0
        while received < 4 * n:
            data = sock.recv(65536)
            if not data:
                break
            received += len(data)
        acked.set()

    threading.Thread(target=drain, daemon=True).start()
    for i in range(0, n, 500):
        sock.sendall(b"".join(packets[i : i + 500]))
    acked.wait(120)
    sock.sendall(b"\xe0\x00")  # DISCONNECT
    sock.close()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _receive(port: int, n: int, v5: bool, name: str) -> tuple[float, float]:
    """(CPU us per message, messages/s wall) for one source."""
    async with MqttSource(
        host="127.0.0.1",
        port=port,
        client_id=f"gtx-bench-rx-{name}-{v5}",
        subscription="gtx/readings/+",
        mqtt_v5=v5,
    ) as source:
        load = mp.get_context("fork").Process(target=_load, args=(port, n))
        load.start()
        got = 0
        cpu0 = wall0 = None
        while got < n:
            batch = await source.next_batch(8000, 0.05)
            if cpu0 is None:
                cpu0, wall0 = _cpu_s(), time.perf_counter()
            got += len(batch)
            source.ack(batch)
        assert cpu0 is not None  # n > 0 readings: the loop ran
        cpu, wall = _cpu_s() - cpu0, time.perf_counter() - (wall0 or 0.0)
        load.join()
    return cpu / n * 1e6, n / wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, private_broker(Path(tmp)) as port:
        print(f"{args.messages:,} QoS 1 readings through Mosquitto, received and acknowledged")
        print(f"{'MQTT':>6} {'client':>12} {'us CPU/msg':>11} {'msg/s':>9}")
        for v5 in (False, True):
            figures = {}
            for name, client in (("paho Client", PahoClient), ("BulkClient", BulkClient)):
                paho_client.BulkClient = client  # type: ignore[misc, assignment]
                figures[name] = asyncio.run(_receive(port, args.messages, v5, name[:4]))
                us, rate = figures[name]
                print(f"{'5' if v5 else '3.1.1':>6} {name:>12} {us:>11.1f} {rate:>9,.0f}")
            paho_client.BulkClient = BulkClient  # type: ignore[misc]
            base, bulk = figures["paho Client"][0], figures["BulkClient"][0]
            print(f"{'':>6} {'ratio':>12} {base / bulk:>10.2f}x less CPU per message")


if __name__ == "__main__":
    main()
