"""Governance (role `rec_authority`): emergency controls, governed parameters, notes,
freezing and thawing an account, and who the REC authorities are.

- `GET /controls` (public: the dashboard's banner) and `POST /controls/pause` /
  `/controls/resume` `{scopes, reason}`: orders, clearing, settlement, minting, or
  `all` (maintenance mode). Recorded in the database every instance reads, as a
  memo signed by the REC authority's platform key, and in the audit log. A pause
  is recorded even when the ledger is down (the answer says the memo is missing):
  an emergency stop must not wait for the chain.
- `GET /params`, `POST /params/draft` and `POST /params`: a change "from epoch N"
  signed by the authority's own wallet (the draft gives the exact text to sign);
  the API checks the signature against the caller's wallet, records the text and
  signature as a memo (the platform only pays the fee) and the schedule.
- `POST /memo/draft`, `POST /memo`: a note signed the same way; text that could
  pass for a system record (`=`, `gtx/`) is refused.
- `POST /freeze`, `/thaw`: both of a wallet's token accounts; 409 when already so,
  403 for the caller's own wallet.
- `PUT` / `DELETE /authorities/{address}`: grant or remove `rec_authority` (only an
  authority may; never its own; never the last one).

Every attempt that changes something is audited: successes with their chain
signature, refusals (401, 403, 4xx) and failures (`AuditedRoute`).
"""

import asyncio
import datetime as dt
import json
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from sqlalchemy.engine import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator.api import audit
from coordinator.api.auth.errors import AuthError
from coordinator.api.auth.message import check_address
from coordinator.api.deps import (
    ADMIN,
    REC_AUTHORITY,
    Clock,
    Principal,
    get_chain,
    get_clock,
    get_engine,
    get_settings,
    request_id,
    require_any_role,
    require_chain,
    require_role,
)
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.paging import Cursor, Limit, Page, decode_cursor, encode_cursor
from coordinator.api.routes.admin import change_roles
from coordinator.api.schemas import (
    AuditOut,
    ChainActionOut,
    ControlActionOut,
    ControlsIn,
    ControlsOut,
    DraftOut,
    GovernanceIn,
    NoteDraftIn,
    NoteIn,
    ParamChangeIn,
    ParamChangeOut,
    ParamDraftIn,
    ParamsOut,
    ParamValueOut,
    PauseOut,
    SeriesDraftIn,
    SeriesIn,
    SeriesOut,
    SeriesRecordedOut,
)
from coordinator.config import Settings
from coordinator.governance import (
    NOT_APPLIED,
    Action,
    ChangeRefused,
    ControlConflict,
    GovernanceReader,
    ParamChange,
    Pause,
    SqlGovernance,
    TariffSeries,
    change_memo,
    change_text,
    check_change,
    check_control,
    check_series,
    control_memo,
    parse_csv,
    parse_scopes,
    parse_value,
    schedule,
    series_hash,
    series_memo,
    series_text,
)
from coordinator.governance.notes import check_note, note_memo, note_text
from coordinator.readings.oracle import epoch_of
from programs.errors import LedgerError, TransactionFailed
from programs.roles.deployment import user_accounts
from programs.roles.governance import freeze_user, is_frozen, record_memo, thaw_user

__all__ = ["AuditedRoute", "router"]


async def _target(request: Request) -> str:
    if "address" in request.path_params:
        return str(request.path_params["address"])
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return ""
    owner = body.get("owner") if isinstance(body, dict) else None
    return owner if isinstance(owner, str) else ""


def _outcome(exc: Exception) -> tuple[str, dict[str, object]]:
    """How a failed attempt is audited: refused (the caller's) or failed (the world's)."""
    if isinstance(exc, StarletteHTTPException):
        code = exc.detail.get("code") if isinstance(exc.detail, dict) else None
        outcome = audit.REFUSED if exc.status_code < 500 else audit.FAILED
        return outcome, {"status": exc.status_code, "code": code or str(exc.detail)}
    if isinstance(exc, AuthError | ChangeRefused | ControlConflict):
        return audit.REFUSED, {"code": exc.code}
    if isinstance(exc, RequestValidationError):
        return audit.REFUSED, {"code": "invalid_request"}
    return audit.FAILED, {"code": type(exc).__name__}


