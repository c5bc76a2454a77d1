"""Commands to Mosquitto's dynamic security plugin, behind one small interface.

`DynsecControl.run(commands)` executes plugin commands in order and returns
one response per command (``{"command": ..., "error": ...?, "data": ...?}``).
`MqttDynsecControl` sends them over MQTT to ``$CONTROL/dynamic-security/v1``
as the broker's admin account (TLS when configured) and waits for the answers
on the response topic; `MemoryDynsec` is the fake for unit tests: the subset
of the plugin's commands the coordinator uses, over plain dicts.

Each `run` is one short connection (enrolment and revocation are rare): no
connection to keep alive in the API, and no session left on the broker.
"""

import json
import logging
import secrets
import threading
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from coordinator.config import MqttTls
from coordinator.devices.dynsec import CONTROL_RESPONSE_TOPIC, CONTROL_TOPIC
from coordinator.errors import BrokerError

__all__ = ["DynsecControl", "MemoryDynsec", "MqttDynsecControl", "Response"]

log = logging.getLogger(__name__)

Response = dict[str, Any]
# The production broker refuses publishes over 4 KiB (message_size_limit):
# commands go in requests below that.
_MAX_REQUEST_BYTES = 3500


class DynsecControl(Protocol):
    def run(self, commands: Sequence[Mapping[str, Any]]) -> list[Response]:
        """Execute `commands` in order; one response each, in the same order.
        Raises BrokerError when the broker cannot be reached or does not answer."""
        ...


