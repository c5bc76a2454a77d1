"""The whole system in one process on a simulated campus (`gridtokenx demo`).

Servers configured in the environment (GTX_DATABASE_URL, GTX_MQTT_HOST,
GTX_REDIS_URL) are used when they answer; anything else runs embedded: SQLite
through the same models, an in-process MQTT broker, no cache. The ledger is
the embedded SVM. Gateways poll simulated Modbus meters and publish signed
readings; the coordinator ingests them, closes short epochs, mints energy
tokens and clears the market; simulated users trade with their own keys.
"""

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import uvicorn
from fastapi import FastAPI
from psycopg import sql
from pydantic import SecretStr, ValidationError
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.token.state import TokenAccountState
from sqlalchemy import make_url, select
from sqlalchemy.engine import Engine

from coordinator.api.auth.config import AuthSettings
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.main import create_app
from coordinator.config import Settings, invalid_settings
from coordinator.db.migrate import upgrade
from coordinator.db.models import MeterStateRow, User
from coordinator.db.session import database_errors, make_engine
from coordinator.devices.registry import register_device, register_meter
from coordinator.embedded import (
    EmbeddedBroker,
    ServicePlan,
    detect_services,
    service_config_from_env,
)
from coordinator.errors import ConfigError
from coordinator.governance import GovernedParams, defaults_from
from coordinator.market.errors import MarketError
from coordinator.onchain.ledger import Chain, market_context
from coordinator.onchain.worker import governance_reader
from coordinator.runner import run_ingest
from demo.campus import MeterPlan, campus_plan
from demo.login import OPERATOR, DemoSignIn, DemoUser
from demo.progress import Progress
from demo.reconcile import Reconciliation, reconcile
from demo.traders import Trader, plan_orders
from device_sim.clock import SimClock
from device_sim.meter import SimulatedMeter
from device_sim.server import ModbusSimServer
from edge.agent import GatewayAgent, Publisher
from edge.config import BrokerConfig, GatewayConfig, MeterConfig
from edge.meter_reader import ModbusMeterReader
from edge.outbox import Outbox
from edge.publisher import MqttPublisher
from edge.signing import DeviceKey
from programs.errors import TransactionFailed
from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.jsonrpc import listen as listen_json_rpc
from programs.ledger.jsonrpc import serve as serve_json_rpc
from programs.roles.registry import register_user
from programs.roles.token import mint_payment

__all__ = ["DemoOptions", "Finished", "run_demo"]

CREDIT = 1_000_000  # payment-token base units (6 decimals)
STARTING_CREDIT = 50 * CREDIT


@dataclass(frozen=True, slots=True)
class DemoOptions:
    workdir: Path
    gateways: int = 3
    meters_per_gateway: int = 10
    epoch_s: int = 20
    poll_s: int = 4
    api_port: int = 8080
    seed: int = 7
    epochs: int = 0  # stop (and reconcile) after this many epochs are minted; 0 = run on
    rpc: tuple[str, int] | None = None  # serve the ledger's JSON-RPC on (host, port)
    rpc_allow_send: bool = False
    rpc_allow_airdrop: bool = False


class Finished(Exception):  # noqa: N818 - a signal, not an error
    """Raised to end the demo after its epochs; carries the reconciliation."""

    def __init__(self, result: Reconciliation) -> None:
        super().__init__("demo finished")
        self.result = result


def _ensure_postgres_database(database_url: str) -> None:
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql" or not url.database:
        return
    admin = url.set(drivername="postgresql", database="postgres")
    with psycopg.connect(
        admin.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
    ) as conn:
        if not conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (url.database,)
        ).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))


def _meter(plan: MeterPlan, counters: tuple[int, int] = (0, 0)) -> SimulatedMeter:
    imp, exp = counters
    if plan.kind == "prosumer":
        return SimulatedMeter.prosumer(
            pv_kwp=plan.pv_kwp, load=plan.load, peak_load_w=plan.peak_load_w, seed=plan.seed,
            import_wh=imp, export_wh=exp,
        )  # fmt: skip
    return SimulatedMeter.consumer(
        load=plan.load, peak_load_w=plan.peak_load_w, seed=plan.seed, import_wh=imp
    )


