"""`gtx-coordinator monitor`: the operator's live view of the MQTT topics.

Subscribes (read-only) to everything under ``{root}/v1/#`` and keeps a
`MonitorView`: gateways online / offline (retained birth / last-will status)
and when each was last heard from, each gateway's readings rate (messages on
its readings topic), its latest health report, the coordinators' ingest
counts (accepted, rejected by reason), the latest epoch summaries and
clearings, and alerts. `MonitorView.feed` and the renderers are pure; only
`run_monitor` touches the network and the terminal.

The view refreshes in place with plain ANSI escapes of its own; whatever the
wire carries is printed through `wire.text.printable`, so a gateway cannot
send escapes to the operator's terminal. ``--once --json`` prints
one JSON snapshot (after the retained messages have arrived) for scripts.

Amounts are shown as people count them: energy in kWh (energy tokens have 9
decimals, 1 kWh = 10**9 base units), prices in credits per kWh and payments in
credits (the payment mint has 6 decimals); epochs with their UTC start-end
(the length comes with each published epoch summary). The JSON snapshot keeps
the base units beside those.

A broker that cannot be reached, refuses the monitor or does not speak MQTT on
that port is a `BrokerError` with one line saying which.
"""

import asyncio
import contextlib
import json
import ssl
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TextIO

import aiomqtt

from coordinator.errors import BrokerError
from coordinator.ops.alerts.rules import estimate_poll_interval
from coordinator.readings.oracle import EpochCalendar, Segment, epoch_span
from programs.roles.token import ENERGY_DECIMALS, PAYMENT_DECIMALS
from wire import topics
from wire.alerts import AlertEvent, IngestCounts, decode_alert, decode_stats
from wire.clearing import decode_clearing
from wire.controls import ControlsReport, decode_controls
from wire.health import HealthReport, decode_health
from wire.reading import ProtocolError, decode_payload
from wire.text import printable

__all__ = [
    "GatewayView",
    "MonitorView",
    "TopicKind",
    "classify_topic",
    "render_json",
    "render_text",
    "run_monitor",
]

# Readings rate window, and how many epochs / clearings / alerts the view keeps.
RATE_WINDOW_S = 60.0
KEEP_EPOCHS = 5
KEEP_ALERTS = 20
# A gateway whose readings stop for this many poll intervals is shown silent.
SILENT_INTERVALS = 2.0
CLEAR = "\x1b[H\x1b[2J"
# Seconds to wait for the broker's CONNACK: a port that is not an MQTT broker's
# answers nothing.
CONNECT_TIMEOUT_S = 5.0
ENERGY_UNITS_PER_KWH = 10**ENERGY_DECIMALS
PAYMENT_UNITS_PER_CREDIT = 10**PAYMENT_DECIMALS


class TopicKind:
    READINGS = "readings"
    STATUS = "status"
    HEALTH = "health"
    COMMAND = "cmd"
    EPOCH = "epoch"
    CLEARING = "clearing"
    ALERTS = "alerts"
    STATS = "stats"
    CONTROLS = "controls"


def classify_topic(root: str, topic: str) -> tuple[str, str] | None:
    """(kind, gateway id or epoch number or "") of a topic under `root`, or None."""
    base = root + "/" + topics.VERSION_SEGMENT + "/"
    if not topic.startswith(base):
        return None
    parts = topic[len(base) :].split("/")
    gw_kinds = (TopicKind.READINGS, TopicKind.STATUS, TopicKind.HEALTH, TopicKind.COMMAND)
    if len(parts) == 3 and parts[0] == "gw" and parts[1] and parts[2] in gw_kinds:
        return parts[2], parts[1]
    if len(parts) == 3 and parts[0] == "coord" and parts[2].isdigit():
        if parts[1] == "epochs":
            return TopicKind.EPOCH, parts[2]
        if parts[1] == "clearing":
            return TopicKind.CLEARING, parts[2]
    if parts == ["coord", "alerts"]:
        return TopicKind.ALERTS, ""
    if parts == ["coord", "stats"]:
        return TopicKind.STATS, ""
    if parts == ["coord", "controls"]:
        return TopicKind.CONTROLS, ""
    return None


