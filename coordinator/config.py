"""Coordinator settings, parsed once from the environment (prefix ``GTX_``)."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from edge import topics

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
    topic_root: str = topics.DEFAULT_ROOT
    # Readings are verified and committed in batches of up to this many, or
    # whatever has arrived after batch_wait_s.
    batch_max: int = Field(default=500, ge=1)
    batch_wait_s: float = Field(default=0.05, gt=0)