def _last_counters(engine: Engine) -> dict[tuple[str, str], tuple[int, int]]:
    """Each meter's last accepted counters: a restarted demo's meters go on from
    there, as real meters would, instead of starting again at zero."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                MeterStateRow.gateway_id,
                MeterStateRow.meter_id,
                MeterStateRow.import_wh,
                MeterStateRow.export_wh,
            )
        ).all()
    return {(gw, m): (imp, exp) for gw, m, imp, exp in rows}


def _user_key(workdir: Path, name: str) -> Keypair:
    """A simulated user's wallet key, kept in the demo's own folder."""
    path = workdir / "wallets" / f"{name}.json"
    if path.exists():
        return Keypair.from_bytes(bytes.fromhex(path.read_text()))
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Keypair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(bytes(key).hex())
    return key


def _midday_clock() -> SimClock:
    # The simulated sun stands at 10:00 UTC when the demo starts, so PV exports
    # from the first epoch; time runs at wall speed, so energy is physical.
    now = int(time.time())
    return SimClock(start_s=now - now % 86_400 + 10 * 3600, accel=1.0)


def _leaves(group: BaseExceptionGroup[BaseException], kind: type[Finished]) -> list[Finished]:
    """The `kind` exceptions anywhere in a (nested) exception group."""
    found: list[Finished] = []
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found.extend(_leaves(exc, kind))
        elif isinstance(exc, kind):
            found.append(exc)
    return found


API_HOST = "127.0.0.1"


@contextlib.contextmanager
def _api_socket(port: int) -> Iterator[socket.socket]:
    """The dashboard's listening socket, bound before anything starts: a busy port is
    one clear error, and with port 0 the demo knows (and prints) the port it got."""
    try:
        sock = socket.create_server((API_HOST, port))
    except OSError as exc:
        raise ConfigError(
            f"cannot serve the dashboard on {API_HOST}:{port}: {_reason(exc)} "
            "(choose another port with --api-port, 0 for any free one)"
        ) from None
    with sock:
        yield sock


def _reason(exc: OSError) -> str:
    """The OS's words for `exc` ("Address already in use"), without the address again."""
    return os.strerror(exc.errno) if exc.errno else str(exc)


class _ApiServer(uvicorn.Server):
    """uvicorn without signal handlers of its own: the demo's handlers stop the
    whole demo, the API with the rest (uvicorn's would stop only the API)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def _serve_api(app: object, sock: socket.socket) -> None:
    port = sock.getsockname()[1]
    server = _ApiServer(
        # A request still in flight when the demo ends (a dashboard's event stream)
        # is cut after 5 s: uvicorn would otherwise wait for it without end.
        uvicorn.Config(app, host=API_HOST, port=port, log_level="warning", lifespan="on",  # type: ignore[arg-type]
                       timeout_graceful_shutdown=5)
    )  # fmt: skip
    serving = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
    try:
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        # Let uvicorn run its own shutdown (lifespan, open connections).
        server.should_exit = True
        await serving
        raise


@contextlib.contextmanager
def _rpc_sockets(options: DemoOptions) -> Iterator[list[socket.socket]]:
    """With --rpc, the JSON-RPC's listening sockets (websocket on the same port and the
    next one up, as a validator's), bound before anything starts, as the dashboard's."""
    if options.rpc is None:
        yield []
        return
    host, port = options.rpc
    try:
        sockets = listen_json_rpc(host, port, port + 1 if port else None)
    except OSError as exc:
        also = f" and {port + 1}" if port else ""
        raise ConfigError(
            f"cannot serve the JSON-RPC on {host}:{port}{also}: {_reason(exc)} "
            "(choose another address with --rpc, port 0 for any free one)"
        ) from None
    with contextlib.ExitStack() as stack:
        for sock in sockets:
            stack.enter_context(sock)
        yield sockets


async def _serve_rpc(chain: Chain, options: DemoOptions, sockets: list[socket.socket]) -> None:
    """The demo's ledger as a Solana JSON-RPC endpoint, on `_rpc_sockets`."""
    assert options.rpc is not None
    ledger = chain.ledger
    assert isinstance(ledger, EmbeddedLedger)  # the demo's ledger is always embedded
    host, port = options.rpc

    def ready(rpc_port: int, pubsub_port: int | None) -> None:
        mode = "sendTransaction accepted" if options.rpc_allow_send else "read-only"
        also = "" if pubsub_port is None else f" and :{pubsub_port}"
        print(
            f"Solana JSON-RPC: http://{host}:{rpc_port}  (websocket there{also}; {mode})",
            flush=True,
        )

    await serve_json_rpc(
        ledger,
        host,
        port,
        pubsub_port=port + 1 if port else None,
        allow_send=options.rpc_allow_send,
        allow_airdrop=options.rpc_allow_airdrop,
        on_ready=ready,
        handle_signals=False,  # the demo's handlers stop it with everything else
        sockets=sockets,
    )