@dataclass
class GatewayView:
    """What the monitor knows of one gateway."""

    gateway_id: str
    state: str = "unknown"  # online | offline | unknown (no status seen)
    state_ts: int = 0
    last_seen: float = 0.0  # when anything from it last arrived here
    last_reading: float = 0.0
    readings: int = 0
    arrivals: deque[float] = field(default_factory=deque)
    points: deque[tuple[str, int]] = field(default_factory=lambda: deque(maxlen=64))
    health: HealthReport | None = None

    def rate_per_min(self, now: float) -> float:
        while self.arrivals and self.arrivals[0] < now - RATE_WINDOW_S:
            self.arrivals.popleft()
        return len(self.arrivals) * 60.0 / RATE_WINDOW_S

    def poll_interval_s(self) -> int | None:
        step = estimate_poll_interval(self.points, 0)
        return step or None

    def silent(self, now: float) -> bool:
        interval = self.poll_interval_s()
        if interval is None or not self.last_reading:
            return False
        return now - self.last_reading > SILENT_INTERVALS * interval


@dataclass
class MonitorView:
    """The monitor's state, fed one MQTT message at a time."""

    root: str
    broker: str = ""  # host:port, for the header
    gateways: dict[str, GatewayView] = field(default_factory=dict)
    epochs: dict[int, dict[str, Any]] = field(default_factory=dict)
    clearings: dict[int, dict[str, Any]] = field(default_factory=dict)
    alerts: deque[AlertEvent] = field(default_factory=lambda: deque(maxlen=KEEP_ALERTS))
    active_alerts: dict[str, AlertEvent] = field(default_factory=dict)
    stats: dict[str, IngestCounts] = field(default_factory=dict)
    controls: ControlsReport | None = None  # the REC authority's emergency controls
    messages: int = 0
    undecodable: int = 0
    # The epochs as the latest summary gives them (its epoch, start and length): the
    # recent epochs, across a governed length change too.
    epochs_from: EpochCalendar | None = None

    def _gateway(self, gateway_id: str) -> GatewayView:
        return self.gateways.setdefault(gateway_id, GatewayView(gateway_id))

    def feed(self, topic: str, payload: bytes, now: float) -> None:
        """Take one message (retained or live) that arrived at `now`."""
        kind = classify_topic(self.root, topic)
        if kind is None:
            return
        self.messages += 1
        try:
            self._feed(kind[0], kind[1], payload, now)
        except (ValueError, KeyError, TypeError, ProtocolError):
            self.undecodable += 1

    def _feed(self, kind: str, ident: str, payload: bytes, now: float) -> None:
        if kind == TopicKind.READINGS:
            gw = self._gateway(ident)
            gw.last_seen = gw.last_reading = now
            gw.readings += 1
            gw.arrivals.append(now)
            reading = decode_payload(payload).reading
            gw.points.append((reading.meter_id, reading.ts))
        elif kind == TopicKind.STATUS:
            gw = self._gateway(ident)
            # An empty retained message clears the status: treat as offline.
            doc: dict[str, Any] = json.loads(payload) if payload else {"state": "offline"}
            gw.state = str(doc["state"])
            gw.state_ts = int(doc.get("ts") or 0)
            gw.last_seen = max(gw.last_seen, now) if gw.state == "online" else gw.last_seen
        elif kind == TopicKind.HEALTH:
            gw = self._gateway(ident)
            gw.health = decode_health(payload)
            gw.last_seen = now
        elif kind == TopicKind.EPOCH:
            summary: dict[str, Any] = json.loads(payload)
            self.epochs[int(ident)] = summary
            start, length = summary.get("start"), summary.get("length_s")
            if isinstance(start, int) and isinstance(length, int) and length > 0:
                self.epochs_from = EpochCalendar((Segment(int(ident), start, length),))
            _trim(self.epochs)
        elif kind == TopicKind.CLEARING:
            published = decode_clearing(payload)
            result = published.result
            self.clearings[int(ident)] = {
                "epoch": published.epoch,
                "clearing_price": result["clearing_price"],
                "volume": result["volume"],
                "turnover": result["turnover"],
                "volume_kwh": _kwh(result["volume"]),
                "clearing_price_credits_per_kwh": _credits(result["clearing_price"]),
                "turnover_credits": _credits(result["turnover"]),
                "matches": len(result["matches"]),
                "orders": len(result["orders"]),
                "pricing": result["pricing"],
                "result_hash": published.result_hash,
            }
            _trim(self.clearings)
        elif kind == TopicKind.ALERTS:
            event = decode_alert(payload)
            self.alerts.append(event)
            if event.state == "resolved":
                self.active_alerts.pop(event.alert.key, None)
            else:
                self.active_alerts[event.alert.key] = event
        elif kind == TopicKind.STATS:
            counts = decode_stats(payload)
            self.stats[counts.instance] = counts
        elif kind == TopicKind.CONTROLS:
            self.controls = decode_controls(payload)

    def rejected_by_reason(self) -> dict[str, int]:
        """Rejections counted by every coordinator instance since it started."""
        total: dict[str, int] = {}
        for counts in self.stats.values():
            for reason, n in counts.rejected.items():
                total[reason] = total.get(reason, 0) + n
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))


