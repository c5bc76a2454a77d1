"""Embedded stand-ins for the servers, so the demo runs on a machine with only Python.

An in-process MQTT broker (amqtt), an in-process cache, SQLite through the
same SQLAlchemy models, and the detection that chooses between them and the
configured servers.
"""

from coordinator.embedded.broker import EmbeddedBroker
from coordinator.embedded.detect import (
    Choice,
    Probes,
    ServiceConfig,
    ServicePlan,
    detect_services,
    plan_services,
    probe_postgres,
    probe_services,
    probe_tcp,
    service_config_from_env,
)
from coordinator.embedded.memory_cache import (
    LiveCacheLike,
    MemoryLiveCache,
    MemoryNonceStore,
    NonceStore,
)

__all__ = [
    "Choice",
    "EmbeddedBroker",
    "LiveCacheLike",
    "MemoryLiveCache",
    "MemoryNonceStore",
    "NonceStore",
    "Probes",
    "ServiceConfig",
    "ServicePlan",
    "detect_services",
    "plan_services",
    "probe_postgres",
    "probe_services",
    "probe_tcp",
    "service_config_from_env",
]
