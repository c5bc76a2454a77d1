"""Governance through the API with a ledger: emergency controls, parameters signed by
the authority's own wallet, notes, freeze and thaw answered in plain 4xx, and every
attempt audited."""

import datetime as dt
import secrets
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from solders.keypair import Keypair
from solders.message import Message, MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction

from coordinator.api.ledger_view import ChainAccess
from coordinator.api.main import create_app
from coordinator.config import Settings
from coordinator.db.migrate import upgrade
from coordinator.db.session import make_engine
from programs import spl
from programs.errors import TransactionFailed
from programs.roles.deployment import user_accounts
from tests.coordinator.api.conftest import FakeClock, auth_settings
from tests.coordinator.api.test_ledger import ChainApi
from tests.programs.conftest import make_world, run
from tests.utils.services import fresh_database

pytestmark = pytest.mark.services

GOV = "/api/v1/governance"
EPOCH_S = 900


@pytest.fixture
def chain_api(request: pytest.FixtureRequest) -> Iterator[ChainApi]:
    """An API with a ledger on a database of its own: controls and parameters are
    global state, which no other test should see."""
    with fresh_database() as url:
        engine = make_engine(url)
        upgrade(engine)
        world = run(make_world())
        rec_wallet = Keypair()
        chain = ChainAccess(world.ledger, world.deployment, world.payer, world.rec)
        auth = auth_settings(request, rec_authority_wallets=str(rec_wallet.pubkey()))
        clock = FakeClock(dt.datetime.now(dt.UTC))
        app = create_app(Settings(), engine, auth_settings=auth, ledger=chain, clock=clock)
        with TestClient(app) as client:
            yield ChainApi(client, world, rec_wallet, clock)
        engine.dispose()


def _memo_of(api: ChainApi, signature: str) -> tuple[bytes, list[Pubkey]]:
    """The memo text of a transaction, and the accounts that signed it."""
    entry = run(api.world.embedded.journal_entry(Signature.from_string(signature)))
    assert entry is not None
    message: Message | MessageV0
    try:
        message = Transaction.from_bytes(entry.tx).message
    except ValueError:
        message = VersionedTransaction.from_bytes(entry.tx).message
    keys = list(message.account_keys)
    memos = [
        bytes(i.data)
        for i in message.instructions
        if keys[i.program_id_index] == spl.MEMO_PROGRAM_ID
    ]
    assert len(memos) == 1
    return memos[0], keys[: message.header.num_required_signatures]


def _epoch(api: ChainApi) -> int:
    return int(api.clock().timestamp()) // EPOCH_S


def _actions(api: ChainApi, headers: dict[str, str], rid: str) -> list[tuple[str, str, object]]:
    items = api.client.get(f"{GOV}/actions?limit=200", headers=headers).json()["items"]
    return [
        (e["action"], e["outcome"], e["detail"].get("code"))
        for e in items
        if e["request_id"] == rid
    ][::-1]


def _signed_control(
    api: ChainApi, headers: dict[str, str], action: str, scopes: list[str], reason: str,
    wallet: Keypair | None = None,
) -> dict[str, object]:  # fmt: skip
    """A pause or resume as the authority's wallet (or `wallet`, a forger) signs it."""
    draft = api.client.post(
        f"{GOV}/controls/draft", headers=headers, json={"action": action, "scopes": scopes}
    )
    assert draft.status_code == 200, draft.text
    text, issued_at = draft.json()["text"], draft.json()["issued_at"]
    signature = (wallet or api.rec).sign_message(text.encode())
    return {"scopes": scopes, "reason": reason, "issued_at": issued_at, "signature": str(signature)}


def _signed_change(
    api: ChainApi, wallet: Keypair, headers: dict[str, str], name: str, value: str, from_epoch: int
) -> dict[str, object]:
    draft = api.client.post(
        f"{GOV}/params/draft",
        headers=headers,
        json={"name": name, "value": value, "from_epoch": from_epoch},
    )
    assert draft.status_code == 200, draft.text
    text, issued_at = draft.json()["text"], draft.json()["issued_at"]
    return {
        "name": name,
        "value": value,
        "from_epoch": from_epoch,
        "issued_at": issued_at,
        "signature": str(wallet.sign_message(text.encode())),
    }


