"""Refusals as HTTP: every error body is {"detail": {"code": ..., "message": ...}}."""

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from coordinator import enrolment as rules
from coordinator.errors import BrokerError

__all__ = ["STATUS_OF", "install_error_handlers"]

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


def _body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"detail": {"code": code, "message": message}}


async def _refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, rules.EnrolmentError)
    return JSONResponse(_body(exc.code, exc.detail), status_code=STATUS_OF.get(exc.code, 400))


async def _broker_down(_request: Request, exc: Exception) -> JSONResponse:
    # The database change is committed; re-running the request (or the
    # coordinator's next start) pushes the credentials again.
    return JSONResponse(
        _body("broker_unavailable", f"broker credentials not updated, retry: {exc}"),
        status_code=503,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(rules.EnrolmentError, _refused)
    app.add_exception_handler(BrokerError, _broker_down)
