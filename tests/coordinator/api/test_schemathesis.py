"""Schemathesis against the app's own OpenAPI schema: no generated request, however
odd, makes the API answer with a server error (5xx).

In-process (ASGI) on the real PostgreSQL and Redis with an embedded ledger, so the
chain-backed endpoints run instead of answering 503. Each operation is exercised
twice: as the static admin bearer token (scripts) and as a wallet session holding
every role, so user, admin and REC-authority endpoints all get past their role check.
"""

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis.core.result import Ok
from sqlalchemy.engine import Engine

from coordinator.api.ledger_view import ChainAccess
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.devices.broker_accounts import MemoryBroker
from provisioning.keys import Signer
from tests.coordinator.api.conftest import ADMIN_TOKEN, Api, auth_settings
from tests.programs.conftest import make_world, run
from wire.base58 import b58encode

pytestmark = pytest.mark.services

_EXAMPLES = 20  # per operation and credential: the whole file stays well under a minute


@pytest.fixture(params=["admin-token", "wallet"])
def credential(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def app_and_headers(
    engine: Engine, request: pytest.FixtureRequest, credential: str
) -> Iterator[tuple[object, dict[str, str]]]:
    world = run(make_world())
    wallet = Signer.generate()
    app = create_app(
        Settings(admin_token=SecretStr(ADMIN_TOKEN)),
        engine,
        broker=MemoryBroker(),
        ledger=ChainAccess(world.ledger, world.deployment, world.payer, world.rec),
        auth_settings=auth_settings(
            request, admin_wallets=wallet.address, rec_authority_wallets=wallet.address
        ),
    )
    with TestClient(app) as client:
        if credential == "admin-token":
            token = ADMIN_TOKEN
        else:
            message = client.post("/api/v1/auth/nonce", json={"address": wallet.address})
            signature = b58encode(wallet.sign(message.json()["message"].encode()))
            login = client.post(
                "/api/v1/auth/login",
                json={"message": message.json()["message"], "signature": signature},
            )
            assert login.status_code == 200, login.text
            token = login.json()["token"]
        yield app, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api_schema(app_and_headers: tuple[object, dict[str, str]]) -> schemathesis.BaseSchema:
    app, _ = app_and_headers
    # The event streams never end by design; a generated request would hang on them.
    return (
        schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        .exclude(path="/api/v1/events")
        .exclude(path="/api/v1/market/events")
    )


def test_no_server_errors(
    api_schema: schemathesis.BaseSchema, app_and_headers: tuple[object, dict[str, str]]
) -> None:
    _, headers = app_and_headers
    failures: list[str] = []
    operations = []
    for result in api_schema.get_all_operations():
        assert isinstance(result, Ok), result  # every operation's schema parses
        operations.append(result.ok())
    assert len(operations) > 30  # the whole API, not an empty or unparsed schema

    for operation in operations:

        @given(
            case=st.one_of(
                operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
                operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
            )
        )
        @settings(
            max_examples=_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def no_5xx(case: schemathesis.Case[Any]) -> None:
            try:
                response = case.call(headers=headers)
            except Exception as exc:  # the in-process client re-raises what became a 500
                raise AssertionError(
                    f"{case.method} {case.formatted_path} -> 500: {exc!r}"[:600]
                ) from exc
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

        try:
            no_5xx()
        except AssertionError as exc:  # collect every operation's failure, not just the first
            failures.append(str(exc))
    assert not failures, "\n".join(failures)


def test_a_nul_character_is_refused_as_invalid_not_a_server_error(api: Api) -> None:
    # Found by the run above: PostgreSQL refuses NUL in text, which answered 500.
    user = api.login(Signer.generate())
    r = api.client.get(
        "/api/v1/readings", params={"gateway_id": "1" * 32, "meter_id": "\x00"}, headers=user
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"]["code"] == "invalid_value"