def _credits_file(workdir: Path) -> Path:
    return workdir / "credits-issued.json"


def credits_issued(workdir: Path) -> dict[str, int]:
    """Campus credit issued to each simulated user so far (for reconciliation)."""
    path = _credits_file(workdir)
    return {k: int(v) for k, v in json.loads(path.read_text()).items()} if path.exists() else {}


def _record_credit(workdir: Path, grants: list[tuple[Pubkey, int]]) -> None:
    issued = credits_issued(workdir)
    for owner, units in grants:
        issued[str(owner)] = issued.get(str(owner), 0) + units
    _credits_file(workdir).write_text(json.dumps(issued, sort_keys=True))


async def _fund(chain: Chain, traders: list[Trader], workdir: Path) -> None:
    """Token accounts for every user; campus credit for the buyers that are low."""
    keys = chain.keys
    grants = []
    for trader in traders:
        owner = Pubkey.from_string(trader.wallet)
        accounts = await register_user(
            chain.ledger, chain.deployment, payer=keys.payer, owner=owner
        )
        payment = await chain.ledger.get_token_account(accounts.payment)
        if payment is not None and payment.state == TokenAccountState.Frozen:
            continue  # nothing can be minted to it (and it would fail the others' too)
        if not trader.seller and await chain.ledger.token_balance(accounts.payment) < CREDIT:
            grants.append((owner, STARTING_CREDIT))
    if grants:
        await mint_payment(
            chain.ledger, chain.deployment, payer=keys.payer, rec_authority=keys.rec_authority,
            grants=grants,
        )  # fmt: skip
        _record_credit(workdir, grants)


def _newcomers(engine: Engine, known: set[str]) -> list[str]:
    """Wallets that signed in on the dashboard with token accounts made, and are
    neither simulated users nor credited yet."""
    with engine.connect() as conn:
        rows = conn.execute(select(User.address).where(User.energy_account.is_not(None))).all()
    return sorted(address for (address,) in rows if address not in known)


async def _welcome(
    chain: Chain, engine: Engine, known: set[str], workdir: Path, progress: Progress
) -> None:
    """Campus credit for whoever signed in with a wallet of their own (the dashboard's
    development key, say): they can buy from the first epoch on."""
    fresh = await asyncio.to_thread(_newcomers, engine, known | set(credits_issued(workdir)))
    if not fresh:
        return
    grants = [(Pubkey.from_string(w), STARTING_CREDIT) for w in fresh]
    keys = chain.keys
    await mint_payment(
        chain.ledger, chain.deployment, payer=keys.payer, rec_authority=keys.rec_authority,
        grants=grants,
    )  # fmt: skip
    _record_credit(workdir, grants)
    for wallet in fresh:
        progress.say(
            f"welcome: {STARTING_CREDIT // CREDIT} credits to {wallet[:8]}..., who signed in "
            "on the dashboard, to buy energy with"
        )


