"""MQTT topic layout, defined once for gateways, coordinator and operators.

All topics live under a configurable root (default ``gtx``) followed by the
protocol major version, so a v2 can run beside v1 and test runs can isolate
themselves under a root of their own. Portable to MicroPython.
"""

DEFAULT_ROOT = "gtx"
VERSION_SEGMENT = "v1"
# Coordinator instances share the readings stream through this MQTT 5 / 3.1.1
# shared-subscription group (Mosquitto >= 1.6).
SHARE_GROUP = "coordinator"

__all__ = [
    "DEFAULT_ROOT",
    "SHARE_GROUP",
    "VERSION_SEGMENT",
    "alerts",
    "coordinator_stats",
    "epoch_clearing",
    "epoch_summary",
    "gateway_client_id",
    "gateway_command",
    "gateway_health",
    "gateway_id_from_topic",
    "gateway_readings",
    "gateway_status",
    "market_controls",
    "readings_subscription",
]


def gateway_client_id(gateway_id: str) -> str:
    """The MQTT client id of a gateway; the production broker lets the gateway's
    account connect with this id only, and no other gateway's account use it."""
    return "gtx-gw-" + gateway_id


def _base(root: str) -> str:
    return root + "/" + VERSION_SEGMENT


def gateway_readings(root: str, gateway_id: str) -> str:
    """Where a gateway publishes its signed readings (QoS 1)."""
    return _base(root) + "/gw/" + gateway_id + "/readings"


def gateway_status(root: str, gateway_id: str) -> str:
    """Retained birth / last-will status of a gateway."""
    return _base(root) + "/gw/" + gateway_id + "/status"


def gateway_health(root: str, gateway_id: str) -> str:
    """Retained periodic health report of a gateway (see wire.health)."""
    return _base(root) + "/gw/" + gateway_id + "/health"


def alerts(root: str) -> str:
    """Coordinator alerts for operators."""
    return _base(root) + "/coord/alerts"


def readings_subscription(root: str, shared: bool = True) -> str:
    """The coordinator's subscription to every gateway's readings."""
    topic = _base(root) + "/gw/+/readings"
    if shared:
        return "$share/" + SHARE_GROUP + "/" + topic
    return topic


def gateway_id_from_topic(root: str, topic: str) -> str | None:
    """The gateway id in a readings topic, or None if the topic is not one."""
    prefix = _base(root) + "/gw/"
    suffix = "/readings"
    if not topic.startswith(prefix) or not topic.endswith(suffix):
        return None
    middle = topic[len(prefix) : len(topic) - len(suffix)]
    if not middle or "/" in middle:
        return None
    return middle


def epoch_summary(root: str, epoch: int) -> str:
    """Retained summary of a closed epoch (energy per meter, mint, Merkle root)."""
    return _base(root) + "/coord/epochs/" + str(epoch)


def gateway_command(root: str, gateway_id: str) -> str:
    """Commands to one gateway (coordinator -> gateway); only it may read them."""
    return _base(root) + "/gw/" + gateway_id + "/cmd"


def epoch_clearing(root: str, epoch: int) -> str:
    """Retained clearing of a delivery epoch: canonical inputs and result, their hashes."""
    return _base(root) + "/coord/clearing/" + str(epoch)


def coordinator_stats(root: str) -> str:
    """Retained ingest counts of a coordinator instance (accepted, rejected by reason)."""
    return _base(root) + "/coord/stats"


def market_controls(root: str) -> str:
    """Retained emergency controls: which scopes of the market the REC authority paused."""
    return _base(root) + "/coord/controls"
