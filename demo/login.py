"""Sign in as one of the demo's simulated users: development only.

The demo's prosumers and consumers trade with wallet keys the demo holds
(`workdir/wallets/`), so a person who wants to see the dashboard with data can
*be* one of them: `GET /api/v1/demo/users` lists them, `POST
/api/v1/demo/login {wallet}` answers a session for one (the same JWT and
HttpOnly cookie as a wallet sign-in), and `POST /api/v1/demo/approval` signs,
with that user's demo key, the escrow Approve their orders need (a real
wallet would sign it in the browser). While someone drives a simulated user
from the dashboard the simulation stops placing that user's orders, until
`DELETE /api/v1/demo/login` hands the user back.

The `operator` user holds the admin and REC-authority roles: that is how to
be admin in the demo (or with the admin token the demo writes to its folder,
or by listing your own wallet in GTX_ADMIN_WALLETS before starting it).

Nothing here exists outside `gridtokenx demo`: only the demo mounts the router,
and it refuses to (and each route answers 404) unless the API runs in the
development environment. See docs/operations.md.
"""

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from pydantic import BaseModel, Field
from solders.keypair import Keypair
from solders.transaction import Transaction
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from coordinator.api import audit, users
from coordinator.api.auth.config import AuthSettings
from coordinator.api.auth.roles import roles_at_login
from coordinator.api.auth.tokens import encode_token
from coordinator.api.deps import (
    SESSION_COOKIE,
    USER,
    Clock,
    Principal,
    get_auth_settings,
    get_clock,
    get_engine,
    request_id,
    require_role,
)
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.schemas import SessionOut
from coordinator.errors import ConfigError
from coordinator.market import MarketContext, approval_for, submit_approval
from programs.roles.registry import register_user

__all__ = [
    "ABOUT",
    "BECOME_ADMIN",
    "OPERATOR",
    "DemoSignIn",
    "DemoUser",
]

OPERATOR = "operator"
ABOUT = (
    "Demo sign-in: you act as one of the campus's simulated prosumers (PV and load) or "
    "consumers, whose wallet keys the demo holds; their meters, energy tokens, credits, "
    "orders and trades are real in this demo. While you drive a user the simulation stops "
    "placing that user's orders. Development only: a production coordinator has no such "
    "sign-in."
)
BECOME_ADMIN = (
    'To be admin (and REC authority), sign in as "operator"; for the API, send the token '
    "the demo wrote to its folder (admin-token) as `Authorization: Bearer <token>`; or put "
    "your own wallet in GTX_ADMIN_WALLETS before starting the demo."
)


@dataclass(frozen=True, slots=True)
class DemoUser:
    """A simulated user: `name` is the meter id (or "operator"), `kind` prosumer,
    consumer or operator, `description` one line for the picker."""

    name: str
    kind: str
    keypair: Keypair
    description: str

    @property
    def wallet(self) -> str:
        return str(self.keypair.pubkey())


class DemoLoginIn(BaseModel):
    wallet: str = Field(
        min_length=32, max_length=44, description="wallet of a user from GET /demo/users"
    )


class DemoUserOut(BaseModel):
    wallet: str
    name: str = Field(description="the user's meter id, or operator")
    kind: str = Field(description="prosumer, consumer or operator")
    roles: list[str]
    description: str
    by_hand: bool = Field(description="someone drives this user from the dashboard now")


class DemoUsersOut(BaseModel):
    about: str = Field(description="what the demo sign-in is, for the sign-in page")
    become_admin: str = Field(description="how to be admin in the demo")
    users: list[DemoUserOut]


class DemoOrderOut(BaseModel):
    order_id: str
    status: str


class DemoApprovalOut(BaseModel):
    orders: list[DemoOrderOut] = Field(description="the user's live orders after the approval")


