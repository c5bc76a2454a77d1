"""Request and response bodies of the API (pydantic)."""

import datetime as dt

from pydantic import BaseModel, Field, field_validator

from edge.protocol import ProtocolError, check_meter_id
from edge.registermap import available_maps

__all__ = [
    "EnrolmentIn",
    "EnrolmentOut",
    "GatewayOut",
    "MeterIn",
    "MeterOut",
    "MqttCredentialsOut",
    "ReadingStatusOut",
    "RevokedOut",
    "RotationIn",
    "RotationOut",
    "TokenIn",
    "TokenOut",
]


class TokenIn(BaseModel):
    owner: str = Field(description="the wallet (base58) the enrolled meters will belong to")
    ttl_s: int | None = Field(default=None, ge=60, le=30 * 24 * 3600)
    note: str = Field(default="", max_length=200)


class TokenOut(BaseModel):
    token: str
    owner: str
    expires_at: dt.datetime


class MeterIn(BaseModel):
    meter_id: str
    model: str = Field(description="register map name, e.g. sdm630")
    rated_power_w: int = Field(gt=0, le=10**9)
    owner: str | None = Field(default=None, description="defaults to the token's owner")

    @field_validator("meter_id")
    @classmethod
    def _meter_id(cls, value: str) -> str:
        try:
            return check_meter_id(value)
        except ProtocolError as exc:
            raise ValueError(exc.detail) from None

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value not in available_maps():
            raise ValueError(f"unknown meter model {value!r}; known: {', '.join(available_maps())}")
        return value


class MeterOut(BaseModel):
    meter_id: str
    model: str
    rated_power_w: int
    owner: str


class EnrolmentIn(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    gateway_id: str
    proof: str = Field(description="base58 Ed25519 signature of the enrolment message")
    meters: list[MeterIn] = Field(min_length=1, max_length=256)


class MqttCredentialsOut(BaseModel):
    host: str
    port: int
    tls: bool
    username: str
    password: str
    topic_root: str


class EnrolmentOut(BaseModel):
    gateway_id: str
    owner: str
    first_time: bool
    meters: list[MeterOut]
    mqtt: MqttCredentialsOut


class GatewayOut(BaseModel):
    gateway_id: str
    status: str
    created_at: dt.datetime
    meters: list[MeterOut]


class RevokedOut(BaseModel):
    gateway_id: str
    status: str


class RotationIn(BaseModel):
    new_public_key: str
    timestamp: int
    signature_current: str
    signature_new: str
    overlap_s: int | None = Field(default=None, ge=0)


class RotationOut(BaseModel):
    gateway_id: str
    old_key_valid_until: dt.datetime
    already_done: bool


class ReadingStatusOut(BaseModel):
    gateway_id: str
    seq: int
    status: str
    reason: str | None = None
    detail: str | None = None