def test_a_parameter_change_is_signed_by_the_authoritys_wallet_and_takes_effect(
    chain_api: ChainApi,
) -> None:
    api, wallet = chain_api, chain_api.rec
    rec = api.login(wallet)
    now = _epoch(api)
    body = _signed_change(api, wallet, rec, "price_max", "100000", now + 2)
    r = api.client.post(f"{GOV}/params", json=body, headers=rec)
    assert r.status_code == 200, r.text
    assert (r.json()["applied"], r.json()["from_epoch"]) == (True, now + 2)
    # On chain: the text the wallet signed and its signature; the platform only pays.
    memo, signers = _memo_of(api, r.json()["signature"])
    text, _, sig = memo.decode().rpartition(" sig=")
    assert text.startswith(
        f"gtx/v1 param name=price_max value=100000 from={now + 2} by={wallet.pubkey()}"
    )
    assert Signature.from_string(sig).verify(wallet.pubkey(), text.encode())
    assert signers == [api.world.payer.pubkey()]
    # The same signed change again is refused; so is one the wallet did not sign.
    assert api.client.post(f"{GOV}/params", json=body, headers=rec).status_code == 409
    forged = {**body, "value": "200000"}
    r = api.client.post(f"{GOV}/params", json=forged, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "bad_signature")

    user = Keypair()
    headers = api.login(user)
    values = api.client.get(f"{GOV}/params", headers=headers).json()["values"]
    band = [
        (v["value"], v["from_epoch"], v["in_force"]) for v in values if v["name"] == "price_max"
    ]
    assert band[-1] == ("100000", now + 2, False)
    order = {"side": "buy", "quantity": 10**9, "limit_price": 150_000}
    r = api.client.post("/api/v1/orders", json={**order, "epoch": now + 2}, headers=headers)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "price_out_of_band")
    assert "outside the band" in r.json()["detail"]["message"]
    r = api.client.post("/api/v1/orders", json={**order, "epoch": now + 1}, headers=headers)
    assert r.status_code == 201, r.text


def test_an_epoch_length_change_takes_effect_at_its_boundary(chain_api: ChainApi) -> None:
    api, wallet = chain_api, chain_api.rec
    rec = api.login(wallet)
    now = _epoch(api)
    # The next epoch is open for orders already: its length is never changed.
    early = _signed_change(api, wallet, rec, "epoch_length_s", "300", now + 1)
    r = api.client.post(f"{GOV}/params", json=early, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "too_soon")
    body = _signed_change(api, wallet, rec, "epoch_length_s", "300", now + 2)
    r = api.client.post(f"{GOV}/params", json=body, headers=rec)
    assert r.status_code == 200, r.text
    boundary = (now + 2) * EPOCH_S
    assert (r.json()["applied"], r.json()["starts_at"]) == (True, boundary)
    assert "epochs from then on last 300 s" in r.json()["note"]
    user = api.login(Keypair())
    summary = api.client.get("/api/v1/market/summary", headers=user).json()
    assert (summary["current_epoch"], summary["epoch_length_s"]) == (now, EPOCH_S)
    # Past the boundary, epochs are 300 s and numbered on from it.
    api.clock.advance(boundary - api.clock().timestamp() + 2 * 300 + 1)
    summary = api.client.get("/api/v1/market/summary", headers=user).json()
    assert (summary["current_epoch"], summary["epoch_length_s"]) == (now + 4, 300)
    assert summary["closes_at"] == boundary + 3 * 300
    values = api.client.get(f"{GOV}/params", headers=user).json()["values"]
    length = [(v["value"], v["in_force"], v["starts_at"]) for v in values
              if v["name"] == "epoch_length_s"]  # fmt: skip
    assert length == [("300", True, boundary)]
    too_soon = _signed_change(api, wallet, rec, "k", "1/3", _epoch(api))
    r = api.client.post(f"{GOV}/params", json=too_soon, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "too_soon")
    r = api.client.post(
        f"{GOV}/params/draft",
        headers=rec,
        json={"name": "epoch_seconds", "value": "900", "from_epoch": 1},
    )
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "unknown_parameter")


def test_the_market_summary_gives_the_rules_in_force_for_the_open_epoch(
    chain_api: ChainApi,
) -> None:
    """Tick, lot and pricing are governed: the summary the dashboard's order form
    rounds to shows the open epoch's, not the defaults."""
    api, wallet = chain_api, chain_api.rec
    rec = api.login(wallet)
    now = _epoch(api)
    for name, value in (("tick", "2000"), ("lot", "2000000"), ("pricing", "pay_as_bid")):
        r = api.client.post(
            f"{GOV}/params", json=_signed_change(api, wallet, rec, name, value, now + 2),
            headers=rec,
        )  # fmt: skip
        assert r.status_code == 200, r.text
    user = api.login(Keypair())
    summary = api.client.get("/api/v1/market/summary", headers=user).json()
    assert (summary["open_epoch"], summary["tick"], summary["lot"], summary["pricing"]) == (
        now + 1, 1000, 10**6, "pay_as_clear",
    )  # fmt: skip
    api.clock.advance(EPOCH_S)  # now + 2 is the open epoch
    summary = api.client.get("/api/v1/market/summary", headers=user).json()
    assert (summary["open_epoch"], summary["tick"], summary["lot"], summary["pricing"]) == (
        now + 2, 2000, 2 * 10**6, "pay_as_bid",
    )  # fmt: skip