def _kwh(base_units: int | None) -> float | None:
    return None if base_units is None else base_units / ENERGY_UNITS_PER_KWH


def _credits(base_units: int | None) -> float | None:
    return None if base_units is None else base_units / PAYMENT_UNITS_PER_CREDIT


def _amount(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.3f} {unit}"


def _trim(by_epoch: dict[int, dict[str, Any]]) -> None:
    for old in sorted(by_epoch)[:-KEEP_EPOCHS]:
        del by_epoch[old]


def _gateway_json(gw: GatewayView, now: float) -> dict[str, Any]:
    health = gw.health
    return {
        "state": gw.state,
        "state_ts": gw.state_ts,
        "silent": gw.silent(now),
        "last_seen_ago_s": round(now - gw.last_seen, 1) if gw.last_seen else None,
        "readings": gw.readings,
        "readings_per_min": round(gw.rate_per_min(now), 2),
        "poll_interval_s": gw.poll_interval_s(),
        "health": None
        if health is None
        else {
            "ts": health.ts,
            "broker_connected": health.broker_connected,
            "outbox_depth": health.outbox_depth,
            "dropped": health.dropped,
            "published": health.published,
            "meters": {
                m.meter_id: {"last_outcome": m.last_outcome, "missed_polls": m.missed_polls}
                for m in health.meters
            },
        },
    }


def render_json(view: MonitorView, now: float) -> dict[str, Any]:
    """The whole view as one JSON-able snapshot (`--once --json`)."""
    return {
        "root": view.root,
        "gateways": {g: _gateway_json(view.gateways[g], now) for g in sorted(view.gateways)},
        "ingest": {
            "accepted": sum(c.accepted for c in view.stats.values()),
            "rejected_by_reason": view.rejected_by_reason(),
            "instances": sorted(view.stats),
        },
        "epochs": {str(e): view.epochs[e] for e in sorted(view.epochs)},
        "clearings": {str(e): view.clearings[e] for e in sorted(view.clearings)},
        "active_alerts": [_alert_json(view.active_alerts[k]) for k in sorted(view.active_alerts)],
        "recent_alerts": [_alert_json(a) for a in view.alerts],
        "paused": None if view.controls is None else sorted(view.controls.paused),
        "messages": view.messages,
        "undecodable": view.undecodable,
    }


def _alert_json(event: AlertEvent) -> dict[str, Any]:
    a = event.alert
    return {"key": a.key, "kind": a.kind.value, "severity": a.severity, "state": event.state,
            "ts": event.ts, "message": a.message}  # fmt: skip


def _wh_kwh(wh: object) -> float | None:
    return wh / 1000 if isinstance(wh, int) else None