async def _trade(
    chain: Chain, engine: Engine, traders: list[Trader], events: "asyncio.Queue[tuple[str, int]]",
    progress: Progress, options: DemoOptions, by_hand: set[str], known: set[str],
    defaults: GovernedParams,
) -> None:  # fmt: skip
    """After each gate closure, every simulated user not driven from the dashboard
    (`by_hand`) places orders for the next epoch."""
    ctx = market_context(chain, engine, defaults)
    await _fund(chain, traders, options.workdir)
    while True:
        kind, epoch = await events.get()
        if kind != "cleared":
            continue
        await _welcome(chain, engine, known, options.workdir, progress)
        delivery = epoch + 1
        auto = [t for t in traders if t.wallet not in by_hand]
        balances = [await t.balance(ctx) for t in auto]
        by_wallet = {t.wallet: t for t in auto}
        placed = 0
        for intent in plan_orders(balances, options.seed + delivery):
            try:
                await by_wallet[intent.wallet].place(ctx, intent, delivery, open_epoch=delivery)
                placed += 1
            except (MarketError, TransactionFailed) as exc:
                # A user refused (e.g. their accounts frozen): the others trade on.
                progress.say(f"  order refused for {intent.wallet[:8]}...: {exc}")
        progress.say(f"users placed {placed} orders for {progress.epoch(delivery)}")


async def _gateway(
    options: DemoOptions, index: int, meters: list[MeterPlan], sim_port: int, broker: BrokerConfig,
    key: DeviceKey,
) -> None:  # fmt: skip
    folder = options.workdir / f"gateway-{index + 1}"
    config = GatewayConfig(
        key_file=folder / "device.pem",
        state_file=folder / "state.sqlite",
        broker=broker,
        meters=tuple(
            MeterConfig(m.meter_id, "127.0.0.1", sim_port, m.unit_id, "sdm630", 250_000)
            for m in meters
        ),
        poll_interval_s=options.poll_s,
        health_interval_s=10.0,
        shutdown_flush_s=2.0,
    )

    @contextlib.asynccontextmanager
    async def connect() -> AsyncIterator[Publisher]:
        async with MqttPublisher(broker, key.gateway_id) as publisher:
            yield publisher

    outbox = Outbox(config.state_file)
    try:
        async with ModbusMeterReader() as reader:
            agent = GatewayAgent(
                config=config, key=key, reader=reader, outbox=outbox, connect=connect
            )
            await agent.run()
    finally:
        outbox.close()


async def _set_up_campus(
    stack: contextlib.AsyncExitStack, options: DemoOptions, engine: Engine, meters: list[MeterPlan]
) -> tuple[dict[str, Trader], list[DeviceKey], list[ModbusSimServer]]:
    """Users' wallets, gateway keys, registrations, and the meters' Modbus servers."""
    workdir = options.workdir
    traders = {
        m.meter_id: Trader(_user_key(workdir, m.meter_id), seller=m.kind == "prosumer")
        for m in meters
    }
    keys: list[DeviceKey] = []
    for g in range(options.gateways):
        key_file = workdir / f"gateway-{g + 1}" / "device.pem"
        if not key_file.exists():
            DeviceKey.generate().save(key_file)
        key = DeviceKey.load(key_file)
        keys.append(key)
        register_device(engine, key.gateway_id)
    clock = _midday_clock()
    last = _last_counters(engine)
    sims = []
    for g in range(options.gateways):
        mine = [m for m in meters if m.gateway == g]
        sim_meters = {
            m.unit_id: _meter(m, last.get((keys[g].gateway_id, m.meter_id), (0, 0))) for m in mine
        }
        for m in mine:
            sim_meter = sim_meters[m.unit_id]
            register_meter(
                engine, keys[g].gateway_id, m.meter_id, model="sdm630",
                rated_power_w=max(sim_meter.rated_power_w, 1_000) * 2,
                owner=traders[m.meter_id].wallet,
            )  # fmt: skip
        server = ModbusSimServer(sim_meters, clock=clock)
        sims.append(await stack.enter_async_context(server))

    return traders, keys, sims