def test_notes_are_signed_by_the_wallet_and_look_alikes_refused(
    chain_api: ChainApi,
) -> None:
    api, wallet = chain_api, chain_api.rec
    rec = api.login(wallet)

    def note(text: str) -> dict[str, object]:
        draft = api.client.post(f"{GOV}/memo/draft", json={"text": text}, headers=rec).json()
        signature = str(wallet.sign_message(draft["text"].encode()))
        return {"text": text, "issued_at": draft["issued_at"], "signature": signature}

    r = api.client.post(f"{GOV}/memo", json=note("x epoch=1 inputs=00 result=00"), headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "look_alike")
    r = api.client.post(f"{GOV}/memo", json=note("quarterly meter audit done"), headers=rec)
    assert r.status_code == 200, r.text
    memo, signers = _memo_of(api, r.json()["signature"])
    assert memo.decode().startswith(f"gtx/v1 note by={wallet.pubkey()} at=")
    assert "text=quarterly meter audit done sig=" in memo.decode()
    assert signers == [api.world.payer.pubkey()]


def test_freezing_twice_thawing_the_unfrozen_and_freezing_oneself_are_plain_refusals(
    chain_api: ChainApi,
) -> None:
    api = chain_api
    rid = secrets.token_hex(8)
    rec = api.login(api.rec) | {"X-Request-ID": rid}
    user = Keypair()
    api.login(user)
    owner = {"owner": str(user.pubkey()), "reason": "meter tampering"}
    calls = [
        ("thaw", owner, 409, "not_frozen"),
        ("freeze", owner, 200, None),
        ("freeze", owner, 409, "already_frozen"),
        ("freeze", {"owner": str(api.rec.pubkey()), "reason": "x"}, 403, "self_freeze"),
        ("freeze", {"owner": str(Keypair().pubkey()), "reason": "x"}, 404, "unknown_account"),
        ("thaw", owner, 200, None),
    ]
    for path, body, status, code in calls:
        r = api.client.post(f"{GOV}/{path}", json=body, headers=rec)
        assert r.status_code == status, (path, r.text)
        if code is not None:
            assert r.json()["detail"]["code"] == code
            assert "log" not in r.json()["detail"]["message"]
        if code == "already_frozen":
            assert r.json()["detail"]["message"].endswith("token accounts are already frozen")
    accounts = user_accounts(api.world.deployment, user.pubkey())
    account = run(api.world.ledger.get_token_account(accounts.energy))
    assert account is not None
    assert str(account.state).endswith("Initialized")  # thawed again
    assert _actions(api, rec, rid) == [
        ("governance.thaw", "refused", "not_frozen"),
        ("governance.freeze", "ok", None),
        ("governance.freeze", "refused", "already_frozen"),
        ("governance.freeze", "refused", "self_freeze"),
        ("governance.freeze", "refused", "unknown_account"),
        ("governance.thaw", "ok", None),
    ]