def _epoch(view: MonitorView, epoch: int) -> str:
    """The epoch id with its UTC start-end, once an epoch summary gave the epochs."""
    if view.epochs_from is None:
        return str(epoch)
    return f"{epoch} [{epoch_span(epoch, view.epochs_from, date=False)}]"


def _ago(now: float, then: float) -> str:
    return f"{now - then:.0f} s ago" if then else "never"


def render_text(view: MonitorView, now: float) -> str:
    """The operator's screen: one section per concern."""
    where = f"  broker={view.broker}" if view.broker else ""
    lines = [
        f"GridTokenX monitor  root={view.root}{where}  "
        f"{time.strftime('%H:%M:%S', time.gmtime(now))} UTC"
    ]
    if not view.messages:
        lines.append(f"  no GridTokenX messages under {view.root}/{topics.VERSION_SEGMENT}/# yet: "
                     "is this the coordinator's broker and topic root (GTX_MQTT_HOST, "
                     "GTX_MQTT_PORT, GTX_TOPIC_ROOT)?")  # fmt: skip
    if view.controls is not None and view.controls.paused:
        lines.append("")
        lines.append("MAINTENANCE" if view.controls.maintenance else "MARKET PAUSED")
        for scope, p in sorted(view.controls.paused.items()):
            since = time.strftime("%Y-%m-%d %H:%M", time.gmtime(p.since))
            lines.append(f"  {scope:<11} paused since {since} UTC "
                         f"(epoch {_epoch(view, p.since_epoch)}) "
                         f"by {p.by[:12]}: {p.reason}")  # fmt: skip
    lines.append("")
    lines.append(f"GATEWAYS ({len(view.gateways)})")
    for g in sorted(view.gateways):
        gw = view.gateways[g]
        state = gw.state.upper() + (" SILENT" if gw.silent(now) else "")
        line = (f"  {g[:12]:<12} {state:<14} seen {_ago(now, gw.last_seen):<12} "
                f"{gw.rate_per_min(now):6.1f} readings/min")  # fmt: skip
        if gw.health is not None:
            h = gw.health
            bad = [m.meter_id for m in h.meters if m.last_outcome not in ("ok", "")]
            line += (f"  outbox {h.outbox_depth} dropped {h.dropped}"
                     + ("" if h.broker_connected else " BROKER-DOWN")
                     + (f" meters failing: {','.join(bad)}" if bad else ""))  # fmt: skip
        lines.append(line)
    lines.append("")
    rejected = view.rejected_by_reason()
    accepted = sum(c.accepted for c in view.stats.values())
    lines.append(f"INGEST  accepted {accepted}  rejected {sum(rejected.values())}"
                 + ("" if view.stats else "  (no coordinator stats yet)"))  # fmt: skip
    lines.extend(f"  rejected {reason:<20} {n}" for reason, n in rejected.items())
    lines.append("")
    lines.append("EPOCHS (closed: metered energy and tokens minted)")
    for e in sorted(view.epochs, reverse=True):
        s = view.epochs[e]
        lines.append(f"  {_epoch(view, e)}  readings {s.get('readings')}  "
                     f"export {_amount(_wh_kwh(s.get('total_export_wh')), 'kWh')}  "
                     f"import {_amount(_wh_kwh(s.get('total_import_wh')), 'kWh')}  "
                     f"minted {_amount(_kwh(s.get('mint_base_units')), 'kWh')}")  # fmt: skip
    lines.append("")
    lines.append("CLEARINGS (call auction of each delivery epoch, at its start)")
    for e in sorted(view.clearings, reverse=True):
        c = view.clearings[e]
        lines.append(f"  {_epoch(view, e)}  "
                     f"price {_amount(c['clearing_price_credits_per_kwh'], 'credits/kWh')}  "
                     f"volume {_amount(c['volume_kwh'], 'kWh')}  "
                     f"paid {_amount(c['turnover_credits'], 'credits')}  "
                     f"matches {c['matches']} of {c['orders']} orders")  # fmt: skip
    lines.append("")
    lines.append(f"ALERTS (active {len(view.active_alerts)})")
    for event in list(view.alerts)[-10:]:
        a = event.alert
        lines.append(f"  {time.strftime('%H:%M:%S', time.gmtime(event.ts))} "
                     f"{event.state:<8} {a.severity:<8} {a.message}")  # fmt: skip
    # Gateway ids, states, meter ids and messages come from the wire: no line may
    # carry a control sequence to the operator's terminal, nor break in two.
    return "\n".join(printable(line) for line in lines) + "\n"


