"""Coordinator settings, parsed once from the environment (prefix ``GTX_``)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wire import topics

__all__ = ["Settings"]


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
    # A stable client id gives the coordinator a persistent MQTT session: the
    # broker queues QoS 1 readings while it is down.
    mqtt_client_id: str = "gtx-coordinator-1"
    mqtt_session_expiry_s: int = Field(default=7 * 24 * 3600, ge=0)
    # "3.1.1" for brokers without MQTT 5 (the embedded demo broker).
    mqtt_protocol: Literal["5", "3.1.1"] = "5"
    # Share the readings stream between coordinator instances ($share/...);
    # off for brokers without shared subscriptions (then run one instance).
    mqtt_shared: bool = True
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

    # Oracle limits (see coordinator.readings.oracle.OracleConfig).
    max_future_skew_s: int = Field(default=120, ge=0)
    lateness_window_s: int = Field(default=7 * 24 * 3600, ge=0)
    # Epochs: length (900 = UTC quarter hours; shorter for demos and tests) and
    # how long after an epoch ends late readings may still land in it.
    epoch_length_s: int = Field(default=900, ge=1)
    epoch_grace_s: int = Field(default=120, ge=0)
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
    # The platform's own Solana keys (oracle, REC and settlement authorities,
    # mints, fee payer): made here at first start, mode 0600; back them up.
    key_dir: Path = Path("var/coordinator-keys")
    chain_check_interval_s: float = Field(default=2.0, gt=0)
    # How long an instance keeps governance state (emergency controls, parameter
    # schedule) and session revocations before reading them again from the database.
    governance_refresh_s: float = Field(default=1.0, ge=0, le=60)

    @model_validator(mode="after")
    def _partition_in_range(self) -> "Settings":
        if self.ingest_partitions and self.ingest_partition >= self.ingest_partitions:
            raise ValueError(
                f"ingest_partition {self.ingest_partition} is not one of 0.."
                f"{self.ingest_partitions - 1} (ingest_partitions)"
            )
        return self
