"""Coordinator settings, parsed once from the environment (prefix ``GTX_``)."""

import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from coordinator.errors import ConfigError
from wire import topics

__all__ = ["MqttTls", "Settings", "invalid_settings", "monitor_client_id"]


def invalid_settings(exc: ValidationError, prefix: str = "GTX_") -> ConfigError:
    """A settings object's validation failure as one line naming each variable:
    ``invalid setting GTX_MQTT_PORT: Input should be a valid integer``. The values
    are not repeated: some are secrets."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        loc = "_".join(str(part) for part in error["loc"])
        problems.append(f"{prefix}{loc.upper()}: {error['msg']}" if loc else str(error["msg"]))
    return ConfigError("invalid setting " + "; ".join(problems))


@dataclass(frozen=True, slots=True)
class MqttTls:
    """TLS to the broker: the CA that signed its certificate (None: the system's
    trust store) and, for brokers that ask for one, this client's certificate."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """A client context that verifies the broker's certificate and host name.
        Raises OSError / ssl.SSLError for unreadable or invalid files."""
        ctx = ssl.create_default_context(
            ssl.Purpose.SERVER_AUTH, cafile=None if self.ca_file is None else str(self.ca_file)
        )
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.cert_file is not None:
            key = None if self.key_file is None else str(self.key_file)
            ctx.load_cert_chain(str(self.cert_file), key)
        return ctx


def monitor_client_id(username: str | None) -> str | None:
    """The client id `gtx-coordinator monitor` uses with an operator account: the
    broker binds each operator account to this id (coordinator.devices.dynsec), so
    an operator cannot take over a coordinator's or a gateway's session. None
    without an account (a development broker): the monitor picks a random id."""
    return None if username is None else "gtx-monitor-" + username


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GTX_", frozen=True)

    database_url: str = Field(
        default="postgresql+psycopg://postgres@127.0.0.1:5432/gridtokenx",
        description="SQLAlchemy URL of the source-of-truth database.",
    )
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    # TLS to the broker (the production broker listens on TLS only): the CA file
    # that signed the broker's certificate (unset: the system's trust store), and
    # an optional client certificate and key. Used by every MQTT client of the
    # coordinator: `run`, `monitor`, `broker-init` and the API's broker accounts.
    mqtt_tls: bool = False
    mqtt_ca_file: Path | None = None
    mqtt_cert_file: Path | None = None
    mqtt_key_file: Path | None = None
    # A stable client id gives the coordinator a persistent MQTT session: the
    # broker queues QoS 1 readings while it is down.
    mqtt_client_id: str = "gtx-coordinator-1"
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # "3.1.1" for brokers without MQTT 5 (the embedded demo broker).
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    # Share the readings stream round-robin between instances ($share/...). Off by
    # default: Mosquitto before 2.0.19 does not persist shared subscriptions, so
    # readings published while the coordinator is away after a broker restart
    # would find no subscriber and be lost; and round-robin splits one gateway's
    # readings between instances. Scale out with sticky partitions instead
    # (`ingest_partitions`, docs/operations.md).
    mqtt_shared: bool = False
    # Sticky ingest (coordinator.readings.ingest.routing): with n > 0 partitions, instance
    # `ingest_partition` of n decides only its own gateways' readings, each in order.
    ingest_partitions: int = Field(default=0, ge=0, le=1024)
    ingest_partition: int = Field(default=0, ge=0)
    # Worker processes deciding readings (coordinator.readings.ingest.workers), each
    # gateway always on the same one; 0 decides in this process.
    ingest_workers: int = Field(default=0, ge=0, le=64)
    topic_root: str = topics.DEFAULT_ROOT
    # Readings are verified and committed in batches of up to this many, or
    # whatever has arrived after batch_wait_s.
    batch_max: int = Field(default=500, ge=1)
    batch_wait_s: float = Field(default=0.05, gt=0)

    # --- API, enrolment and broker credentials (issue 4) ---
    # Outside "development" the API refuses to start with a missing or placeholder
    # admin token.
    environment: Literal["development", "production"] = "development"
    admin_token: SecretStr | None = None
    enrolment_token_ttl_s: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    # How long a rotated-out device key still verifies readings (default / cap).
    key_overlap_default_s: int = Field(default=3600, ge=0)
    key_overlap_max_s: int = Field(default=24 * 3600, ge=0)
    # How gateway accounts reach the broker (coordinator.devices.broker_accounts):
    # with broker_admin_username set, through Mosquitto's dynamic security plugin
    # (production: per-gateway roles, client ids bound to accounts); else with
    # broker_password_file set, a rendered password file (development profile);
    # else not at all (an anonymous development broker).
    broker_admin_username: str | None = None
    broker_admin_password: SecretStr | None = None
    # An operator account broker-config puts in the plugin's initial state (read only).
    broker_operator_username: str | None = None
    broker_operator_password: SecretStr | None = None
    # The Mosquitto password file the coordinator renders, and Mosquitto's pid
    # file to SIGHUP after; unset = the broker's credentials are not managed.
    broker_password_file: Path | None = None
    broker_pid_file: Path | None = None
    # Service accounts (coordinator, operators), made with mosquitto_passwd and
    # copied verbatim at the top of the rendered password file.
    broker_static_password_file: Path | None = None
    # The broker as gateways in the field reach it (returned at enrolment).
    gateway_mqtt_host: str | None = None
    gateway_mqtt_port: int | None = Field(default=None, ge=1, le=65535)
    gateway_mqtt_tls: bool = False
    # The CA certificate gateways verify the broker with, handed out at enrolment
    # (public: it goes into the gateway's config directory, no hand copy).
    gateway_mqtt_ca_file: Path | None = None

    # Oracle limits (see coordinator.readings.oracle.OracleConfig).
    max_future_skew_s: int = Field(default=120, ge=0)
    lateness_window_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Epochs: length (900 = UTC quarter hours; shorter for demos and tests) and
    # how long after an epoch ends late readings may still land in it.
    epoch_length_s: int = Field(default=900, ge=1)
    epoch_grace_s: int = Field(default=120, ge=0)
    # The grid as counterparty of last resort (governed: these are the defaults the
    # REC authority's changes and tariff series override): retail import and feed-in
    # export prices in payment base units per kWh (multiples of 1000), and the grid's
    # emission factor in gCO2/kWh. See coordinator.governance.params.
    grid_import_price: int = Field(default=250_000, ge=1000, multiple_of=1000)
    grid_export_price: int = Field(default=60_000, ge=0, multiple_of=1000)
    emission_factor: int = Field(default=400, ge=0, le=10_000)
    epoch_check_interval_s: float = Field(default=5.0, gt=0)
    # Readings partitions: months created ahead, and retention (default two years).
    partition_months_ahead: int = Field(default=2, ge=0)
    readings_retention_days: int = Field(default=730, ge=1)
    # Redis for the live cache; empty disables it.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Prometheus /metrics port of this process; 0 disables it.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Where /metrics listens; 0.0.0.0 in containers so Prometheus can reach it.
    metrics_addr: str = "127.0.0.1"
    log_json: bool = True
    # Ingest verifies a rotated gateway (id = its first key, for life) with its
    # current key and, until old_valid_until (by receive time), the retired one;
    # gateways may rotate their device key: the agent keeps its enrolled id
    # (config `gateway_id`) and ingest honours the old key for the overlap.
    key_rotation_enabled: bool = True

    # On chain: "embedded" runs the SVM in process (state in the database),
    # "rpc" uses a Solana cluster at solana_rpc_url, "off" mints nothing.
    ledger: Literal["embedded", "rpc", "off"] = "embedded"
    solana_rpc_url: str = "http://127.0.0.1:8899"
    solana_commitment: Literal["processed", "confirmed", "finalized"] = "confirmed"
    # Settle each transaction's transfers in one p-token Batch instruction: only
    # where the cluster's token program is p-token (the embedded ledger always is).
    solana_token_batch: bool = False
    # A block explorer's page for a transaction, `{signature}` filled in (e.g.
    # https://explorer.solana.com/tx/{signature}?cluster=devnet): the dashboard links
    # trades there. Unset, it links to the API's own view of the ledger.
    explorer_tx_url: str | None = Field(default=None, pattern=r"^https?://\S*\{signature\}")
    # The platform's own Solana keys (oracle, REC and settlement authorities,
    # mints, fee payer): made here at first start, mode 0600; back them up.
    key_dir: Path = Path("var/coordinator-keys")
    chain_check_interval_s: float = Field(default=2.0, gt=0)
    # Consumption matching (`coordinator.lifecycle`): which tokens may meet an epoch's
    # metered import: produced in the same UTC hour, the same UTC day, or any earlier
    # epoch ("banked"); oldest first. "off" retires nothing.
    retirement_policy: Literal["hour", "day", "banked", "off"] = "hour"
    # How long an instance keeps governance state (emergency controls, parameter
    # schedule) and session revocations before reading them again from the database.
    governance_refresh_s: float = Field(default=1.0, ge=0, le=60)
    # How long each API worker keeps the answers every user shares (the closed
    # epochs, an epoch's order book) before reading them again; 0: not kept.
    api_cache_s: float = Field(default=1.0, ge=0, le=60)

    # Abnormal trading (coordinator.market.rules.surveillance): an order's limit price
    # outside the recent price divided or multiplied by the band factor; one wallet
    # becoming at or above the share of a side's volume over the trailing epochs
    # against at least `rivals` others quoting there; an epoch's volume above the
    # spike factor times the trailing average; over the trailing epochs, judged once
    # `min_history` of them are known. Wallets sharing a gateway whose meters belong
    # to at most `household_owners` wallets are linked (self-dealing); a building
    # gateway of more owners links nobody.
    surveillance_band_factor: float = Field(default=3.0, gt=1)
    surveillance_dominance_share: float = Field(default=0.8, gt=0, le=1)
    surveillance_dominance_rivals: int = Field(default=2, ge=1)
    surveillance_spike_factor: float = Field(default=4.0, gt=1)
    surveillance_trailing_epochs: int = Field(default=96, ge=1)
    surveillance_min_history: int = Field(default=8, ge=1)
    surveillance_household_owners: int = Field(default=2, ge=1)

    # --- user notifications (coordinator.notify) ---
    # The notification worker (producer and deliveries) runs in `gtx-coordinator run`
    # and the demo; off, the outbox keeps filling from nothing and nothing is sent.
    notify_enabled: bool = True
    notify_interval_s: float = Field(default=2.0, gt=0)
    # SMTP server for emails; unset: users cannot opt in by email. "starttls"
    # upgrades a plain connection (port 587), "tls" connects with TLS (465), "none"
    # sends in clear (a relay on the same host only). Credentials from the environment.
    smtp_host: str | None = None
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "GridTokenX <notifications@gridtokenx.invalid>"
    # Webhooks may reach only public addresses unless private ones are allowed
    # (tests, a closed campus network) or their networks listed (comma-separated CIDRs).
    notify_allow_private: bool = False
    notify_allowed_networks: str = ""
    # Retries: attempt n waits base * 2**(n-1) s, at most cap; parked after max.
    notify_max_attempts: int = Field(default=10, ge=1, le=100)
    notify_backoff_base_s: float = Field(default=30.0, gt=0)
    notify_backoff_cap_s: float = Field(default=3600.0, gt=0)
    # A claimed delivery is someone else's to retry after this long (a crashed worker).
    notify_lease_s: float = Field(default=120.0, gt=0)
    notify_timeout_s: float = Field(default=10.0, gt=0)
    # The producer re-reads this far behind its position: a transaction that commits
    # late with an earlier time is still seen (the outbox key makes it once).
    notify_scan_overlap_s: int = Field(default=600, ge=0)
    # Delivered and dropped deliveries are deleted after this many days (parked and
    # pending ones are kept until they end): the users' history, and no longer.
    notify_retention_days: int = Field(default=30, ge=1)

    def mqtt_tls_config(self) -> MqttTls | None:
        """The TLS settings of the coordinator's MQTT clients; None for plain MQTT."""
        if not self.mqtt_tls:
            return None
        return MqttTls(self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)

    @model_validator(mode="after")
    def _mqtt_tls_consistent(self) -> "Settings":
        files = (self.mqtt_ca_file, self.mqtt_cert_file, self.mqtt_key_file)
        if not self.mqtt_tls and any(f is not None for f in files):
            raise ValueError(
                "GTX_MQTT_CA_FILE / GTX_MQTT_CERT_FILE / GTX_MQTT_KEY_FILE are set but "
                "GTX_MQTT_TLS is not true: set it, or the broker would be reached in clear"
            )
        if self.mqtt_key_file is not None and self.mqtt_cert_file is None:
            raise ValueError("GTX_MQTT_KEY_FILE needs GTX_MQTT_CERT_FILE (the client certificate)")
        if self.broker_admin_username and self.broker_password_file is not None:
            raise ValueError(
                "set either GTX_BROKER_ADMIN_USERNAME (dynamic security) or "
                "GTX_BROKER_PASSWORD_FILE (password file), not both"
            )
        if self.broker_admin_username and self.broker_admin_password is None:
            raise ValueError("GTX_BROKER_ADMIN_USERNAME needs GTX_BROKER_ADMIN_PASSWORD")
        return self

    @model_validator(mode="after")
    def _grid_band(self) -> "Settings":
        if self.grid_export_price > self.grid_import_price:
            raise ValueError(
                f"GTX_GRID_EXPORT_PRICE {self.grid_export_price} exceeds "
                f"GTX_GRID_IMPORT_PRICE {self.grid_import_price}: the grid would pay more "
                "for a kWh than it charges"
            )
        return self

    @model_validator(mode="after")
    def _notify_consistent(self) -> "Settings":
        for part in self.notify_allowed_networks.split(","):
            if part.strip():
                try:
                    ipaddress.ip_network(part.strip())
                except ValueError as exc:
                    raise ValueError(f"GTX_NOTIFY_ALLOWED_NETWORKS: {exc}") from exc
        if (self.smtp_username is None) != (self.smtp_password is None):
            raise ValueError("GTX_SMTP_USERNAME and GTX_SMTP_PASSWORD go together")
        if self.smtp_password is not None and self.smtp_security == "none":
            raise ValueError(
                "GTX_SMTP_PASSWORD with GTX_SMTP_SECURITY=none would send it in clear: "
                "use starttls or tls"
            )
        return self

    @model_validator(mode="after")
    def _partition_in_range(self) -> "Settings":
        if self.ingest_partitions and self.ingest_partition >= self.ingest_partitions:
            raise ValueError(
                f"ingest_partition {self.ingest_partition} is not one of 0.."
                f"{self.ingest_partitions - 1} (ingest_partitions)"
            )
        return self
