"""The production broker's roles and accounts as data, and DynsecBroker's
reconciliation against the plugin fake."""

import base64
import hashlib
import json
import logging
from pathlib import Path

import pytest

from coordinator.config import Settings
from coordinator.devices import dynsec
from coordinator.devices.broker_accounts import (
    DynsecBroker,
    MemoryBroker,
    PasswordFileBroker,
    UnmanagedBroker,
    broker_from_settings,
    mosquitto_hash,
)
from coordinator.devices.broker_control import MemoryDynsec, _requests
from coordinator.devices.broker_setup import write_broker_state
from coordinator.errors import BrokerError, ConfigError
from wire import topics

ROOT = "gtx"


def _allowed(acls: list[dict[str, object]], acltype: str) -> set[object]:
    return {a["topic"] for a in acls if a["acltype"] == acltype and a["allow"]}


def test_a_gateway_role_names_only_its_own_topics() -> None:
    acls = dynsec.gateway_acls(ROOT, "GW1")
    assert _allowed(acls, "publishClientSend") == {
        "gtx/v1/gw/GW1/readings",
        "gtx/v1/gw/GW1/status",
        "gtx/v1/gw/GW1/health",
    }
    assert _allowed(acls, "subscribeLiteral") == {"gtx/v1/gw/GW1/cmd"}
    assert _allowed(acls, "publishClientReceive") == {"gtx/v1/gw/GW1/cmd"}
    assert {a["acltype"] for a in acls} == {
        "publishClientSend",
        "subscribeLiteral",
        "publishClientReceive",
    }
    # Wildcards nowhere: the plugin matches publish ACLs as filters.
    assert not any("+" in str(a["topic"]) or "#" in str(a["topic"]) for a in acls)


def test_coordinator_subscribes_to_readings_only_and_operators_only_read() -> None:
    coord = dynsec.coordinator_acls(ROOT)
    assert _allowed(coord, "subscribeLiteral") == {
        topics.readings_subscription(ROOT, shared=True),
        topics.readings_subscription(ROOT, shared=False),
    }
    assert _allowed(coord, "publishClientSend") == {"gtx/v1/coord/#", "gtx/v1/gw/+/cmd"}
    ops = dynsec.operator_acls(ROOT)
    assert not _allowed(ops, "publishClientSend")
    assert _allowed(ops, "subscribePattern") == {"gtx/v1/#", "$SYS/#"}
    assert _allowed(dynsec.admin_acls(), "publishClientSend") == {dynsec.CONTROL_TOPIC}


def test_default_access_refuses_publish_receive_and_subscribe() -> None:
    assert dict(dynsec.DEFAULT_ACCESS) == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }


@pytest.mark.parametrize("bad", ["", "a/b", "a+", "#", "a:b", "a b", "a\nb", "\x1b[31m"])
def test_names_that_would_break_topics_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        dynsec.gateway_acls(ROOT, bad)


def test_split_hash_is_the_plugins_pbkdf2() -> None:
    hashed = mosquitto_hash("s3cret")
    fields = dynsec.split_hash(hashed)
    digest = hashlib.pbkdf2_hmac(
        "sha512", b"s3cret", base64.b64decode(fields["salt"]), fields["iterations"]
    )
    assert base64.b64decode(fields["password"]) == digest
    for bad in ("$6$x", "$7$x$y$z", "plain"):
        with pytest.raises(ConfigError):
            dynsec.split_hash(bad)


def test_render_state_disables_stored_gateways_and_binds_client_ids() -> None:
    state = dynsec.render_state(
        ROOT,
        admin=dynsec.Account("admin", mosquitto_hash("a")),
        coordinator=dynsec.Account("coordinator", mosquitto_hash("c")),
        operators=[dynsec.Account("alice", mosquitto_hash("o"))],
        gateways={"GW1": mosquitto_hash("g")},
    )
    clients = {c["username"]: c for c in state["clients"]}
    assert clients["GW1"]["disabled"] is True
    assert clients["GW1"]["clientid"] == topics.gateway_client_id("GW1")
    assert clients["alice"]["clientid"] == "gtx-monitor-alice"
    assert "clientid" not in clients["coordinator"]  # several instances share it
    assert [r["rolename"] for r in clients["GW1"]["roles"]] == ["gtx-gw-GW1"]
    roles = {r["rolename"] for r in state["roles"]}
    assert roles == {"gtx-broker-admin", "gtx-coordinator", "gtx-operator", "gtx-gw-GW1"}
    assert state["defaultACLAccess"]["subscribe"] is False
    json.dumps(state)  # what the plugin reads
    with pytest.raises(ConfigError, match="differ"):
        dynsec.render_state(
            ROOT,
            admin=dynsec.Account("x", mosquitto_hash("a")),
            coordinator=dynsec.Account("x", mosquitto_hash("c")),
        )