async def _broker(
    stack: contextlib.AsyncExitStack, plan: ServicePlan
) -> tuple[str, int, str, bool]:
    """(host, port, MQTT protocol, shared subscription) of the broker to use,
    starting the in-process one (MQTT 3.1.1, no shared subscriptions) if needed."""
    if plan.broker.kind == "embedded":
        embedded = await stack.enter_async_context(EmbeddedBroker(session_expiry_s=24 * 3600))
        return embedded.host, embedded.port, "3.1.1", False
    assert plan.broker.address is not None
    host, _, port = plan.broker.address.rpartition(":")
    return host, int(port), "5", False  # one instance: a plain, persisted subscription


def _settings(
    options: DemoOptions, database_url: str, mqtt: tuple[str, int, str, bool], plan: ServicePlan
) -> Settings:
    mqtt_host, mqtt_port, protocol, shared = mqtt
    # An admin token of the demo's own, unless the environment brings one.
    given = os.environ.get("GTX_ADMIN_TOKEN")
    admin_token = SecretStr(given) if given else _admin_token(options)
    try:
        return Settings(
            database_url=database_url,
            mqtt_host=mqtt_host,
            mqtt_port=mqtt_port,
            mqtt_protocol=protocol,  # type: ignore[arg-type]
            mqtt_shared=shared,
            # Environment first, so a demo can share real servers with other runs.
            mqtt_client_id=os.environ.get("GTX_MQTT_CLIENT_ID", "gtx-demo-coordinator"),
            topic_root=os.environ.get("GTX_TOPIC_ROOT", "gtx"),
            redis_url=(plan.cache.address or "") if plan.cache.kind == "server" else "",
            epoch_length_s=options.epoch_s,
            epoch_grace_s=GRACE_S,
            epoch_check_interval_s=1.0,
            chain_check_interval_s=1.0,
            ledger="embedded",
            key_dir=options.workdir / "coordinator-keys",
            log_json=False,
            admin_token=admin_token,
        )
    except ValidationError as exc:
        raise invalid_settings(exc) from None


GRACE_S = 3


def _admin_token_file(options: DemoOptions) -> Path:
    return options.workdir / "admin-token"


def _admin_token(options: DemoOptions) -> SecretStr:
    """The demo's admin API token, made once and kept (mode 0600) in its folder."""
    path = _admin_token_file(options)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
    return SecretStr(path.read_text().strip())


def _auth_settings(operator: str) -> AuthSettings:
    """The environment's sign-in settings, with the demo's operator as admin and REC
    authority beside any wallets GTX_ADMIN_WALLETS / GTX_REC_AUTHORITY_WALLETS list."""
    try:
        auth = AuthSettings()
    except ValidationError as exc:
        raise invalid_settings(exc) from None
    return auth.model_copy(
        update={
            "admin_wallets": ",".join(sorted(auth.wallets("admin") | {operator})),
            "rec_authority_wallets": ",".join(sorted(auth.wallets("rec_authority") | {operator})),
        }
    )


def _demo_users(
    meters: list[MeterPlan], traders: dict[str, Trader], operator: Keypair
) -> list[DemoUser]:
    users = [DemoUser(OPERATOR, OPERATOR, operator, "the campus operator: admin and REC authority")]
    for m in meters:
        if m.kind == "prosumer":
            what = f"prosumer: {m.pv_kwp:g} kWp PV, {m.load} load, sells its energy tokens"
        else:
            what = f"consumer: {m.load} load, buys energy with campus credit"
        users.append(
            DemoUser(m.meter_id, m.kind, traders[m.meter_id].keypair,
                     f"{what}; meter {m.meter_id} behind gateway {m.gateway + 1}")
        )  # fmt: skip
    return users


