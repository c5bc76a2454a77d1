"""Request and response bodies of the API (pydantic)."""

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from wire.meters import METER_MODELS
from wire.reading import ProtocolError, check_meter_id

__all__ = [
    "ApprovalOut",
    "AuditOut",
    "AuthConfigOut",
    "BalancesOut",
    "BillOut",
    "BillStatementOut",
    "BookLevelOut",
    "BookOut",
    "CampusEpochOut",
    "CampusTotalsOut",
    "ChainActionOut",
    "ClearingOut",
    "ControlActionOut",
    "ControlDraftIn",
    "ControlsIn",
    "ControlsOut",
    "DeploymentOut",
    "DraftOut",
    "EnrolmentIn",
    "EnrolmentOut",
    "EpochEnergyOut",
    "EpochOut",
    "EpochSegmentOut",
    "GatewayOut",
    "GatewayStatusOut",
    "GovernanceIn",
    "HourOut",
    "LoginIn",
    "MarketClearingOut",
    "MarketSummaryOut",
    "MeOut",
    "MeterIn",
    "MeterOut",
    "MqttCredentialsOut",
    "MyMeterOut",
    "NonceIn",
    "NonceOut",
    "NoteDraftIn",
    "NoteIn",
    "NotificationDeliveryOut",
    "NotificationSecretOut",
    "NotificationTestOut",
    "NotificationsIn",
    "NotificationsOut",
    "OrderIn",
    "OrderOut",
    "ParamChangeIn",
    "ParamChangeOut",
    "ParamDraftIn",
    "ParamValueOut",
    "ParamsOut",
    "PauseOut",
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
    "SeriesDraftIn",
    "SeriesIn",
    "SeriesOut",
    "SeriesRecordedOut",
    "SessionOut",
    "SignedApprovalIn",
    "TokenIn",
    "TokenInfoOut",
    "TokenOut",
    "TradeOut",
    "TransactionOut",
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
    rec_authority: str = Field(description="signs `gtx/v1 register` and `gtx/v1 control`")
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
    withheld_base_units: int = Field(0, description="not minted, for `withheld_reason`")
    withheld_reason: str | None = None
    withheld_reason_text: str | None = None
    pending_base_units: int = Field(0, description="closed, to be minted")


class MintOut(BaseModel):
    """One owner's energy of one closed epoch and what became of it: minted (by
    `signature`), withheld (`reason`) or pending."""

    epoch: int
    owner: str
    base_units: int
    status: str
    reason: str | None
    reason_text: str | None
    attempts: int
    signature: str | None
    updated_at: dt.datetime


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
    reason_text: str | None = Field(
        None, description="why it took no part, or why its settlement failed, in words"
    )
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
    error_text: str | None = Field(None, description="why its settlement failed, in words")
    cleared_at: dt.datetime | None = Field(
        default=None, description="when the epoch's market cleared (the trade was made)"
    )


class GovernanceIn(BaseModel):
    owner: str = Field(description="wallet whose token accounts to freeze or thaw")
    reason: str = Field(min_length=1, max_length=200)


_WALLET_SIGNATURE = Field(
    min_length=64, max_length=100, description="base58 Ed25519 signature by the caller's wallet"
)


class NoteDraftIn(BaseModel):
    text: str = Field(min_length=1, max_length=200)


class NoteIn(BaseModel):
    """A note signed by the REC authority's wallet: the wallet signs
    `gtx/v1 note by=<wallet> at=<issued_at> text=<text>` (POST /governance/memo/draft)."""

    text: str = Field(min_length=1, max_length=200)
    issued_at: int = Field(ge=0, description="Unix seconds, as in the signed text")
    signature: str = _WALLET_SIGNATURE


class DraftOut(BaseModel):
    """The exact text for the caller's wallet to sign (`signMessage`), and its time."""

    text: str
    issued_at: int


class ParamDraftIn(BaseModel):
    name: str = Field(min_length=1, max_length=32)
    value: str = Field(min_length=1, max_length=64)
    from_epoch: int = Field(ge=0, description="the first epoch the value is in force")


class ParamChangeIn(ParamDraftIn):
    """A change signed by the REC authority's wallet: the wallet signs
    `gtx/v1 param name=<name> value=<value> from=<from_epoch> by=<wallet> at=<issued_at>`
    (POST /governance/params/draft writes it)."""

    issued_at: int = Field(ge=0)
    signature: str = _WALLET_SIGNATURE


class ParamChangeOut(BaseModel):
    action: str
    signature: str = Field(description="the memo's transaction signature")
    name: str
    value: str
    from_epoch: int
    applied: bool = Field(
        description="true: takes effect from `from_epoch` (every governed parameter does)"
    )
    starts_at: int = Field(
        description="when `from_epoch` starts (Unix seconds), by the epochs with this change"
    )
    note: str | None = None


class SeriesDraftIn(BaseModel):
    """A tariff series: either `csv` (header `epoch,<name>`, then `epoch,value` lines
    for consecutive epochs) or `name`, `from_epoch` and `values` (one per epoch)."""

    csv: str | None = Field(default=None, max_length=2_000_000)
    name: str | None = Field(default=None, max_length=32)
    from_epoch: int | None = Field(default=None, ge=0)
    values: list[int] | None = Field(default=None, max_length=366 * 96)


class SeriesIn(SeriesDraftIn):
    """A series signed by the REC authority's wallet: the wallet signs
    `gtx/v1 series name=<name> from=<from_epoch> count=<n> sha256=<hex> by=<wallet>
    at=<issued_at>`, the hash that of the canonical CSV (POST /governance/series/draft
    writes it)."""

    issued_at: int = Field(ge=0)
    signature: str = _WALLET_SIGNATURE


class SeriesOut(BaseModel):
    name: str
    from_epoch: int
    count: int = Field(description="epochs covered: from_epoch .. from_epoch + count - 1")
    sha256: str = Field(description="of the canonical CSV, as signed and recorded on chain")
    authority: str
    values: list[int] | None = Field(default=None, description="when asked for")


class SeriesRecordedOut(SeriesOut):
    action: str
    signature: str = Field(description="the memo's transaction signature")


class ParamValueOut(BaseModel):
    name: str
    value: str
    from_epoch: int | None = Field(description="None: the deployment's default")
    authority: str | None
    in_force: bool = Field(description="in force now; otherwise scheduled")
    applied: bool = Field(description="true: the value takes effect from its epoch")
    starts_at: int | None = Field(description="when `from_epoch` starts (Unix seconds)")


class ParamsOut(BaseModel):
    epoch: int = Field(description="the epoch running now")
    values: list[ParamValueOut]


class ControlDraftIn(BaseModel):
    action: Literal["pause", "resume"]
    scopes: list[str] = Field(
        min_length=1, max_length=5, description="orders, clearing, settlement, minting, or all"
    )


class ControlsIn(BaseModel):
    """A pause or resume signed by the REC authority's wallet: the wallet signs
    `gtx/v1 control action=<a> scopes=<sorted> epoch=<E> by=<wallet> at=<issued_at>`
    (POST /governance/controls/draft writes it)."""

    scopes: list[str] = Field(
        min_length=1, max_length=5, description="orders, clearing, settlement, minting, or all"
    )
    reason: str = Field(min_length=1, max_length=200)
    issued_at: int = Field(ge=0)
    signature: str = _WALLET_SIGNATURE


class PauseOut(BaseModel):
    scope: str
    since: dt.datetime
    since_epoch: int
    by: str
    reason: str


class ControlsOut(BaseModel):
    paused: list[PauseOut]
    maintenance: bool = Field(description="every scope is paused")


class ControlActionOut(BaseModel):
    action: str
    scopes: list[str] = Field(description="the scopes this call changed")
    signature: str | None = Field(description="the governance memo's transaction")
    memo_error: str | None = Field(
        default=None, description="why the memo is missing (the ledger was unavailable)"
    )


class ChainActionOut(BaseModel):
    action: str
    signature: str


# --- the public market (no sign-in) ---------------------------------------------------


class MarketClearingOut(BaseModel):
    """An epoch's clearing as the public market shows it (the signed-in
    `/api/v1/clearings/{epoch}` adds its hashes and attestation: `ClearingOut`)."""

    epoch: int
    start: int = Field(description="delivery epoch start, Unix seconds UTC")
    length_s: int
    clearing_price: int | None = Field(description="payment base units per kWh; None: no trade")
    volume: int = Field(description="energy base units traded")
    turnover: int = Field(description="payment base units paid")
    order_count: int
    match_count: int
    cleared_at: dt.datetime


class EpochSegmentOut(BaseModel):
    first_epoch: int
    start: int = Field(description="when `first_epoch` starts, Unix seconds UTC")
    length_s: int = Field(description="the length of each epoch from `first_epoch` on")


class MarketSummaryOut(BaseModel):
    now: int = Field(description="the server's clock, Unix seconds UTC")
    epoch_length_s: int = Field(description="the length of the epoch being delivered now")
    epoch_segments: list[EpochSegmentOut] = Field(
        description="the epoch calendar: epoch e of the last segment with first_epoch <= e "
        "(else the first) starts at start + (e - first_epoch) * length_s"
    )
    current_epoch: int = Field(description="the epoch being delivered now")
    open_epoch: int = Field(description="the epoch orders are placed for")
    closes_at: int = Field(
        description="when the open epoch's book closes and clears (Unix seconds UTC): "
        "the start of that epoch"
    )
    tick: int = Field(description="price step, payment base units per kWh")
    lot: int = Field(description="quantity step, energy base units")
    energy_decimals: int
    payment_decimals: int
    pricing: str
    last_clearing: MarketClearingOut | None = Field(description="the newest epoch that traded")
    explorer_tx_url: str | None = Field(
        description="a block explorer's transaction page, `{signature}` to fill in; None "
        "(the embedded ledger): `GET /market/transactions/{signature}`"
    )
    grid_import_price: int = Field(
        description="the grid's retail price in force for the open epoch, payment base units "
        "per kWh: no buy above it"
    )
    grid_export_price: int = Field(
        description="the grid's feed-in price in force for the open epoch, payment base units "
        "per kWh: no sell below it"
    )
    emission_factor: int = Field(
        description="the grid's emission factor in force for the open epoch, gCO2 per kWh"
    )


class CampusEpochOut(BaseModel):
    epoch: int
    start: int
    length_s: int
    reading_count: int
    total_import_wh: int = Field(description="campus consumption drawn from the grid, Wh")
    total_export_wh: int = Field(description="campus production fed in, Wh")
    mint_base_units: int


class HourOut(BaseModel):
    start: int = Field(description="the UTC hour, Unix seconds")
    import_wh: int
    export_wh: int
    volume: int = Field(description="energy base units traded (campus-wide only)")
    turnover: int = Field(description="payment base units paid (campus-wide only)")


class TransactionOut(BaseModel):
    signature: str
    found: bool = Field(description="the ledger knows this transaction")
    slot: int | None
    ok: bool | None
    error: str | None
    explorer_url: str | None


# --- retirement and certificates (issue 21) ---------------------------------------------

__all__ += [
    "CampusRetirementOut",
    "CertificateOut",
    "CertificateProofOut",
    "StatementLineOut",
]


class StatementLineOut(BaseModel):
    """A consumer's metered import in an hour, day or month (UTC) and the part of it met
    by their own energy tokens, retired and certified."""

    start: dt.datetime
    import_wh: int
    matched_wh: int
    share: float = Field(description="matched_wh / import_wh; 0 when nothing was imported")


class CertificateOut(BaseModel):
    """A granular certificate: `base_units` produced by `gateway_id`/`meter_id` in
    `production_epoch`, retired by `holder` against the import of `epoch`."""

    leaf: str = Field(description="its Merkle leaf, hex: the certificate's id")
    epoch: int
    holder: str
    production_epoch: int
    gateway_id: str
    meter_id: str
    base_units: int
    wh: int
    status: str = Field(description="planned, retired or void (the burn was refused)")


class CertificateProofOut(BaseModel):
    """Everything needed to rebuild the certificate's leaf and walk its path to the root
    committed on chain by `gtx/v1 certify` (docs/protocol.md, "Certificates")."""

    certificate: CertificateOut
    leaf_bytes: str = Field(description="hex")
    leaf_index: int
    leaf_count: int
    proof: list[ProofStepOut]
    merkle_root: str = Field(description="hex")
    attestation_signature: str | None
    verified: bool


class CampusRetirementOut(BaseModel):
    """One consumption epoch's retirement across the campus (for the REC authority)."""

    epoch: int
    consumers: int
    import_wh: int
    matched_wh: int
    certificates: int
    unapproved: int = Field(description="consumers not retired for want of approval")
    refused: int = Field(description="consumers whose burn the ledger refused")
    merkle_root: str | None
    attestation_signature: str | None


class BillOut(BaseModel):
    """A bill over one period: energy in energy base units (1 Wh = 10**6), money in
    payment base units (negative: money earned)."""

    start: int = Field(description="the period's start, Unix seconds UTC")
    import_energy: int = Field(description="metered import over the user's meters")
    export_energy: int = Field(description="metered export over the user's meters")
    bought: int = Field(description="energy bought on the market (settled)")
    sold: int = Field(description="energy sold on the market (settled)")
    paid: int = Field(description="paid for market purchases")
    received: int = Field(description="received for market sales")
    residual_import: int = Field(description="import the market did not cover: from the grid")
    residual_export: int = Field(description="export the market did not take: to the grid")
    grid_import_cost: int = Field(description="the residual import at the retail price")
    grid_export_revenue: int = Field(description="the residual export at the feed-in price")
    actual_cost: int = Field(description="paid - received + grid import cost - grid export revenue")
    grid_only_cost: int = Field(
        description="what the grid alone would have billed: import at retail - export at feed-in"
    )
    savings: int = Field(description="grid-only cost - actual cost")
    avoided_co2_mg: int = Field(
        description="emissions avoided by matched renewable energy, mgCO2 (matched Wh x the "
        "grid's gCO2/kWh)"
    )


class BillStatementOut(BaseModel):
    period: str = Field(description="epoch, hour, day or month (UTC)")
    since_epoch: int
    until_epoch: int
    matched_rule: str = Field(description="which energy counts as matched renewable energy")
    lines: list[BillOut] = Field(description="oldest first; periods with nothing left out")
    total: BillOut = Field(description="the lines summed (start: since_epoch's start)")


class CampusTotalsOut(BaseModel):
    since_epoch: int
    until_epoch: int
    users: int = Field(description="users with a metered or traded epoch in the range")
    matched_rule: str
    total: BillOut = Field(description="every user's bills summed")


# --- user notifications (coordinator.notify) ----------------------------------------------


class NotificationsIn(BaseModel):
    """A user's opt-in: an email address and/or a webhook URL (null: none), and the
    kinds to be told of (order_excluded, trade_settled, energy_minted, gateway_silent,
    gateway_revoked)."""

    email: str | None = Field(default=None, max_length=254,
                              pattern=r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")  # fmt: skip
    webhook_url: str | None = Field(default=None, max_length=2000)
    kinds: list[str] = Field(default_factory=list, max_length=10)


class NotificationsOut(BaseModel):
    email: str | None
    webhook_url: str | None
    kinds: list[str]
    available_kinds: list[str]
    email_available: bool = Field(description="whether this coordinator can send emails")
    webhook_secret_set: bool
    webhook_secret: str | None = Field(
        default=None,
        description="the webhook signing secret, only in the answer that made it: keep it",
    )


class NotificationSecretOut(BaseModel):
    webhook_secret: str


class NotificationTestOut(BaseModel):
    deliveries: list[str] = Field(description="the idempotency keys of the test messages")


class NotificationDeliveryOut(BaseModel):
    key: str
    kind: str
    event_id: str
    channel: str
    status: str = Field(description="pending, delivered, parked or dropped")
    attempts: int
    last_error: str | None
    created_at: dt.datetime
    next_attempt_at: dt.datetime | None
    delivered_at: dt.datetime | None