class AuditedRoute(APIRoute):
    """A route whose refused and failed attempts are audited (actions that succeed
    are audited by the handler, with what they did). GETs only read: not audited."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        action = f"governance.{self.name}"

        async def audited(request: Request) -> Response:
            if request.method == "GET":
                return await handler(request)
            try:
                return await handler(request)
            except Exception as exc:
                principal: Principal | None = getattr(request.state, "principal", None)
                outcome, detail = _outcome(exc)
                event = audit.AuditEvent(
                    "anonymous" if principal is None else principal.subject, action,
                    await _target(request), outcome, detail, request_id(request),
                )  # fmt: skip
                clock: Clock = request.app.state.clock
                await run_in_threadpool(audit.record, request.app.state.engine, event, clock())
                raise

        return audited


router = APIRouter(prefix="/api/v1/governance", tags=["governance"], route_class=AuditedRoute)

Rec = Annotated[Principal, Depends(require_role(REC_AUTHORITY))]
Chain = Annotated[ChainAccess, Depends(require_chain)]
MaybeChain = Annotated[ChainAccess | None, Depends(get_chain)]
Db = Annotated[Engine, Depends(get_engine)]
Now = Annotated[Clock, Depends(get_clock)]
Config = Annotated[Settings, Depends(get_settings)]


def _reader(request: Request) -> GovernanceReader:
    reader: GovernanceReader = request.app.state.governance
    return reader


def _store(request: Request) -> SqlGovernance:
    store = _reader(request).source
    assert isinstance(store, SqlGovernance)
    return store


def _epoch(settings: Settings, now: dt.datetime) -> int:
    return epoch_of(int(now.timestamp()), settings.epoch_length_s)


def _rec_key(chain: ChainAccess) -> Keypair:
    if chain.rec_authority is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail={"code": "rec_key_unavailable",
                    "message": "this coordinator does not hold the REC authority key"},
        )  # fmt: skip
    return chain.rec_authority


def _ledger_refused(what: str, exc: LedgerError) -> HTTPException:
    """A ledger failure as a plain 502: what was not done and why, without program logs."""
    why = exc.error if isinstance(exc, TransactionFailed) else str(exc).splitlines()[0][:200]
    return HTTPException(
        status.HTTP_502_BAD_GATEWAY,
        detail={"code": "ledger_error", "message": f"the ledger did not record the {what}: {why}"},
    )


def _audit_also(
    request: Request, principal: Principal, action: str, target: str, now: dt.datetime,
    **detail: object,
) -> Callable[[Connection], None]:  # fmt: skip
    event = audit.AuditEvent(principal.subject, action, target, audit.OK, detail,
                             request_id(request))  # fmt: skip
    return lambda conn: audit.append(conn, event, now)


# --- emergency controls ------------------------------------------------------------


@router.get("/controls")
async def controls(request: Request) -> ControlsOut:
    """What is paused now, since when, by whom and why (public: the dashboard's banner)."""
    state = await _reader(request).controls()
    return ControlsOut(
        paused=[PauseOut(scope=p.scope.value, since=p.since, since_epoch=p.since_epoch, by=p.by,
                         reason=p.reason)
                for p in sorted(state.pauses.values(), key=lambda p: p.scope.value)],
        maintenance=state.maintenance,
    )  # fmt: skip


async def _control(
    action: Action, body: ControlsIn, request: Request, principal: Principal,
    chain: ChainAccess | None, settings: Settings, now: dt.datetime,
) -> ControlActionOut:  # fmt: skip
    store = _store(request)
    scopes = parse_scopes(body.scopes)
    changed = check_control(await asyncio.to_thread(store.controls), action, scopes)
    epoch = _epoch(settings, now)
    signature, memo_error = None, None
    if chain is None:
        memo_error = "no ledger is configured"
    else:
        try:
            signature = str(await record_memo(
                chain.ledger, control_memo(action, changed, epoch, principal.subject),
                payer=chain.payer, signers=[_rec_key(chain)],
            ))  # fmt: skip
        except LedgerError as exc:
            memo_error = str(exc).splitlines()[0][:200]
    names = sorted(s.value for s in changed)
    also = _audit_also(request, principal, f"governance.{action.value}", ",".join(names), now,
                       scopes=names, reason=body.reason, signature=signature,
                       memo_error=memo_error, epoch=epoch)  # fmt: skip
    if action is Action.PAUSE:
        pauses = [Pause(s, now, epoch, principal.subject, body.reason) for s in changed]
        await asyncio.to_thread(store.pause, pauses, signature or "", also=also)
    else:
        await asyncio.to_thread(store.resume, changed, also=also)
    _reader(request).forget()
    return ControlActionOut(
        action=action.value, scopes=names, signature=signature, memo_error=memo_error
    )


@router.post("/controls/pause")
async def pause(
    body: ControlsIn, request: Request, principal: Rec, chain: MaybeChain, settings: Config,
    clock: Now,
) -> ControlActionOut:  # fmt: skip
    """Pause scopes of the market (409 when every one named is paused already)."""
    return await _control(Action.PAUSE, body, request, principal, chain, settings, clock())


@router.post("/controls/resume")
async def resume(
    body: ControlsIn, request: Request, principal: Rec, chain: MaybeChain, settings: Config,
    clock: Now,
) -> ControlActionOut:  # fmt: skip
    """Resume paused scopes; the work they held back runs once (409 when none is paused)."""
    return await _control(Action.RESUME, body, request, principal, chain, settings, clock())


# --- governed parameters ---------------------------------------------------------------


@router.get("/params")
async def params(
    request: Request,
    _principal: Annotated[Principal, Depends(require_role("user"))],
    settings: Config,
    clock: Now,
) -> ParamsOut:
    """Every governed parameter: the value in force now, then those scheduled."""
    reader = _reader(request)
    epoch = _epoch(settings, clock())
    rows = schedule(reader.defaults, await reader.changes(), epoch)
    seen: set[str] = set()
    values = []
    for row in rows:
        values.append(
            ParamValueOut(
                name=row.name.value,
                value=row.value,
                from_epoch=row.from_epoch,
                authority=row.authority,
                in_force=row.name not in seen,
                applied=row.applied,
            )
        )
        seen.add(row.name)
    return ParamsOut(epoch=epoch, values=values)


@router.post("/params/draft")
async def param_draft(body: ParamDraftIn, principal: Rec, clock: Now) -> DraftOut:
    """The exact text the caller's wallet signs for this change (value in canonical form)."""
    name, value = parse_value(body.name, body.value)
    issued_at = int(clock().timestamp())
    change = ParamChange(name=name, value=value, from_epoch=body.from_epoch,
                         authority=principal.subject, issued_at=issued_at)  # fmt: skip
    return DraftOut(text=change_text(change), issued_at=issued_at)


@router.post("/params")
async def set_param(
    body: ParamChangeIn, request: Request, principal: Rec, chain: Chain, settings: Config,
    clock: Now,
) -> ParamChangeOut:  # fmt: skip
    """Record a parameter change signed by the caller's wallet, from `from_epoch` on."""
    name, _ = parse_value(body.name, body.value)
    now = clock()
    store, reader = _store(request), _reader(request)
    change = check_change(
        ParamChange(name=name, value=body.value, from_epoch=body.from_epoch,
                    authority=principal.subject, issued_at=body.issued_at,
                    signature=body.signature),
        defaults=reader.defaults, changes=await asyncio.to_thread(store.param_changes),
        current_epoch=_epoch(settings, now), now=int(now.timestamp()),
    )  # fmt: skip
    if await asyncio.to_thread(store.has_signature, change.signature):
        raise ChangeRefused("duplicate_change", "this signed change is recorded already")
    try:
        signature = str(await record_memo(chain.ledger, change_memo(change), payer=chain.payer))
    except LedgerError as exc:
        raise _ledger_refused("parameter change", exc) from exc
    note = None
    if change.name in NOT_APPLIED:
        note = (
            "recorded and validated, not applied: the epoch length is fixed per "
            "deployment (GTX_EPOCH_LENGTH_S); changing it at runtime is future work"
        )
    also = _audit_also(request, principal, "governance.set_param", change.name.value, now,
                       value=change.value, from_epoch=change.from_epoch, signature=signature,
                       wallet_signature=change.signature, applied=note is None)  # fmt: skip
    if not await asyncio.to_thread(store.add_param_change, change, signature, now, also=also):
        raise ChangeRefused("duplicate_change", "this signed change is recorded already")
    reader.forget()
    return ParamChangeOut(
        action="governance.set_param",
        signature=signature,
        name=change.name.value,
        value=change.value,
        from_epoch=change.from_epoch,
        applied=note is None,
        note=note,
    )


# --- tariff series ------------------------------------------------------------------------


def _series(
    body: SeriesDraftIn, authority: str, issued_at: int, signature: str = ""
) -> TariffSeries:
    """The series a body describes, as CSV or as name, first epoch and values."""
    if body.csv is not None:
        if body.name is not None or body.from_epoch is not None or body.values is not None:
            raise ChangeRefused("invalid_series", "give either csv, or name, from_epoch, values")
        name, from_epoch, values = parse_csv(body.csv)
    else:
        if body.name is None or body.from_epoch is None or not body.values:
            raise ChangeRefused("invalid_series", "give either csv, or name, from_epoch, values")
        # Through the CSV: one parser checks both forms.
        name, from_epoch, values = parse_csv(
            f"epoch,{body.name}\n" + "\n".join(
                f"{body.from_epoch + i},{v}" for i, v in enumerate(body.values)
            )
        )  # fmt: skip
    return TariffSeries(name=name, from_epoch=from_epoch, values=values, authority=authority,
                        issued_at=issued_at, signature=signature)  # fmt: skip


def _series_out(series: TariffSeries, *, with_values: bool = False) -> SeriesOut:
    return SeriesOut(
        name=series.name.value, from_epoch=series.from_epoch, count=len(series.values),
        sha256=series_hash(series), authority=series.authority,
        values=list(series.values) if with_values else None,
    )  # fmt: skip


@router.get("/series")
async def list_series(
    request: Request,
    _principal: Annotated[Principal, Depends(require_role("user"))],
    with_values: bool = False,
) -> list[SeriesOut]:
    """Every tariff series recorded, oldest first (the latest covering an epoch wins)."""
    return [_series_out(s, with_values=with_values) for s in await _reader(request).series()]


@router.post("/series/draft")
async def series_draft(body: SeriesDraftIn, principal: Rec, clock: Now) -> DraftOut:
    """The exact text the caller's wallet signs for this series (its CSV's hash)."""
    issued_at = int(clock().timestamp())
    return DraftOut(text=series_text(_series(body, principal.subject, issued_at)),
                    issued_at=issued_at)  # fmt: skip


@router.post("/series")
async def record_series(
    body: SeriesIn, request: Request, principal: Rec, chain: Chain, settings: Config,
    clock: Now,
) -> SeriesRecordedOut:  # fmt: skip
    """Record a tariff series signed by the caller's wallet: per-epoch grid retail or
    feed-in prices, or emission factors, for a run of future epochs."""
    now = clock()
    store, reader = _store(request), _reader(request)
    series = check_series(
        _series(body, principal.subject, body.issued_at, body.signature),
        defaults=reader.defaults, changes=await asyncio.to_thread(store.param_changes),
        recorded=await asyncio.to_thread(store.tariff_series),
        current_epoch=_epoch(settings, now), now=int(now.timestamp()),
    )  # fmt: skip
    try:
        signature = str(await record_memo(chain.ledger, series_memo(series), payer=chain.payer))
    except LedgerError as exc:
        raise _ledger_refused("tariff series", exc) from exc
    also = _audit_also(request, principal, "governance.record_series", series.name.value, now,
                       from_epoch=series.from_epoch, count=len(series.values),
                       sha256=series_hash(series), signature=signature,
                       wallet_signature=series.signature)  # fmt: skip
    if not await asyncio.to_thread(store.add_tariff_series, series, signature, now, also=also):
        raise ChangeRefused("duplicate_change", "this signed series is recorded already")
    reader.forget()
    out = _series_out(series)
    return SeriesRecordedOut(**out.model_dump(), action="governance.record_series",
                             signature=signature)  # fmt: skip


# --- notes -------------------------------------------------------------------------------


@router.post("/memo/draft")
async def memo_draft(body: NoteDraftIn, principal: Rec, clock: Now) -> DraftOut:
    """The exact text the caller's wallet signs to record this note."""
    issued_at = int(clock().timestamp())
    return DraftOut(text=note_text(principal.subject, issued_at, body.text), issued_at=issued_at)


@router.post("/memo")
async def memo(
    body: NoteIn, request: Request, principal: Rec, chain: Chain, engine: Db, clock: Now
) -> ChainActionOut:
    """Record a note signed by the caller's wallet as a memo (the platform pays the fee).
    Text that could pass for a system record is refused (`look_alike`)."""
    now = clock()
    text = check_note(principal.subject, body.issued_at, body.text, body.signature,
                      now=int(now.timestamp()))  # fmt: skip
    message = note_memo(principal.subject, body.issued_at, text, body.signature)
    try:
        signature = str(await record_memo(chain.ledger, message, payer=chain.payer))
    except LedgerError as exc:
        raise _ledger_refused("note", exc) from exc
    event = audit.AuditEvent(
        principal.subject,
        "governance.memo",
        "",
        audit.OK,
        {"signature": signature, "text": text},
        request_id(request),
    )
    await run_in_threadpool(audit.record, engine, event, now)
    return ChainActionOut(action="governance.memo", signature=signature)


# --- accounts ------------------------------------------------------------------------------


@router.post("/freeze")
async def freeze(
    body: GovernanceIn, request: Request, principal: Rec, chain: Chain, engine: Db, clock: Now
) -> ChainActionOut:
    """Freeze both of `owner`'s token accounts (not the caller's own)."""
    return await _account_action(True, body, request, principal, chain, engine, clock)


@router.post("/thaw")
async def thaw(
    body: GovernanceIn, request: Request, principal: Rec, chain: Chain, engine: Db, clock: Now
) -> ChainActionOut:
    """Thaw `owner`'s frozen token accounts."""
    return await _account_action(False, body, request, principal, chain, engine, clock)


async def _account_action(
    freezing: bool, body: GovernanceIn, request: Request, principal: Principal,
    chain: ChainAccess, engine: Engine, clock: Clock,
) -> ChainActionOut:  # fmt: skip
    check_address(body.owner)
    what = "freeze" if freezing else "thaw"
    if freezing and body.owner == principal.subject:
        raise ChangeRefused("self_freeze", "the REC authority cannot freeze its own wallet")
    owner = Pubkey.from_string(body.owner)
    accounts = user_accounts(chain.deployment, owner)
    states = [await is_frozen(chain.ledger, a) for a in (accounts.energy, accounts.payment)]
    if None in states:
        raise ChangeRefused("unknown_account", f"{body.owner} has no token accounts to {what}")
    if all(s is freezing for s in states):
        code, word = ("already_frozen", "already") if freezing else ("not_frozen", "not")
        raise ChangeRefused(code, f"{body.owner}'s token accounts are {word} frozen")
    act = freeze_user if freezing else thaw_user
    try:
        signature: Signature = await act(chain.ledger, chain.deployment, payer=chain.payer,
                                         rec_authority=_rec_key(chain), owner=owner)  # fmt: skip
    except LedgerError as exc:
        raise _ledger_refused(what, exc) from exc
    event = audit.AuditEvent(principal.subject, f"governance.{what}", body.owner, audit.OK,
                             {"signature": str(signature), "reason": body.reason},
                             request_id(request))  # fmt: skip
    await run_in_threadpool(audit.record, engine, event, clock())
    return ChainActionOut(action=f"governance.{what}", signature=str(signature))


# --- REC authorities -------------------------------------------------------------------------


@router.put("/authorities/{address}")
async def grant_authority(
    address: str, request: Request, principal: Rec, engine: Db, clock: Now
) -> list[str]:
    """Make a signed-in user a REC authority; their sessions end (sign in again)."""
    check_address(address)
    return await change_roles(request, engine, principal, address,
                              lambda roles: roles | {REC_AUTHORITY}, clock(),
                              "governance.grant_authority")  # fmt: skip


@router.delete("/authorities/{address}")
async def remove_authority(
    address: str, request: Request, principal: Rec, engine: Db, clock: Now
) -> list[str]:
    """Remove a REC authority (never one's own role, never the last authority)."""
    check_address(address)
    return await change_roles(request, engine, principal, address,
                              lambda roles: roles - {REC_AUTHORITY}, clock(),
                              "governance.remove_authority")  # fmt: skip


@router.get("/actions")
def actions(
    _principal: Annotated[Principal, Depends(require_any_role(ADMIN, REC_AUTHORITY))],
    engine: Db,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[AuditOut]:
    """Governance actions from the audit log (refused ones included), newest first."""
    before = decode_cursor(cursor, [int])
    rows = audit.list_entries(engine, limit=limit, action_prefix="governance.",
                              before_id=None if before is None else int(before[0]))  # fmt: skip
    return Page(
        items=[AuditOut(id=r.id, at=r.at, actor=r.actor, action=r.action, target=r.target,
                        outcome=r.outcome, detail=r.detail, request_id=r.request_id)
               for r in rows],
        next_cursor=encode_cursor([rows[-1].id]) if len(rows) == limit else None,
    )  # fmt: skip
