"""The production broker's accounts and roles, as data for Mosquitto's dynamic
security plugin (`mosquitto_dynamic_security.so`, Mosquitto 2.0). Pure: no I/O.

The plugin refuses whatever no role allows (`DEFAULT_ACCESS`: no publish, no
receive, no subscribe), and checks a SUBSCRIBE against the filter as written,
``$share/<group>/`` included. So:

- *gateway* -- one role per gateway, ``gtx-gw-<id>``: publish its own readings,
  status and health topics; subscribe to and receive its own command topic.
  Nothing else: not ``#``, not ``$share/...``, not another gateway, not
  ``$SYS``, not the coordinator's topics, not ``$CONTROL``.
- *coordinator* -- ``gtx-coordinator``: subscribe to the readings (the shared
  subscription of `wire.topics.readings_subscription`, or the plain filter for
  partitioned ingest) and receive them; publish the coordinator's topics
  (epochs, clearings, stats, alerts) and gateway commands.
- *operator* -- ``gtx-operator``: subscribe to and receive everything under the
  topic root and ``$SYS``; publish nothing.
- *admin* -- ``gtx-broker-admin``: the plugin's control topic only (the
  coordinator's API creates and disables gateway accounts through it).

Client ids are bound to accounts: a gateway's account connects only as
`wire.topics.gateway_client_id` of its id, an operator's only as
`coordinator.config.monitor_client_id` of its name. The coordinator's and the
admin's accounts are not bound (several coordinator instances share one
account), so the coordinator's client ids are usable by those accounts alone.

`render_state` writes the plugin's initial state file (before the broker first
starts); `gateway_commands` / `disable_commands` change it at run time through
the ``$CONTROL/dynamic-security/v1`` topic (`coordinator.devices.broker_control`).
"""

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from coordinator.config import monitor_client_id
from coordinator.errors import ConfigError
from wire import topics

__all__ = [
    "ADMIN_ROLE",
    "CONTROL_RESPONSE_TOPIC",
    "CONTROL_TOPIC",
    "COORDINATOR_ROLE",
    "DEFAULT_ACCESS",
    "GATEWAY_ROLE_PREFIX",
    "OPERATOR_ROLE",
    "Account",
    "admin_acls",
    "check_name",
    "coordinator_acls",
    "disable_commands",
    "enable_commands",
    "gateway_acls",
    "gateway_commands",
    "gateway_role",
    "is_gateway_role",
    "operator_acls",
    "render_state",
    "split_hash",
]

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
CONTROL_RESPONSE_TOPIC = CONTROL_TOPIC + "/response"
ADMIN_ROLE = "gtx-broker-admin"
COORDINATOR_ROLE = "gtx-coordinator"
OPERATOR_ROLE = "gtx-operator"
GATEWAY_ROLE_PREFIX = "gtx-gw-"

# What no role grants is refused (unsubscribing from one's own filters is harmless).
DEFAULT_ACCESS: tuple[tuple[str, bool], ...] = (
    ("publishClientSend", False),
    ("publishClientReceive", False),
    ("subscribe", False),
    ("unsubscribe", True),
)

Acl = dict[str, Any]


def check_name(name: str, what: str = "broker username") -> str:
    """Account and gateway names end up in topics and client ids: no wildcards,
    separators, whitespace or control characters."""
    if not name or any(c in name for c in "+#/:") or any(c.isspace() or ord(c) < 32 for c in name):
        raise ConfigError(f"{what} {name!r} is not allowed")
    return name


def _acl(acltype: str, topic: str) -> Acl:
    return {"acltype": acltype, "topic": topic, "allow": True}


def gateway_role(gateway_id: str) -> str:
    return GATEWAY_ROLE_PREFIX + check_name(gateway_id, "gateway id")


def is_gateway_role(rolename: str) -> bool:
    return rolename.startswith(GATEWAY_ROLE_PREFIX)


def gateway_acls(root: str, gateway_id: str) -> list[Acl]:
    check_name(gateway_id, "gateway id")
    command = topics.gateway_command(root, gateway_id)
    return [
        _acl("publishClientSend", topics.gateway_readings(root, gateway_id)),
        _acl("publishClientSend", topics.gateway_status(root, gateway_id)),
        _acl("publishClientSend", topics.gateway_health(root, gateway_id)),
        _acl("subscribeLiteral", command),
        _acl("publishClientReceive", command),
    ]


def coordinator_acls(root: str) -> list[Acl]:
    readings = topics.readings_subscription(root, shared=False)
    base = f"{root}/{topics.VERSION_SEGMENT}"
    return [
        _acl("subscribeLiteral", topics.readings_subscription(root, shared=True)),
        _acl("subscribeLiteral", readings),
        _acl("publishClientReceive", readings),
        _acl("publishClientSend", f"{base}/coord/#"),
        _acl("publishClientSend", topics.gateway_command(root, "+")),
    ]


