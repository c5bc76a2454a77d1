"""Enrolment: a gateway redeems a one-time token, registers its key and meters,
and receives its broker credentials."""

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy.engine import Engine

from coordinator.api import repository as repo
from coordinator.api.deps import Clock, get_broker, get_clock, get_engine, get_settings
from coordinator.api.schemas import EnrolmentIn, EnrolmentOut, MeterOut, MqttCredentialsOut
from coordinator.config import Settings
from coordinator.devices import enrolment as rules
from coordinator.devices.broker_accounts import BrokerCredentials
from coordinator.errors import BrokerError
from wire.base58 import b58decode

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/enrolment", tags=["enrolment"])


def _signature(value: str) -> bytes:
    try:
        return b58decode(value)
    except ValueError:
        raise rules.EnrolmentError(rules.BAD_PROOF, "signature is not base58") from None


@router.post("")
def enrol(
    body: EnrolmentIn,
    engine: Annotated[Engine, Depends(get_engine)],
    settings: Annotated[Settings, Depends(get_settings)],
    broker: Annotated[BrokerCredentials, Depends(get_broker)],
    clock: Annotated[Clock, Depends(get_clock)],
) -> EnrolmentOut:
    """Safe to repeat with the same token from the same gateway: meters are
    updated and a fresh broker password replaces the previous one."""
    rules.public_key_of(body.gateway_id, "gateway id")
    for m in body.meters:
        if m.owner is not None:
            rules.check_wallet(m.owner)
    # An empty owner means "the token's owner", filled in by repo.enrol.
    meters = [
        repo.MeterSpec(m.meter_id, m.model, m.rated_power_w, m.owner or "") for m in body.meters
    ]
    enrolled = repo.enrol(
        engine,
        token=body.token,
        gateway_id=body.gateway_id,
        proof=_signature(body.proof),
        meters=meters,
        now=clock(),
    )
    broker.sync(repo.broker_entries(engine), fresh={enrolled.username: enrolled.password})
    return EnrolmentOut(
        gateway_id=enrolled.gateway_id,
        owner=enrolled.owner,
        first_time=enrolled.first_time,
        meters=[
            MeterOut(
                meter_id=m.meter_id, model=m.model, rated_power_w=m.rated_power_w, owner=m.owner
            )
            for m in enrolled.meters
        ],
        mqtt=MqttCredentialsOut(
            host=settings.gateway_mqtt_host or settings.mqtt_host,
            port=settings.gateway_mqtt_port or settings.mqtt_port,
            tls=settings.gateway_mqtt_tls,
            username=enrolled.username,
            password=enrolled.password,
            topic_root=settings.topic_root,
            ca_certificate=_ca_certificate(settings),
        ),
    )


def _ca_certificate(settings: Settings) -> str | None:
    if settings.gateway_mqtt_ca_file is None:
        return None
    try:
        return settings.gateway_mqtt_ca_file.read_text()
    except OSError as exc:
        raise BrokerError(
            f"cannot read GTX_GATEWAY_MQTT_CA_FILE {settings.gateway_mqtt_ca_file}: {exc}"
        ) from exc