def _requests(commands: Sequence[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Commands, each given a correlation id, grouped into requests that fit."""
    out: list[list[dict[str, Any]]] = [[]]
    size = 0
    for i, command in enumerate(commands):
        item = {**command, "correlationData": str(i)}
        n = len(json.dumps(item)) + 2
        if out[-1] and size + n > _MAX_REQUEST_BYTES:
            out.append([])
            size = 0
        out[-1].append(item)
        size += n
    return [r for r in out if r]


class _Exchange:
    """One admin connection: paho's callbacks gather the plugin's answers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.subscribed = threading.Event()
        self.got_all = threading.Event()
        self.refused: list[str] = []
        self.answers: dict[str, Response] = {}
        self.expected: set[str] = set()

    def expect(self, ids: set[str]) -> None:
        with self.lock:
            self.got_all.clear()
            self.expected = ids
            if ids <= self.answers.keys():
                self.got_all.set()

    def on_connect(self, c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
            self.subscribed.set()
            return
        c.subscribe(CONTROL_RESPONSE_TOPIC, qos=1)

    def on_subscribe(self, _c: mqtt.Client, _u: Any, _m: int, reasons: Any, _p: Any) -> None:
        if any(r.is_failure for r in reasons):
            self.refused.append(f"subscription to {CONTROL_RESPONSE_TOPIC} refused: {reasons}")
        self.subscribed.set()

    def on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            responses = json.loads(msg.payload)["responses"]
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable dynamic-security response: %r", msg.payload[:200])
            return
        with self.lock:
            for r in responses:
                if isinstance(r, dict) and r.get("correlationData") in self.expected:
                    self.answers[r["correlationData"]] = r
            if self.expected <= self.answers.keys():
                self.got_all.set()


class MqttDynsecControl:
    """The plugin's control topic, as an admin account (see dynsec.admin_acls)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        password: str,
        tls: MqttTls | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._host, self._port = host, port
        self._username, self._password = username, password
        self._tls = tls
        self._timeout_s = timeout_s

    def run(self, commands: Sequence[Mapping[str, Any]]) -> list[Response]:
        if not commands:
            return []
        ex = _Exchange()
        client = self._client(ex)
        try:
            client.connect(self._host, self._port, keepalive=30)
        except OSError as exc:
            raise BrokerError(
                f"cannot reach the MQTT broker {self._host}:{self._port} to manage accounts: {exc}"
            ) from exc
        client.loop_start()
        try:
            if not ex.subscribed.wait(self._timeout_s) or ex.refused:
                raise BrokerError(
                    "the broker refused the admin account "
                    f"{self._username!r}: {ex.refused[0] if ex.refused else 'no answer'}"
                )
            for request in _requests(commands):
                ex.expect({item["correlationData"] for item in request})
                info = client.publish(CONTROL_TOPIC, json.dumps({"commands": request}), qos=1)
                info.wait_for_publish(self._timeout_s)
                if not ex.got_all.wait(self._timeout_s):
                    raise BrokerError(
                        "no answer from the broker's dynamic security plugin "
                        f"within {self._timeout_s} s (is it loaded?)"
                    )
        except (RuntimeError, ValueError) as exc:
            raise BrokerError(f"lost the broker while managing accounts: {exc}") from exc
        finally:
            client.disconnect()
            client.loop_stop()
        return [ex.answers[str(i)] for i in range(len(commands))]

    def _client(self, ex: _Exchange) -> mqtt.Client:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"gtx-broker-admin-{secrets.token_hex(6)}",
            protocol=mqtt.MQTTv5,
        )
        client.username_pw_set(self._username, self._password)
        if self._tls is not None:
            try:
                client.tls_set_context(self._tls.context())
            except OSError as exc:
                raise BrokerError(f"cannot set up TLS to the broker: {exc}") from exc
        client.on_connect = ex.on_connect
        client.on_subscribe = ex.on_subscribe
        client.on_message = ex.on_message
        return client


class MemoryDynsec:
    """DynsecControl fake: the plugin's clients and roles as dicts, for the
    commands `broker_accounts.DynsecBroker` sends; errors as the plugin words them."""

    def __init__(self) -> None:
        self.clients: dict[str, dict[str, Any]] = {}
        self.roles: dict[str, list[dict[str, Any]]] = {}
        self.commands: list[dict[str, Any]] = []

    def run(self, commands: Sequence[Mapping[str, Any]]) -> list[Response]:
        return [self._one(dict(c)) for c in commands]

    def _one(self, c: dict[str, Any]) -> Response:
        self.commands.append(c)
        handler = getattr(self, "_" + c["command"], None)
        error, data = ("Unknown command", None) if handler is None else handler(c)
        response: Response = {"command": c["command"]}
        if error is not None:
            response["error"] = error
        if data is not None:
            response["data"] = data
        return response

    # One method per plugin command: (error or None, data or None).

    def _createRole(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        if c["rolename"] in self.roles:
            return "Role already exists", None
        self.roles[c["rolename"]] = list(c.get("acls", []))
        return None, None

    def _deleteRole(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        return (None if self.roles.pop(c["rolename"], None) is not None else "Role not found"), None

    def _createClient(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        user = c["username"]
        if user in self.clients:
            return "Client already exists", None
        roles = [r["rolename"] for r in c.get("roles", [])]
        if any(r not in self.roles for r in roles):
            return "Role not found", None
        self.clients[user] = {
            "username": user,
            "password": c.get("password"),
            "clientid": c.get("clientid"),
            "roles": [{"rolename": r} for r in roles],
            "disabled": False,
        }
        return None, None

    def _existing(self, c: dict[str, Any]) -> dict[str, Any] | None:
        return self.clients.get(c["username"])

    def _deleteClient(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        return (None if self.clients.pop(c["username"], None) else "Client not found"), None

    def _disableClient(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        client = self._existing(c)
        if client is None:
            return "Client not found", None
        client["disabled"] = True
        return None, None

    def _enableClient(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        client = self._existing(c)
        if client is None:
            return "Client not found", None
        client["disabled"] = False
        return None, None

    def _listClients(self, c: dict[str, Any]) -> tuple[str | None, Any]:  # noqa: N802
        clients = [
            {k: v for k, v in cl.items() if k != "password" and (k != "disabled" or v)}
            for cl in self.clients.values()
        ]
        return None, {"totalCount": len(clients), "clients": clients}

    def enabled(self) -> dict[str, str | None]:
        """Enabled accounts: username -> password (as last set)."""
        return {u: c["password"] for u, c in self.clients.items() if not c["disabled"]}