def _command(name: str) -> str:
    """How to run the console script `name` from here: the one beside this Python
    (the project's .venv), as a path relative to the current folder when it is under it."""
    exe = Path(sys.executable).with_name(name)
    if not exe.exists():
        return name
    with contextlib.suppress(ValueError):
        return str(exe.relative_to(Path.cwd()))
    return str(exe)


def _monitor_line(settings: Settings) -> str:
    env = {
        "GTX_MQTT_HOST": settings.mqtt_host,
        "GTX_MQTT_PORT": str(settings.mqtt_port),
        "GTX_TOPIC_ROOT": settings.topic_root,
    }
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    return f"{assignments} {shlex.quote(_command('gtx-coordinator'))} monitor"


def _banner(
    options: DemoOptions, settings: Settings, broker_kind: str, meters: list[MeterPlan],
    port: int, admin_token: bool,
) -> str:  # fmt: skip
    token = (
        f"; API: Authorization: Bearer $(cat {shlex.quote(str(_admin_token_file(options)))})"
        if admin_token
        else "; API: the GTX_ADMIN_TOKEN you set"
    )
    return "\n".join([
        f"campus: {len(meters)} meters ({sum(m.kind == 'prosumer' for m in meters)} with PV) "
        f"behind {options.gateways} gateways; epochs of {options.epoch_s} s, "
        f"readings every {options.poll_s} s",
        f"broker: {settings.mqtt_host}:{settings.mqtt_port} ({broker_kind}), topics under "
        f"{settings.topic_root}/v1/; watch them live with:",
        f"  {_monitor_line(settings)}",
        f"dashboard: http://{API_HOST}:{port}/",
        "  sign in as a simulated prosumer or consumer (the demo holds their keys) to see "
        "their energy, tokens, orders and trades;",
        f'  admin: sign in as "operator" (admin and REC authority){token}',
        "market: each epoch's call auction clears when the epoch starts (its orders are for "
        "the energy delivered in it), while the epoch's readings close after it ends plus "
        f"{GRACE_S} s grace: so \"market for epoch N\" is printed an epoch or two before "
        "\"epoch N closed\"",
    ])  # fmt: skip


async def _database(
    stack: contextlib.AsyncExitStack, options: DemoOptions, plan: ServicePlan,
    mqtt: tuple[str, int, str, bool],
) -> tuple[Settings, Engine]:  # fmt: skip
    """The settings and the database, migrated; a database failure from here on is
    one StorageError line."""
    database_url = plan.database.address
    assert database_url is not None
    if plan.database.kind == "server":
        await asyncio.to_thread(_ensure_postgres_database, database_url)
    settings = _settings(options, database_url, mqtt, plan)
    engine = make_engine(settings.database_url)
    stack.callback(engine.dispose)
    stack.enter_context(database_errors(engine))
    await asyncio.to_thread(upgrade, engine)
    return settings, engine


def _app(
    settings: Settings, engine: Engine, chain: Chain, auth: AuthSettings,
    users: list[DemoUser], on_hand: Callable[[DemoUser, bool], None],
) -> tuple[FastAPI, DemoSignIn]:  # fmt: skip
    """The coordinator's API and dashboard, with the demo's sign-in."""
    access = ChainAccess(chain.ledger, chain.deployment, chain.keys.payer, chain.keys.rec_authority)
    app = create_app(settings, engine, ledger=access, auth_settings=auth)
    defaults = defaults_from(settings)
    sign_in = DemoSignIn(
        users, access, lambda: market_context(chain, engine, defaults), on_change=on_hand
    )
    sign_in.install(app)
    return app, sign_in


async def run_demo(options: DemoOptions) -> Reconciliation | None:
    """Run until cancelled, or with `options.epochs` until that many epochs are
    minted; then return the reconciliation of every user's balances."""
    workdir = options.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    with _api_socket(options.api_port) as api_socket, _rpc_sockets(options) as rpc_sockets:
        return await _run(options, api_socket, rpc_sockets)


