"""`gtx-provision check`: the installer's end-to-end test, one step at a time.

config -> device key -> each meter over Modbus -> broker login with the
gateway's credentials -> a real reading (the first meter's, sequence number
from the agent's own outbox, so the agent never reuses it) published at QoS 1
and acknowledged by the broker -> the coordinator reports it accepted (asked
through GET /api/v1/gateways/{id}/readings/{seq}, signed by the device key).
A step that fails says why; later steps that depend on it are not run.
"""

import asyncio
import contextlib
import ssl
import time
from pathlib import Path

import aiomqtt

from edge.config import GatewayConfig, load_config
from edge.errors import ConfigError, MeterError
from edge.meter_reader import MeterSample, ModbusMeterReader
from edge.outbox import Outbox
from provisioning.client import Transport
from provisioning.errors import ProvisioningError, RefusedError
from provisioning.gateway_config import recorded_gateway_id
from provisioning.keys import Signer
from provisioning.output import Report
from wire import topics
from wire.reading import Reading, encode_payload

__all__ = ["run_check"]

_POLL_S = 0.5


def _tls(config: GatewayConfig) -> ssl.SSLContext | None:
    """As the agent connects: the broker's CA file, else the system's trust store."""
    broker = config.broker
    if not broker.tls:
        return None
    try:
        return ssl.create_default_context(
            cafile=None if broker.ca_file is None else str(broker.ca_file)
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"broker.ca_file {broker.ca_file}: {exc}") from exc


async def run_check(
    config_file: Path, transport: Transport, *, accept_timeout_s: float = 30.0
) -> Report:
    report = Report("check")
    try:
        config = load_config(config_file)
        tls = _tls(config)
    except ConfigError as exc:
        report.add("config", False, str(exc))
        return report
    report.add("config", True, f"{config_file}: {len(config.meters)} meter(s)")
    try:
        signer = Signer.load(config.key_file)
    except ConfigError as exc:
        report.add("device key", False, str(exc))
        return report
    gateway_id = recorded_gateway_id(config_file) or signer.address
    report.add("device key", True, f"gateway id {gateway_id}")
    report.data["gateway_id"] = gateway_id

    values: dict[str, MeterSample] = {}
    async with ModbusMeterReader() as reader:
        for meter in config.meters:
            try:
                sample = await reader.read(meter)
            except MeterError as exc:
                report.add(f"meter {meter.meter_id}", False, str(exc))
                continue
            v = sample.values
            values[meter.meter_id] = sample
            report.add(
                f"meter {meter.meter_id}",
                True,
                f"import {v.import_wh} Wh, export {v.export_wh} Wh, power {v.power_w} W",
            )
    if not values:
        return report
    await _publish_and_confirm(config, gateway_id, signer, values, tls, transport, report,
                               accept_timeout_s)  # fmt: skip
    return report


async def _publish_and_confirm(
    config: GatewayConfig,
    gateway_id: str,
    signer: Signer,
    values: dict[str, MeterSample],
    tls: ssl.SSLContext | None,
    transport: Transport,
    report: Report,
    accept_timeout_s: float,
) -> None:
    broker = config.broker
    meter_id, sample = next(iter(values.items()))
    v = sample.values
    try:
        async with aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password,
            # The gateway's own client id: the production broker accepts no other
            # for its account. A running agent is disconnected for a moment; it
            # reconnects and republishes whatever was not acknowledged.
            identifier=topics.gateway_client_id(gateway_id),
            tls_context=tls,
            timeout=10,
        ) as client:
            report.add("broker login", True, f"{broker.host}:{broker.port} as {broker.username}")
            outbox = Outbox(config.state_file)
            try:
                topic = topics.gateway_readings(broker.topic_root, gateway_id)
                reading_ts = sample.meter_ts or int(time.time())

                def build(seq: int) -> tuple[str, bytes]:
                    reading = Reading(
                        gateway_id, meter_id, seq, reading_ts, v.import_wh, v.export_wh
                    )
                    return topic, encode_payload(signer.sign_reading(reading))

                entry = outbox.add(build)
                await client.publish(topic, entry.payload, qos=1)
                outbox.remove(entry.seq)
            finally:
                outbox.close()
            report.add("publish", True, f"reading seq {entry.seq} of {meter_id} acknowledged")
    except aiomqtt.MqttError as exc:
        report.add("broker login", False, f"{broker.host}:{broker.port}: {exc}")
        return
    report.data["seq"] = entry.seq
    await _confirm(gateway_id, entry.seq, signer, transport, report, accept_timeout_s)


async def _confirm(
    gateway_id: str,
    seq: int,
    signer: Signer,
    transport: Transport,
    report: Report,
    timeout_s: float,
) -> None:
    path = f"/api/v1/gateways/{gateway_id}/readings/{seq}"
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            answer = await asyncio.to_thread(
                transport.request, "GET", path, None, signer.request_headers("GET", path)
            )
        except RefusedError as exc:
            report.add("coordinator", False, exc.message + f" ({exc.code})")
            return
        except ProvisioningError as exc:
            report.add("coordinator", False, str(exc))
            return
        if answer["status"] == "accepted":
            report.add("coordinator", True, f"reading seq {seq} accepted")
            return
        if answer["status"] == "rejected":
            report.add("coordinator", False, f"rejected: {answer['reason']}: {answer['detail']}")
            return
        if time.monotonic() > deadline:
            report.add(
                "coordinator", False,
                f"reading seq {seq} not seen within {timeout_s:.0f} s: is the coordinator "
                "ingesting, and does the broker ACL let this gateway publish?",
            )  # fmt: skip
            return
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(_POLL_S)