def operator_acls(root: str) -> list[Acl]:
    everything = f"{root}/{topics.VERSION_SEGMENT}/#"
    return [
        _acl("subscribePattern", everything),
        _acl("publishClientReceive", everything),
        _acl("subscribePattern", "$SYS/#"),
        _acl("publishClientReceive", "$SYS/#"),
    ]


def admin_acls() -> list[Acl]:
    return [
        _acl("publishClientSend", CONTROL_TOPIC),
        _acl("subscribeLiteral", CONTROL_RESPONSE_TOPIC),
        _acl("publishClientReceive", CONTROL_RESPONSE_TOPIC),
    ]


def split_hash(hashed: str) -> dict[str, Any]:
    """A Mosquitto ``$7$`` hash (what the coordinator stores, see
    `broker_accounts.mosquitto_hash`) as the plugin stores a password: PBKDF2-
    HMAC-SHA512 with the same salt and iterations, so stored gateway accounts
    can be written into the plugin's state without knowing their passwords."""
    parts = hashed.split("$")
    try:
        if len(parts) != 5 or parts[1] != "7":
            raise ValueError("not a $7$ hash")
        iterations = int(parts[2])
        salt, digest = base64.b64decode(parts[3]), base64.b64decode(parts[4])
    except ValueError as exc:
        raise ConfigError(f"unusable broker password hash: {exc}") from None
    if len(salt) != 12 or len(digest) != 64 or iterations < 1:
        raise ConfigError("unusable broker password hash: wrong salt or digest length")
    return {
        "salt": base64.b64encode(salt).decode(),
        "password": base64.b64encode(digest).decode(),
        "iterations": iterations,
    }


@dataclass(frozen=True, slots=True)
class Account:
    """A service account for the plugin's initial state; `hashed` is a ``$7$`` hash."""

    username: str
    hashed: str


def _client(
    username: str, hashed: str, role: str, *, clientid: str | None, disabled: bool = False
) -> dict[str, Any]:
    client: dict[str, Any] = {"username": check_name(username), **split_hash(hashed)}
    if clientid is not None:
        client["clientid"] = clientid
    if disabled:
        client["disabled"] = True
    client["roles"] = [{"rolename": role}]
    return client


def _role(name: str, acls: list[Acl]) -> dict[str, Any]:
    return {"rolename": name, "acls": acls}


def render_state(
    root: str,
    *,
    admin: Account,
    coordinator: Account,
    operators: Iterable[Account] = (),
    gateways: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The plugin's state file (JSON) for a new broker: roles, the admin,
    coordinator and operator accounts, and the gateways the database holds
    (username -> ``$7$`` hash) *disabled*: `broker-init` enables them once the
    coordinator's session exists, so no gateway publishes before it does."""
    gateways = gateways or {}
    clients = [
        _client(admin.username, admin.hashed, ADMIN_ROLE, clientid=None),
        _client(coordinator.username, coordinator.hashed, COORDINATOR_ROLE, clientid=None),
    ]
    for op in operators:
        clients.append(
            _client(op.username, op.hashed, OPERATOR_ROLE, clientid=monitor_client_id(op.username))
        )
    roles = [
        _role(ADMIN_ROLE, admin_acls()),
        _role(COORDINATOR_ROLE, coordinator_acls(root)),
        _role(OPERATOR_ROLE, operator_acls(root)),
    ]
    for gw in sorted(gateways):
        clients.append(
            _client(
                gw,
                gateways[gw],
                gateway_role(gw),
                clientid=topics.gateway_client_id(gw),
                disabled=True,
            )
        )
        roles.append(_role(gateway_role(gw), gateway_acls(root, gw)))
    names = [c["username"] for c in clients]
    if len(set(names)) != len(names):
        raise ConfigError(f"broker account names must differ: {sorted(names)}")
    return {
        "defaultACLAccess": {name: allow for name, allow in DEFAULT_ACCESS},
        "clients": clients,
        "roles": roles,
        "groups": [],
    }


def gateway_commands(root: str, gateway_id: str, password: str) -> list[dict[str, Any]]:
    """(Re)create a gateway's account with a fresh password, its own role and its
    client id; whatever existed under that name is replaced (and kicked off)."""
    role = gateway_role(gateway_id)
    return [
        {"command": "deleteClient", "username": gateway_id},
        {"command": "deleteRole", "rolename": role},
        {"command": "createRole", "rolename": role, "acls": gateway_acls(root, gateway_id)},
        {
            "command": "createClient",
            "username": gateway_id,
            "password": password,
            "clientid": topics.gateway_client_id(gateway_id),
            "roles": [{"rolename": role}],
        },
    ]


def disable_commands(usernames: Iterable[str]) -> list[dict[str, Any]]:
    """Disable accounts: the plugin refuses their logins and disconnects them."""
    return [{"command": "disableClient", "username": u} for u in usernames]


def enable_commands(usernames: Iterable[str]) -> list[dict[str, Any]]:
    return [{"command": "enableClient", "username": u} for u in usernames]