async def run_monitor(
    *,
    host: str,
    port: int,
    root: str,
    out: TextIO,
    username: str | None = None,
    password: str | None = None,
    tls: ssl.SSLContext | None = None,
    client_id: str | None = None,
    once: bool = False,
    as_json: bool = False,
    settle_s: float = 1.0,
    refresh_s: float = 1.0,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    clock: Callable[[], float] = time.time,
    view: MonitorView | None = None,
) -> MonitorView:
    """Watch `root` until cancelled (or, with `once`, until no message has arrived for
    `settle_s`: the retained ones come first) and render to `out`. `client_id`
    is the id the broker binds an operator account to (config.monitor_client_id);
    without one the monitor picks a random id. BrokerError when the broker cannot
    be reached, refuses the monitor, or the connection is lost."""
    view = view or MonitorView(root, broker=f"{host}:{port}")
    subscription = root + "/" + topics.VERSION_SEGMENT + "/#"
    client = aiomqtt.Client(
        hostname=host,
        port=port,
        username=username,
        password=password,
        identifier=client_id or f"gtx-monitor-{uuid.uuid4().hex[:12]}",
        tls_context=tls,
        timeout=connect_timeout_s,
    )
    with _broker_errors(host, port, connect_timeout_s):
        async with client:
            await client.subscribe(subscription, qos=1)
            await _watch(client, view, out, once, as_json, settle_s, refresh_s, clock)
    _render(view, out, clock(), as_json, clear=False)
    return view


async def _watch(
    client: aiomqtt.Client, view: MonitorView, out: TextIO, once: bool, as_json: bool,
    settle_s: float, refresh_s: float, clock: Callable[[], float],
) -> None:  # fmt: skip
    async def consume() -> None:
        async for message in client.messages:
            raw = message.payload
            body = raw if isinstance(raw, bytes) else str(raw or "").encode()
            view.feed(message.topic.value, body, clock())

    consumer = asyncio.create_task(consume(), name="monitor-consume")
    try:
        if once:
            seen = -1
            while seen != view.messages and not consumer.done():
                seen = view.messages
                await asyncio.sleep(settle_s)
        else:
            while not consumer.done():
                _render(view, out, clock(), as_json, clear=True)
                await asyncio.sleep(refresh_s)
        if consumer.done():
            consumer.result()  # the connection ended: raises what ended it
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer


@contextlib.contextmanager
def _broker_errors(host: str, port: int, timeout_s: float) -> Iterator[None]:
    """aiomqtt's errors as one BrokerError line naming the broker and the likely cause."""
    try:
        yield
    except aiomqtt.MqttCodeError as exc:
        raise BrokerError(
            f"MQTT broker {host}:{port} refused the monitor: {exc} "
            "(GTX_MQTT_USERNAME / GTX_MQTT_PASSWORD?)"
        ) from exc
    except aiomqtt.MqttError as exc:
        if "timed out" in str(exc).lower():
            raise BrokerError(
                f"no MQTT answer from {host}:{port} within {timeout_s:g} s: is that the "
                "broker's port? (GTX_MQTT_PORT; `gridtokenx demo` prints its monitor command)"
            ) from exc
        raise BrokerError(f"cannot reach the MQTT broker at {host}:{port}: {exc}") from exc


def _render(view: MonitorView, out: TextIO, now: float, as_json: bool, *, clear: bool) -> None:
    if as_json:
        out.write(json.dumps(render_json(view, now), sort_keys=True) + "\n")
    else:
        out.write((CLEAR if clear else "") + render_text(view, now))
    out.flush()
