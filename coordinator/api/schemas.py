"""Request and response bodies of the API (pydantic)."""

import datetime as dt

from pydantic import BaseModel, Field, field_validator

from wire.meters import METER_MODELS
from wire.reading import ProtocolError, check_meter_id

__all__ = [
    "ApprovalOut",
    "AuditOut",
    "AuthConfigOut",
    "BalancesOut",
    "BookLevelOut",
    "BookOut",
    "ChainActionOut",
    "ClearingOut",
    "DeploymentOut",
    "EnrolmentIn",
    "EnrolmentOut",
    "EpochEnergyOut",
    "EpochOut",
    "GatewayOut",
    "GatewayStatusOut",
    "GovernanceIn",
    "LoginIn",
    "MeOut",
    "MemoIn",
    "MeterIn",
    "MeterOut",
    "MqttCredentialsOut",
    "MyMeterOut",
    "NonceIn",
    "NonceOut",
    "OrderIn",
    "OrderOut",
    "PlacedOut",
    "ProofOut",
    "ProofStepOut",
    "ReadingOut",
    "ReadingStatusOut",
    "RejectedOut",
    "RevokedOut",
    "RolesIn",
    "RotationIn",
    "RotationOut",
    "SessionOut",
    "SignedApprovalIn",
    "TokenIn",
    "TokenInfoOut",
    "TokenOut",
    "TradeOut",
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
        if value not in METER_MODELS:
            raise ValueError(f"unknown meter model {value!r}; known: {', '.join(METER_MODELS)}")
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
    # The CA certificate (PEM) that signed the broker's, when the coordinator
    # has one to hand out (GTX_GATEWAY_MQTT_CA_FILE): the gateway trusts it.
    ca_certificate: str | None = None


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


# --- issue 8: sign-in, user resources, admin views ------------------------------------


class AuthConfigOut(BaseModel):
    domain: str
    nonce_ttl_s: int
    dev_login: bool = Field(description="the dashboard may offer a local development key")


class NonceIn(BaseModel):
    address: str = Field(description="the wallet (base58 public key) signing in")


class NonceOut(BaseModel):
    message: str = Field(description="the exact text to sign (UTF-8)")
    nonce: str
    expires_at: dt.datetime


class LoginIn(BaseModel):
    message: str = Field(max_length=2000, description="the message as issued")
    signature: str = Field(max_length=200, description="base58 Ed25519 signature of it")


class SessionOut(BaseModel):
    token: str = Field(description="bearer token for scripts; browsers also get a cookie")
    address: str
    roles: list[str]
    expires_at: dt.datetime
    first_login: bool
    accounts_pending: bool = Field(description="token accounts not yet created on the ledger")


class MeOut(BaseModel):
    address: str
    roles: list[str]
    created_at: dt.datetime | None
    energy_account: str | None
    payment_account: str | None


class MyMeterOut(BaseModel):
    gateway_id: str
    meter_id: str
    model: str
    rated_power_w: int
    gateway_status: str
    last_reading_ts: int | None


class GatewayStatusOut(BaseModel):
    gateway_id: str
    status: str
    created_at: dt.datetime
    meter_count: int
    last_seen_ts: int | None
    online: bool


class ReadingOut(BaseModel):
    gateway_id: str
    meter_id: str
    seq: int
    meter_ts: int
    import_wh: int
    export_wh: int
    epoch: int
    flags: list[str]


class EpochOut(BaseModel):
    epoch: int
    start: int
    length_s: int
    closed_at: dt.datetime
    reading_count: int
    total_import_wh: int
    total_export_wh: int
    mint_base_units: int
    merkle_root: str
    clearing_price: int | None = Field(description="payment base units per kWh; None: no trade")
    volume: int | None = Field(description="energy base units traded")
    turnover: int | None
    inputs_hash: str | None
    result_hash: str | None
    attestation_signature: str | None = Field(
        description="the `gtx/v1 attest` memo of the Merkle root (base58); null until attested"
    )


class ClearingOut(BaseModel):
    """A delivery epoch's clearing; its canonical inputs and result are at
    `/api/v1/clearings/{epoch}/publication` (`gtx-verify clearing` recomputes them)."""

    epoch: int
    pricing: str
    clearing_price: int | None = Field(description="payment base units per kWh; None: no trade")
    volume: int = Field(description="energy base units traded")
    turnover: int = Field(description="payment base units paid")
    order_count: int
    match_count: int
    inputs_hash: str = Field(description="SHA-256 of the canonical inputs, hex")
    result_hash: str = Field(description="SHA-256 of the canonical result, hex")
    cleared_at: dt.datetime
    publication_topic: str = Field(description="the retained MQTT topic of the publication")
    attestation_signature: str | None = Field(
        description="the `gtx/v1 clearing` memo transaction (base58); null until attested"
    )


class DeploymentOut(BaseModel):
    """The deployment's public addresses: who signs what on chain (base58)."""

    energy_mint: str
    payment_mint: str
    oracle: str = Field(description="signs `gtx/v1 mint` and `gtx/v1 attest` memos")
    rec_authority: str = Field(description="signs `gtx/v1 register` and `gtx/v1 governance`")
    settlement_authority: str = Field(description="signs `gtx/v1 settle` and `gtx/v1 clearing`")
    mint_multisig: str | None
    memo_program: str


class EpochEnergyOut(BaseModel):
    epoch: int
    start: int
    import_wh: int
    export_wh: int
    closed: bool
    minted_base_units: int


class BalancesOut(BaseModel):
    address: str
    energy_account: str
    payment_account: str
    energy_base_units: int
    payment_base_units: int
    energy_decimals: int
    payment_decimals: int


class ProofStepOut(BaseModel):
    side: str = Field(
        description="where the sibling sits: `left` means node(sibling, running), "
        "`right` node(running, sibling)"
    )
    sibling: str = Field(description="hex")


class ProofOut(BaseModel):
    """Everything needed to rebuild and check the reading's leaf and its path to the
    root attested on chain (docs/protocol.md, "Reading proofs"; `gtx-verify reading`)."""

    gateway_id: str
    seq: int
    meter_id: str
    epoch: int
    payload: str = Field(
        description="the signed reading as the gateway publishes it (wire protocol v1 JSON)"
    )
    signature: str = Field(description="Ed25519 signature over the canonical bytes, hex")
    signer: str = Field(
        description="base58 key the signature verifies under: the gateway id, or a key "
        "the gateway rotated to"
    )
    leaf_bytes: str = Field(description='hex of b"GTX-LEAF-v1" || signed bytes || signature')
    leaf: str = Field(description="SHA-256(0x00 || leaf_bytes), hex")
    leaf_index: int = Field(description="the leaf's place in (gateway key bytes, seq) order")
    leaf_count: int = Field(description="leaves in the epoch's tree")
    proof: list[ProofStepOut] = Field(description="from the leaf up to the root")
    merkle_root: str
    attestation_signature: str | None = Field(
        description="the `gtx/v1 attest` memo transaction (base58); null until attested"
    )
    verified: bool = Field(description="the server's own check of the path against the root")


class RejectedOut(BaseModel):
    id: int
    received_at: dt.datetime
    gateway_id: str | None
    reason: str
    detail: str
    topic: str


class TokenInfoOut(BaseModel):
    id: int
    owner: str
    note: str
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None
    used_by: str | None


class AuditOut(BaseModel):
    id: int
    at: dt.datetime
    actor: str
    action: str
    target: str
    outcome: str
    detail: dict[str, object]
    request_id: str


class RolesIn(BaseModel):
    roles: list[str] = Field(max_length=3)


class OrderIn(BaseModel):
    side: str = Field(pattern="^(buy|sell)$")
    epoch: int | None = Field(default=None, ge=0, description="default: the next epoch")
    quantity: int = Field(gt=0, description="energy base units (1 kWh = 10**9)")
    limit_price: int = Field(gt=0, description="payment base units per kWh")


class OrderOut(BaseModel):
    order_id: str
    side: str
    epoch: int
    quantity: int
    limit_price: int
    status: str
    reason: str | None
    filled: int
    payment: int
    settled: int
    settlement_status: str | None
    created_at: dt.datetime


class ApprovalOut(BaseModel):
    transaction: str = Field(description="base64 serialized legacy transaction to sign")
    energy_base_units: int
    payment_base_units: int


class PlacedOut(BaseModel):
    order: OrderOut
    approval: ApprovalOut | None = Field(description="None when the order is open already")


class SignedApprovalIn(BaseModel):
    transaction: str = Field(max_length=4000, description="base64 signed transaction")


class BookLevelOut(BaseModel):
    side: str
    limit_price: int
    quantity: int
    orders: int


class BookOut(BaseModel):
    epoch: int
    levels: list[BookLevelOut]


class TradeOut(BaseModel):
    epoch: int
    idx: int
    side: str
    counterparty: str
    quantity: int
    price: int
    payment: int
    status: str
    signature: str | None = Field(description="base58 signature of the settling transaction")
    error: str | None


class GovernanceIn(BaseModel):
    owner: str = Field(description="wallet whose token accounts to freeze or thaw")
    reason: str = Field(min_length=1, max_length=200)


class MemoIn(BaseModel):
    change: str = Field(min_length=1, max_length=300, pattern=r"^[\x20-\x7e]+$")


class ChainActionOut(BaseModel):
    action: str
    signature: str
