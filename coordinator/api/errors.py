"""Refusals as HTTP: every error body is {"detail": {"code": ..., "message": ...}}.

Validation failures add `errors` (pydantic's list, with `loc` saying where);
unexpected failures answer 500 `internal` with the request id to quote, and
are logged with their traceback.
"""

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator.api.auth import errors as auth
from coordinator.api.reasons import describe
from coordinator.devices import enrolment as rules
from coordinator.errors import BrokerError
from coordinator.governance.errors import ChangeRefused, ControlConflict
from coordinator.market.errors import (
    ApprovalRejected,
    MarketPaused,
    OrderError,
    OrderNotFound,
    OrderStateError,
)
from programs.errors import LedgerError

__all__ = [
    "AUTH_STATUS_OF",
    "GOVERNANCE_STATUS_OF",
    "STATUS_OF",
    "error_body",
    "install_error_handlers",
]

log = logging.getLogger(__name__)

STATUS_OF = {
    rules.TOKEN_UNKNOWN: 401,
    rules.BAD_PROOF: 401,
    rules.STALE_REQUEST: 401,
    rules.OWNER_MISMATCH: 403,
    rules.REVOKED_GATEWAY: 403,
    rules.UNKNOWN_GATEWAY: 404,
    rules.TOKEN_USED: 409,
    rules.ROTATION_DISABLED: 409,
    rules.TOKEN_EXPIRED: 410,
    rules.INVALID_WALLET: 422,
}

AUTH_STATUS_OF = {
    auth.MALFORMED_MESSAGE: 400,
    auth.INVALID_WALLET: 422,
    auth.SELF_ROLE_CHANGE: 403,
    auth.DUTY_ADMIN: 403,
    auth.DUTY_REC_AUTHORITY: 403,
    auth.LAST_REC_AUTHORITY: 409,
}

# Governance refusals that are not 422 (the caller's duty, or the state of things).
GOVERNANCE_STATUS_OF = {
    "self_freeze": 403,
    "already_frozen": 409,
    "not_frozen": 409,
    "duplicate_change": 409,
    "unknown_account": 404,
}

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
}


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"detail": {"code": code, "message": message}}


def _rid(request: Request) -> str:
    rid: str = request.scope.get("state", {}).get("request_id", "")
    return rid


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, rules.EnrolmentError)
    return JSONResponse(error_body(exc.code, exc.detail), status_code=STATUS_OF.get(exc.code, 400))


async def _auth_refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, auth.AuthError)
    return JSONResponse(
        error_body(exc.code, exc.detail), status_code=AUTH_STATUS_OF.get(exc.code, 401)
    )


async def _broker_down(_request: Request, exc: Exception) -> JSONResponse:
    # The database change is committed; re-running the request (or the
    # coordinator's next start) pushes the credentials again.
    return JSONResponse(
        error_body("broker_unavailable", f"broker credentials not updated, retry: {exc}"),
        status_code=503,
    )


async def _ledger_failed(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(error_body("ledger_error", str(exc)), status_code=502)


async def _governance_refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ChangeRefused | ControlConflict)
    status = 409 if isinstance(exc, ControlConflict) else GOVERNANCE_STATUS_OF.get(exc.code, 422)
    return JSONResponse(error_body(exc.code, exc.detail), status_code=status)


async def _order_refused(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, MarketPaused):
        return JSONResponse(
            error_body("market_paused", str(exc)), status_code=503, headers={"Retry-After": "60"}
        )
    if isinstance(exc, OrderError):
        body: dict[str, dict[str, str]] = error_body(exc.code, exc.detail)
        # The reason in words beside the code, as the dashboard shows it.
        words = describe(exc.code)
        if words is not None and words != exc.code:
            body["detail"]["reason_text"] = words
        return JSONResponse(body, status_code=422)
    if isinstance(exc, OrderNotFound):
        return JSONResponse(error_body("unknown_order", str(exc)), status_code=404)
    if isinstance(exc, OrderStateError):
        return JSONResponse(error_body("order_state", str(exc)), status_code=409)
    return JSONResponse(error_body("approval_rejected", str(exc)), status_code=422)


async def _invalid(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    summary = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in problems[:5])
    body = {"detail": {"code": "invalid_request", "message": summary, "errors": problems}}
    return JSONResponse(body, status_code=422)


async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    # The database refused a value the request carried (a NUL character in a
    # text field, a number out of the column's range): the caller's mistake.
    assert isinstance(exc, DataError)
    log.warning("value refused by the database (rid=%s): %s", _rid(request), exc.orig)
    return JSONResponse(
        error_body("invalid_value", "a value in the request cannot be stored or compared"),
        status_code=422,
    )


async def _http(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc.detail, dict) and "code" in exc.detail:
        detail = exc.detail
    else:
        code = _HTTP_CODES.get(exc.status_code, "error")
        detail = {"code": code, "message": str(exc.detail)}
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


async def _internal(request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error (rid=%s)", _rid(request), exc_info=exc)
    return JSONResponse(
        error_body("internal", f"internal error; quote request id {_rid(request)}"),
        status_code=500,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(rules.EnrolmentError, _refused)
    app.add_exception_handler(auth.AuthError, _auth_refused)
    app.add_exception_handler(BrokerError, _broker_down)
    app.add_exception_handler(LedgerError, _ledger_failed)
    for market_error in (OrderError, OrderNotFound, OrderStateError, ApprovalRejected,
                         MarketPaused):  # fmt: skip
        app.add_exception_handler(market_error, _order_refused)
    for governance_error in (ChangeRefused, ControlConflict):
        app.add_exception_handler(governance_error, _governance_refused)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(StarletteHTTPException, _http)
    app.add_exception_handler(Exception, _internal)
