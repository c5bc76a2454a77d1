"""Setting up a new production broker: the dynamic security plugin's initial
state, written before the broker first starts (`gtx-coordinator broker-config`).

The order that loses no reading on a new broker (`gtx-coordinator broker-init`
does the last two steps once the broker runs):

1. `write_broker_state`: roles, the admin, coordinator and operator accounts,
   and the gateways the database holds, *disabled*;
2. the broker starts; no gateway can log in yet;
3. each coordinator instance's persistent session and readings subscription
   is created (`coordinator.runner.prepare_sessions`), so the broker queues
   readings for it from then on, running or not;
4. the gateway accounts are enabled (`broker_accounts.DynsecBroker.sync`).
"""

import json
from pathlib import Path

from coordinator.config import Settings
from coordinator.devices import dynsec
from coordinator.devices.broker_accounts import mosquitto_hash, write_private
from coordinator.errors import ConfigError

__all__ = ["write_broker_state"]


def write_broker_state(
    out: Path, settings: Settings, gateways: dict[str, str], *, force: bool = False
) -> None:
    """The dynamic security plugin's initial state: GTX_BROKER_ADMIN_*, the
    coordinator's GTX_MQTT_USERNAME / _PASSWORD, GTX_BROKER_OPERATOR_* (if set)
    and the enrolled gateways (disabled until `broker-init`)."""
    needed = {
        "GTX_BROKER_ADMIN_USERNAME": settings.broker_admin_username,
        "GTX_BROKER_ADMIN_PASSWORD": settings.broker_admin_password,
        "GTX_MQTT_USERNAME": settings.mqtt_username,
        "GTX_MQTT_PASSWORD": settings.mqtt_password,
    }
    missing = [name for name, value in needed.items() if not value]
    if missing:
        raise ConfigError("broker-config needs " + ", ".join(missing))
    if out.exists() and not force:
        raise ConfigError(
            f"{out} exists: the running broker owns it (use --force on a stopped broker to "
            "write it again from the database)"
        )
    assert settings.broker_admin_username is not None
    assert settings.broker_admin_password is not None
    assert settings.mqtt_username is not None
    assert settings.mqtt_password is not None
    operators = []
    if settings.broker_operator_username and settings.broker_operator_password:
        operators.append(
            dynsec.Account(
                settings.broker_operator_username,
                mosquitto_hash(settings.broker_operator_password.get_secret_value()),
            )
        )
    state = dynsec.render_state(
        settings.topic_root,
        admin=dynsec.Account(
            settings.broker_admin_username,
            mosquitto_hash(settings.broker_admin_password.get_secret_value()),
        ),
        coordinator=dynsec.Account(settings.mqtt_username, mosquitto_hash(settings.mqtt_password)),
        operators=operators,
        gateways=gateways,
    )
    write_private(out, json.dumps(state, indent=1) + "\n")
