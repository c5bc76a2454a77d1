"""Production refuses weak or repeated secrets; development takes anything."""

import secrets

import pytest
from pydantic import SecretStr
from sqlalchemy import create_engine

from coordinator.api.auth.config import AuthSettings, jwt_key
from coordinator.api.auth.secret_rules import (
    GENERATE_HINT,
    estimated_bits,
    require_strong_secrets,
    secret_problems,
)
from coordinator.api.main import check_secrets, create_app
from coordinator.config import Settings
from coordinator.errors import ConfigError

# The issue's examples, each accepted by production before (length was all it checked).
WEAK_ADMIN = "aaaaaaaaaaaaaaaaaaaaaaaa"
WEAK_JWT = "changethischangethischangethischangethis"
GOOD_JWT = secrets.token_urlsafe(48)
GOOD_ADMIN = secrets.token_urlsafe(32)


def _s(value: str) -> SecretStr:
    return SecretStr(value)


def _production(admin: str, jwt: str) -> tuple[Settings, AuthSettings]:
    settings = Settings(environment="production", admin_token=_s(admin))
    auth = AuthSettings(environment="production", jwt_secret=_s(jwt))
    return settings, auth


def test_issue_examples_are_refused_by_the_rule() -> None:
    (admin,) = secret_problems({"GTX_ADMIN_TOKEN": WEAK_ADMIN})
    assert "GTX_ADMIN_TOKEN" in admin
    (jwt,) = secret_problems({"GTX_JWT_SECRET": WEAK_JWT})
    assert "placeholder" in jwt
    (same,) = secret_problems({"GTX_JWT_SECRET": GOOD_JWT, "GTX_ADMIN_TOKEN": GOOD_JWT})
    assert "GTX_JWT_SECRET and GTX_ADMIN_TOKEN are the same value" in same


@pytest.mark.parametrize(
    ("admin", "jwt", "named"),
    [
        (WEAK_ADMIN, GOOD_JWT, "GTX_ADMIN_TOKEN"),
        (GOOD_ADMIN, WEAK_JWT, "GTX_JWT_SECRET"),
        (GOOD_JWT, GOOD_JWT, "the same value"),
    ],
)
def test_production_api_refuses_the_issue_examples(admin: str, jwt: str, named: str) -> None:
    settings, auth = _production(admin, jwt)
    with pytest.raises(ConfigError, match=named) as refused:
        create_app(settings, create_engine("sqlite://"), auth_settings=auth)
    message = str(refused.value)
    assert GENERATE_HINT in message  # says how to make a good one
    assert admin not in message  # and never echoes a secret
    assert jwt not in message


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        (None, "not set"),
        ("", "not set"),
        ("changethis", "placeholder"),
        ("CHANGE-ME-" + secrets.token_hex(16), "placeholder"),  # a placeholder, half edited
        ("secret", "placeholder"),
        ("s3cr3t-" * 6, "repeats a pattern of 7 characters"),
        ("Tr0ub4dor&3" * 3, "repeats a pattern"),
        ("z" * 64, "repeats a pattern of 1 character"),
        ("short-but-random-Q9", "19 characters"),
        ("abcdefghijklmnopqrstuvwxyz0123456789", "too little variety"),
        ("0110100011010111001011011000101110100101", "too little variety"),
    ],
)
def test_weak_secrets_are_refused(secret: str | None, why: str) -> None:
    (problem,) = secret_problems({"GTX_ADMIN_TOKEN": secret})
    assert problem.startswith("GTX_ADMIN_TOKEN")
    assert why in problem


@pytest.mark.parametrize(
    "make",
    [
        lambda: secrets.token_urlsafe(48),
        lambda: secrets.token_urlsafe(24),
        lambda: secrets.token_hex(16),
        lambda: secrets.token_hex(32),
        lambda: "".join(secrets.choice("0123456789") for _ in range(40)),
    ],
)
def test_random_secrets_pass_with_margin(make: object) -> None:
    for _ in range(200):
        secret = make()  # type: ignore[operator]
        assert secret_problems({"GTX_JWT_SECRET": secret}) == []


def test_estimate_is_conservative_for_patterns() -> None:
    assert estimated_bits("a" * 40) == 0
    assert estimated_bits("changethis" * 4) == estimated_bits("changethis")
    assert estimated_bits(secrets.token_urlsafe(48)) > 250


def test_every_pair_of_equal_secrets_is_named() -> None:
    value = secrets.token_urlsafe(48)
    problems = secret_problems(
        {"GTX_JWT_SECRET": value, "GTX_ADMIN_TOKEN": GOOD_ADMIN, "GTX_MQTT_PASSWORD": value}
    )
    assert problems == [
        "GTX_JWT_SECRET and GTX_MQTT_PASSWORD are the same value; each secret must be its own "
        "(one leaked must not open the others)"
    ]


def test_check_secrets_covers_the_broker_passwords_when_set() -> None:
    auth = AuthSettings(environment="production", jwt_secret=_s(GOOD_JWT))
    same = Settings(environment="production", admin_token=_s(GOOD_ADMIN), mqtt_password=GOOD_ADMIN)
    with pytest.raises(ConfigError, match="GTX_ADMIN_TOKEN and GTX_MQTT_PASSWORD"):
        check_secrets(same, auth)
    weak = Settings(
        environment="production",
        admin_token=_s(GOOD_ADMIN),
        broker_admin_username="admin",
        broker_admin_password=_s("changeme"),
    )
    with pytest.raises(ConfigError, match="GTX_BROKER_ADMIN_PASSWORD is a placeholder"):
        check_secrets(weak, auth)
    check_secrets(Settings(environment="production", admin_token=_s(GOOD_ADMIN)), auth)


def test_development_takes_anything_and_jwt_key_follows_the_rule() -> None:
    require_strong_secrets({"GTX_ADMIN_TOKEN": WEAK_ADMIN}, "development")
    check_secrets(Settings(admin_token=_s(WEAK_ADMIN)), AuthSettings(jwt_secret=_s(WEAK_JWT)))
    assert len(jwt_key(AuthSettings())) == 32  # random per process
    with pytest.raises(ConfigError, match="GTX_JWT_SECRET is a placeholder"):
        jwt_key(AuthSettings(environment="production", jwt_secret=_s(WEAK_JWT)))
    assert (
        jwt_key(AuthSettings(environment="production", jwt_secret=_s(GOOD_JWT)))
        == GOOD_JWT.encode()
    )


def test_production_on_either_settings_object_checks_both() -> None:
    settings = Settings(environment="production", admin_token=_s(GOOD_ADMIN))
    with pytest.raises(ConfigError, match="GTX_JWT_SECRET is not set"):
        check_secrets(settings, AuthSettings())