async def _run(
    options: DemoOptions, api_socket: socket.socket, rpc_sockets: list[socket.socket]
) -> Reconciliation | None:
    workdir = options.workdir
    plan = await detect_services(
        service_config_from_env(os.environ),
        embedded_database_url=f"sqlite:///{workdir.resolve()}/gridtokenx.sqlite",
    )
    print("\n  ".join(["GridTokenX demo: services", *plan.lines()]))
    async with contextlib.AsyncExitStack() as stack:
        mqtt = await _broker(stack, plan)
        mqtt_host, mqtt_port, protocol, _ = mqtt
        settings, engine = await _database(stack, options, plan, mqtt)

        meters = campus_plan(options.gateways, options.meters_per_gateway, options.seed)
        traders, keys, sims = await _set_up_campus(stack, options, engine, meters)
        operator = _user_key(workdir, OPERATOR)
        auth_settings = _auth_settings(str(operator.pubkey()))
        demo_users = _demo_users(meters, traders, operator)

        # The epochs as governed (a length change scheduled by the REC authority).
        progress = Progress(engine, settings.epoch_length_s,
                            calendar=governance_reader(settings, engine).calendar)  # fmt: skip
        events: asyncio.Queue[tuple[str, int]] = asyncio.Queue()
        chain_ready: asyncio.Future[Chain] = asyncio.get_running_loop().create_future()

        minted = 0

        async def on_epoch(kind: str, epoch: int) -> None:
            nonlocal minted
            await progress.on_epoch(kind, epoch)
            events.put_nowait((kind, epoch))
            minted += kind == "minted"
            if options.epochs and minted >= options.epochs:
                # The chain worker waits here: balances are still while we look.
                result = await reconcile(
                    engine, await chain_ready, credits_issued(workdir),
                    [t.wallet for t in traders.values()], settings=settings,
                    length_s=progress.length_s,
                )  # fmt: skip
                raise Finished(result)

        def on_chain(chain: Chain) -> None:
            if not chain_ready.done():
                chain_ready.set_result(chain)

        def on_hand(user: DemoUser, by_hand: bool) -> None:
            progress.say(
                f"{user.name} is now traded by hand on the dashboard; the simulation leaves "
                "its orders alone"
                if by_hand
                else f"{user.name} is traded by the simulation again"
            )

        broker = BrokerConfig(
            host=mqtt_host, port=mqtt_port, topic_root=settings.topic_root, protocol=protocol
        )
        ready = asyncio.Event()
        broker_kind = "embedded, in this process" if plan.broker.kind == "embedded" else "server"
        print(
            _banner(options, settings, broker_kind, meters, api_socket.getsockname()[1],
                    admin_token="GTX_ADMIN_TOKEN" not in os.environ),
            flush=True,
        )  # fmt: skip
        finished: list[Finished] = []
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(
                    run_ingest(
                        settings, engine, progress.on_batch, ready,
                        with_chain=True, on_epoch=on_epoch, on_chain=on_chain,
                    ),
                    name="coordinator",
                )  # fmt: skip
                await ready.wait()
                for g in range(options.gateways):
                    tg.create_task(
                        _gateway(
                            options,
                            g,
                            [m for m in meters if m.gateway == g],
                            sims[g].port,
                            broker,
                            keys[g],
                        ),
                        name=f"gateway-{g + 1}",
                    )
                chain = await chain_ready
                app, sign_in = _app(settings, engine, chain, auth_settings, demo_users, on_hand)
                tg.create_task(_serve_api(app, api_socket), name="api")
                if rpc_sockets:
                    tg.create_task(_serve_rpc(chain, options, rpc_sockets), name="json-rpc")
                print(
                    f"first epoch closes within {2 * options.epoch_s} s; Ctrl-C stops", flush=True
                )
                known = {u.wallet for u in demo_users}
                tg.create_task(
                    _trade(chain, engine, list(traders.values()), events, progress, options,
                           sign_in.by_hand, known, defaults_from(settings)),
                    name="traders",
                )  # fmt: skip
        except* Finished as group:
            finished.extend(_leaves(group, Finished))
        return finished[0].result if finished else None