class DemoSignIn:
    """The demo's users, their sign-in routes, and who is driven by hand."""

    def __init__(
        self,
        users: Sequence[DemoUser],
        chain: ChainAccess,
        market: Callable[[], MarketContext],
        *,
        on_change: Callable[[DemoUser, bool], None] | None = None,
    ) -> None:
        self._users = {u.wallet: u for u in users}
        self._chain = chain
        self._market = market
        self._on_change = on_change
        self.by_hand: set[str] = set()

    @property
    def users(self) -> list[DemoUser]:
        return list(self._users.values())

    def install(self, app: FastAPI) -> None:
        """Mount the routes on `app`; refused unless its API runs in development."""
        auth: AuthSettings = app.state.auth_settings
        if auth.environment != "development":
            raise ConfigError(
                "the demo sign-in is for development only (GTX_ENVIRONMENT is "
                f"{auth.environment}); unset GTX_ENVIRONMENT to run the demo"
            )
        app.include_router(self._router())

    def _roles(self, settings: AuthSettings, wallet: str) -> list[str]:
        admins, recs = settings.wallets("admin"), settings.wallets("rec_authority")
        return sorted(roles_at_login(wallet, "", admins, recs))

    def _out(self, settings: AuthSettings, user: DemoUser) -> DemoUserOut:
        return DemoUserOut(
            wallet=user.wallet,
            name=user.name,
            kind=user.kind,
            roles=self._roles(settings, user.wallet),
            description=user.description,
            by_hand=user.wallet in self.by_hand,
        )

    def _hand(self, user: DemoUser, by_hand: bool) -> None:
        if (user.wallet in self.by_hand) == by_hand or user.kind == OPERATOR:
            return
        (self.by_hand.add if by_hand else self.by_hand.discard)(user.wallet)
        if self._on_change is not None:
            self._on_change(user, by_hand)

    def _router(self) -> APIRouter:
        router = APIRouter(prefix="/api/v1/demo", tags=["demo"])
        settings_dep = Annotated[AuthSettings, Depends(get_auth_settings)]

        def development(settings: settings_dep) -> None:
            if settings.environment != "development":
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail="Not Found")

        me_dep = Annotated[Principal, Depends(require_role(USER))]

        def simulated(principal: Principal) -> DemoUser:
            user = self._users.get(principal.subject)
            if user is None:
                raise HTTPException(
                    status.HTTP_403_FORBIDDEN,
                    detail={"code": "not_a_demo_user",
                            "message": "the demo signs only for its simulated users; "
                                       "sign with your wallet"},
                )  # fmt: skip
            return user

        @router.get("/users", dependencies=[Depends(development)])
        def demo_users(settings: settings_dep) -> DemoUsersOut:
            """The simulated users one can sign in as, with what the sign-in is."""
            return DemoUsersOut(
                about=ABOUT,
                become_admin=BECOME_ADMIN,
                users=[self._out(settings, u) for u in self._users.values()],
            )

        @router.post("/login", dependencies=[Depends(development)])
        async def demo_login(
            body: DemoLoginIn,
            request: Request,
            response: Response,
            engine: Annotated[Engine, Depends(get_engine)],
            settings: settings_dep,
            clock: Annotated[Clock, Depends(get_clock)],
        ) -> SessionOut:
            """A session for one simulated user (no signature: the demo holds the key)."""
            user = self._users.get(body.wallet)
            if user is None:
                raise HTTPException(
                    status.HTTP_404_NOT_FOUND,
                    detail={"code": "unknown_demo_user",
                            "message": "no simulated user has that wallet (GET /demo/users)"},
                )  # fmt: skip
            now = clock()
            event = audit.AuditEvent(
                user.wallet, "auth.demo_login", user.wallet, audit.OK,
                {"name": user.name}, request_id(request),
            )  # fmt: skip
            record = await run_in_threadpool(users.sign_in, engine, user.wallet, now, event)
            if record.energy_account is None:
                accounts = await register_user(
                    self._chain.ledger, self._chain.deployment,
                    payer=self._chain.payer, owner=user.keypair.pubkey(),
                )  # fmt: skip
                await run_in_threadpool(
                    users.set_accounts, engine, user.wallet, str(accounts.energy),
                    str(accounts.payment),
                )  # fmt: skip
            roles = self._roles(settings, user.wallet)
            key: bytes = request.app.state.jwt_key
            token = encode_token(key, user.wallet, frozenset(roles), int(now.timestamp()),
                                 settings.jwt_ttl_s)  # fmt: skip
            response.set_cookie(
                SESSION_COOKIE, token, max_age=settings.jwt_ttl_s, httponly=True,
                secure=settings.cookie_secure, samesite="strict", path="/",
            )  # fmt: skip
            self._hand(user, True)
            return SessionOut(
                token=token,
                address=user.wallet,
                roles=roles,
                expires_at=now + dt.timedelta(seconds=settings.jwt_ttl_s),
                first_login=record.first_time,
                accounts_pending=False,
            )

        @router.delete("/login", status_code=204, dependencies=[Depends(development)])
        def demo_release(principal: me_dep) -> None:
            """Hand the signed-in simulated user back to the simulation (it trades again)."""
            self._hand(simulated(principal), False)

        @router.post("/approval", dependencies=[Depends(development)])
        async def demo_approval(principal: me_dep) -> DemoApprovalOut:
            """Sign, with the simulated user's demo key, the Approve covering their live
            orders, and send it: what a wallet does after `POST /orders`."""
            user = simulated(principal)
            ctx = self._market()
            approval = await approval_for(ctx, user.wallet)
            tx = Transaction.from_bytes(approval.tx)
            tx.partial_sign([user.keypair], tx.message.recent_blockhash)
            live = await submit_approval(ctx, user.wallet, bytes(tx))
            return DemoApprovalOut(
                orders=[DemoOrderOut(order_id=o.order_id, status=str(o.status)) for o in live]
            )

        return router