def test_pause_and_resume_are_recorded_on_chain_audited_and_bite(
    chain_api: ChainApi,
) -> None:
    api = chain_api
    rid = secrets.token_hex(8)
    rec = api.login(api.rec) | {"X-Request-ID": rid}
    user = api.login(Keypair())
    why = "meter fraud investigation"
    body = _signed_control(api, rec, "pause", ["orders", "clearing"], why)
    # Signed by another wallet, or too long ago: refused, nothing paused.
    forged = _signed_control(api, rec, "pause", ["orders", "clearing"], why, Keypair())
    r = api.client.post(f"{GOV}/controls/pause", json=forged, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "bad_signature")
    stale = {**body, "issued_at": int(body["issued_at"]) - 3600}  # type: ignore[call-overload]
    r = api.client.post(f"{GOV}/controls/pause", json=stale, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "stale_request")
    r = api.client.post(f"{GOV}/controls/pause", json=body, headers=rec)
    assert r.status_code == 200, r.text
    assert r.json()["scopes"] == ["clearing", "orders"]
    # On chain: the text the wallet signed and its signature; the platform only pays.
    memo, signers = _memo_of(api, r.json()["signature"])
    text, _, sig = memo.decode().rpartition(" sig=")
    assert text == (
        f"gtx/v1 control action=pause scopes=clearing,orders epoch={_epoch(api)} "
        f"by={api.rec.pubkey()} at={body['issued_at']}"
    )
    assert Signature.from_string(sig).verify(api.rec.pubkey(), text.encode())
    assert signers == [api.world.payer.pubkey()]

    shown = api.client.get(f"{GOV}/controls").json()  # public: the dashboard's banner
    assert [p["scope"] for p in shown["paused"]] == ["clearing", "orders"]
    assert shown["paused"][0]["reason"] == "meter fraud investigation"
    assert shown["maintenance"] is False
    order = {"side": "buy", "quantity": 10**9, "limit_price": 150_000}
    r = api.client.post("/api/v1/orders", json=order, headers=user)
    assert (r.status_code, r.json()["detail"]["code"]) == (503, "market_paused")
    assert "meter fraud investigation" in r.json()["detail"]["message"]

    again = _signed_control(api, rec, "pause", ["orders"], why)
    r = api.client.post(f"{GOV}/controls/pause", json=again, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (409, "already_paused")
    everything = _signed_control(api, rec, "pause", ["all"], why)
    r = api.client.post(f"{GOV}/controls/pause", json=everything, headers=rec)
    assert r.json()["scopes"] == ["minting", "settlement"]
    assert api.client.get(f"{GOV}/controls").json()["maintenance"] is True
    # A pause's signature does not resume: the action is in the signed text.
    r = api.client.post(f"{GOV}/controls/resume", json=everything, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (422, "bad_signature")
    r = api.client.post(f"{GOV}/controls/resume", headers=rec,
                        json=_signed_control(api, rec, "resume", ["all"], why))  # fmt: skip
    assert r.status_code == 200, r.text
    assert api.client.get(f"{GOV}/controls").json() == {"paused": [], "maintenance": False}
    assert api.client.post("/api/v1/orders", json=order, headers=user).status_code == 201
    nothing = _signed_control(api, rec, "resume", ["orders", "clearing"], why)
    r = api.client.post(f"{GOV}/controls/resume", json=nothing, headers=rec)
    assert (r.status_code, r.json()["detail"]["code"]) == (409, "not_paused")
    assert _actions(api, rec, rid) == [
        ("governance.pause", "refused", "bad_signature"),
        ("governance.pause", "refused", "stale_request"),
        ("governance.pause", "ok", None),
        ("governance.pause", "refused", "already_paused"),
        ("governance.pause", "ok", None),
        ("governance.resume", "refused", "bad_signature"),
        ("governance.resume", "ok", None),
        ("governance.resume", "refused", "not_paused"),
    ]


def test_an_emergency_stop_does_not_wait_for_the_ledger(chain_api: ChainApi) -> None:
    """Without a ledger the pause still holds, and says its memo is missing."""
    api = chain_api
    rec = api.login(api.rec)
    api.client.app.state.ledger = None  # type: ignore[attr-defined]
    try:
        r = api.client.post(
            f"{GOV}/controls/pause",
            headers=rec,
            json=_signed_control(api, rec, "pause", ["minting"], "ledger incident"),
        )
        assert r.status_code == 200, r.text
        assert (r.json()["signature"], r.json()["memo_error"]) == (None, "no ledger is configured")
        assert [p["scope"] for p in api.client.get(f"{GOV}/controls").json()["paused"]] == [
            "minting"
        ]
    finally:
        api.client.post(
            f"{GOV}/controls/resume", headers=rec,
            json=_signed_control(api, rec, "resume", ["minting"], "over"),
        )  # fmt: skip


def test_a_ledger_failure_is_a_plain_502_and_audited_as_failed(
    chain_api: ChainApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = chain_api
    rid = secrets.token_hex(8)
    rec = api.login(api.rec) | {"X-Request-ID": rid}

    async def refused(*_args: object, **_kwargs: object) -> Signature:
        logs = ("Program log: a long program log", "Program failed: custom program error: 0x11")
        raise TransactionFailed("5x" * 40, "InstructionErrorCustom(17)", logs)

    monkeypatch.setattr("coordinator.api.routes.governance.record_memo", refused)
    body = _signed_change(api, api.rec, rec, "k", "1/3", _epoch(api) + 1)
    r = api.client.post(f"{GOV}/params", json=body, headers=rec)
    assert r.status_code == 502
    assert r.json()["detail"] == {
        "code": "ledger_error",
        "message": "the ledger did not record the parameter change: InstructionErrorCustom(17)",
    }
    assert _actions(api, rec, rid) == [("governance.set_param", "failed", "ledger_error")]
    shown = api.client.get(f"{GOV}/params", headers=rec).json()["values"]
    assert [v["value"] for v in shown if v["name"] == "k"] == ["1/2"]  # nothing recorded