def test_write_broker_state_refuses_to_overwrite_and_needs_accounts(tmp_path: Path) -> None:
    out = tmp_path / "dynamic-security.json"
    with pytest.raises(ConfigError, match="GTX_BROKER_ADMIN_USERNAME"):
        write_broker_state(out, Settings(), {})
    settings = Settings(
        broker_admin_username="admin",
        broker_admin_password="admin-secret-0123456789",  # type: ignore[arg-type]
        mqtt_username="coordinator",
        mqtt_password="coord-secret-0123456789",
    )
    write_broker_state(out, settings, {"GW1": mosquitto_hash("g")})
    assert out.stat().st_mode & 0o777 == 0o600
    assert {c["username"] for c in json.loads(out.read_text())["clients"]} == {
        "admin",
        "coordinator",
        "GW1",
    }
    with pytest.raises(ConfigError, match="exists"):
        write_broker_state(out, settings, {})
    write_broker_state(out, settings, {}, force=True)


def test_sync_creates_fresh_accounts_disables_revoked_enables_dormant(
    caplog: pytest.LogCaptureFixture,
) -> None:
    control = MemoryDynsec()
    control.run([{"command": "createRole", "rolename": "gtx-coordinator"}])
    control.run([{"command": "createClient", "username": "coordinator",
                  "roles": [{"rolename": "gtx-coordinator"}]}])  # fmt: skip
    broker = DynsecBroker(control, topic_root=ROOT)
    broker.sync({"A": "$7$h", "B": "$7$h"}, fresh={"A": "pw-a", "B": "pw-b"})
    assert control.enabled() == {"coordinator": None, "A": "pw-a", "B": "pw-b"}
    assert control.clients["A"]["clientid"] == topics.gateway_client_id("A")
    assert control.roles["gtx-gw-A"] == dynsec.gateway_acls(ROOT, "A")

    broker.sync({"A": "$7$h"})  # B revoked
    assert control.enabled() == {"coordinator": None, "A": "pw-a"}
    assert control.clients["B"]["disabled"] is True

    control.clients["A"]["disabled"] = True  # e.g. rendered disabled by broker-config
    broker.sync({"A": "$7$h"}, fresh={"A": "pw-a2"})  # re-enrolled: a new password
    assert control.enabled() == {"coordinator": None, "A": "pw-a2"}

    with caplog.at_level(logging.ERROR):
        broker.sync({"A": "$7$h", "C": "$7$h"})  # C: not on this broker
    assert "C" in caplog.text
    assert "broker-config" in caplog.text
    assert "C" not in control.clients
    # Passwords not in `entries` (revoked meanwhile) are not created.
    broker.sync({"A": "$7$h"}, fresh={"D": "pw-d"})
    assert "D" not in control.clients


def test_sync_reports_refusals() -> None:
    class Refusing(MemoryDynsec):
        def _disableClient(self, c: dict[str, object]) -> tuple[str | None, object]:
            return "Permission denied", None

    control = Refusing()
    broker = DynsecBroker(control, topic_root=ROOT)
    broker.sync({"A": "$7$h"}, fresh={"A": "pw"})
    with pytest.raises(BrokerError, match="disableClient: Permission denied"):
        broker.sync({})


def test_requests_fit_the_brokers_message_size_limit() -> None:
    commands = dynsec.gateway_commands(ROOT, "G" * 44, "p" * 32) * 20
    requests = _requests(commands)
    assert len(requests) > 1
    assert all(len(json.dumps({"commands": r})) < 4096 for r in requests)
    assert [c["correlationData"] for r in requests for c in r] == [
        str(i) for i in range(len(commands))
    ]


def test_settings_choose_the_accounts_backend(tmp_path: Path) -> None:
    assert isinstance(broker_from_settings(Settings()), UnmanagedBroker)
    assert isinstance(
        broker_from_settings(Settings(broker_password_file=tmp_path / "p")), PasswordFileBroker
    )
    dyn = Settings(broker_admin_username="admin", broker_admin_password="x")  # type: ignore[arg-type]
    assert isinstance(broker_from_settings(dyn), DynsecBroker)
    with pytest.raises(ValueError, match="not both"):
        Settings(
            broker_admin_username="admin",
            broker_admin_password="x",  # type: ignore[arg-type]
            broker_password_file=tmp_path / "p",
        )
    with pytest.raises(ValueError, match="GTX_BROKER_ADMIN_PASSWORD"):
        Settings(broker_admin_username="admin")


def test_memory_broker_remembers_fresh_passwords() -> None:
    broker = MemoryBroker()
    broker.sync({"A": "$7$h"}, fresh={"A": "pw"})
    assert broker.fresh == {"A": "pw"}
    assert broker.syncs == 1


def test_unmanaged_broker_warns_only_about_accounts_it_leaves_unmanaged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 18: the demo's start warned "credentials not managed" with no account to
    manage; now only a new set of gateway accounts is worth a warning, once."""
    broker = UnmanagedBroker()
    with caplog.at_level(logging.WARNING):
        broker.sync({})
        broker.sync({}, fresh={})
        assert caplog.records == []
        broker.sync({"gtx-gw-a": "hash"})
        broker.sync({"gtx-gw-a": "hash"})
        assert len(caplog.records) == 1
        broker.sync({"gtx-gw-a": "hash"}, fresh={"gtx-gw-b": "pw"})
    assert len(caplog.records) == 2
    assert "2 gateway account(s)" in caplog.records[1].getMessage()
