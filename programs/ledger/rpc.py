"""The rpc backend: any Solana cluster (solana-test-validator, devnet, or the embedded
ledger's own JSON-RPC) through solana-py's `AsyncClient`.

    async with RpcLedger.connect(RpcConfig("http://127.0.0.1:8899")) as ledger: ...

- `send_transaction` checks the 1232-byte limit, sends with preflight (unless
  configured off), then polls the signature until it reaches the configured
  commitment, re-broadcasting the same bytes every `resend_interval` while its
  blockhash is valid (a cluster may drop a transaction; the same bytes can
  land at most once). When the blockhash expires unseen it raises
  TransactionExpired: the transaction can never land, and rebuilding with a
  new blockhash is the caller's job (`programs.ledger.base.send_rebuilding`
  or the job machine in `programs.jobs`, which records each signature first).
- The priority fee is `config.fee_policy`, which the role builders read from
  `fee_policy`; the fee payer is the `payer` every role takes.
- Errors of solana-py and of the HTTP layer are translated in one place
  (`_translated`) into the `programs.errors` tree.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment, Finalized
from solana.rpc.core import RPCException
from solana.rpc.models import TxOpts
from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.config import RpcContextConfig
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.rpc.requests import IsBlockhashValid
from solders.rpc.responses import IsBlockhashValidResp
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction_status import TransactionErrorFieldless

from programs.errors import (
    LedgerFailure,
    LedgerUnavailable,
    TransactionExpired,
    TransactionFailed,
    UnsupportedOperation,
)
from programs.ledger.base import NO_PRIORITY_FEE, AnyTransaction, FeePolicy, TxStatus
from programs.spl import MINT_SIZE, TOKEN_ACCOUNT_SIZE, TOKEN_PROGRAM_ID
from programs.txsize import check_transaction_size

__all__ = ["CommitmentLevel", "RpcConfig", "RpcLedger"]

CommitmentLevel = Literal["processed", "confirmed", "finalized"]
_RANK = {"processed": 0, "confirmed": 1, "finalized": 2}


@dataclass(frozen=True, slots=True)
class RpcConfig:
    """How to reach and use a cluster. Times are seconds."""

    endpoint: str
    commitment: CommitmentLevel = "confirmed"
    fee_policy: FeePolicy = field(default=NO_PRIORITY_FEE)
    skip_preflight: bool = False
    poll_interval: float = 0.4
    resend_interval: float = 2.0
    confirm_timeout: float = 90.0
    request_timeout: float = 30.0
    allow_airdrop: bool = False  # only local validators and devnet hand out lamports
    token_batch: bool = False  # set where the cluster's token program is p-token

    def __post_init__(self) -> None:
        if self.commitment not in _RANK:
            raise ValueError(f"commitment must be one of {sorted(_RANK)}")
        if min(self.poll_interval, self.resend_interval, self.confirm_timeout) <= 0:
            raise ValueError("intervals and timeouts must be positive")


@asynccontextmanager
async def _translated(what: str) -> AsyncIterator[None]:
    """solana-py's failures as `programs.errors`: the one place they are translated."""
    try:
        yield
    except (SolanaRpcException, OSError) as exc:  # HTTP errors arrive wrapped
        raise LedgerUnavailable(f"{what}: {exc}") from exc
    except RPCException as exc:
        raise LedgerFailure(f"{what}: {exc.args[0] if exc.args else exc}") from exc


class RpcLedger:
    """A `Ledger` on a Solana cluster. Use `connect` and close it (or `async with`)."""

    def __init__(self, client: AsyncClient, config: RpcConfig) -> None:
        self._client = client
        self._config = config
        self._commitment = Commitment(config.commitment)

    @classmethod
    def connect(cls, config: RpcConfig) -> "RpcLedger":
        # HTTP/1.1: what every validator and the embedded server speak over plain http.
        client = AsyncClient(
            config.endpoint,
            commitment=Commitment(config.commitment),
            timeout=config.request_timeout,
            http2=False,
        )
        return cls(client, config)

    async def close(self) -> None:
        await self._client.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def fee_policy(self) -> FeePolicy:
        return self._config.fee_policy

    @property
    def token_batch(self) -> bool:
        return self._config.token_batch

    @property
    def client(self) -> AsyncClient:
        """The underlying solana-py client, for reads this interface does not cover."""
        return self._client

    async def latest_blockhash(self) -> Hash:
        async with _translated("getLatestBlockhash"):
            response = await self._client.get_latest_blockhash(self._commitment)
        blockhash: Hash = response.value.blockhash
        return blockhash

    async def recent_slot(self) -> int:
        async with _translated("getSlot"):
            response = await self._client.get_slot(Finalized)
        return int(response.value)

    async def is_blockhash_valid(self, blockhash: Hash) -> bool:
        # solana-py 0.40 has no method for it; its provider sends solders' request body.
        body = IsBlockhashValid(blockhash, RpcContextConfig(commitment=None))
        async with _translated("isBlockhashValid"):
            response = await self._client._provider.make_request(body, IsBlockhashValidResp)
        return bool(response.value)

    async def send_transaction(self, tx: AnyTransaction) -> Signature:
        check_transaction_size(tx)
        signature = tx.signatures[0]
        known = await self.signature_status(signature)
        if known is None:
            await self._broadcast(tx, skip_preflight=self._config.skip_preflight)
        return await self._await_commitment(tx)

    async def _broadcast(self, tx: AnyTransaction, *, skip_preflight: bool) -> None:
        signature = str(tx.signatures[0])
        opts = TxOpts(
            skip_confirmation=True,
            skip_preflight=skip_preflight,
            preflight_commitment=self._commitment,
        )
        try:
            async with _translated("sendTransaction"):
                await self._client.send_raw_transaction(bytes(tx), opts)
        except LedgerFailure as exc:
            rpc_error = _rpc_error_of(exc)
            if isinstance(rpc_error, SendTransactionPreflightFailureMessage):
                result = rpc_error.data
                err = result.err
                if err == TransactionErrorFieldless.AlreadyProcessed:
                    return  # landed before: its status tells how
                if err == TransactionErrorFieldless.BlockhashNotFound:
                    raise TransactionExpired(signature) from exc
                logs = tuple(result.logs or ())
                raise TransactionFailed(signature, str(err), logs) from exc
            if rpc_error is not None and "SignatureVerificationFailure" in str(rpc_error):
                raise TransactionFailed(signature, "SignatureFailure") from exc
            raise

    async def _await_commitment(self, tx: AnyTransaction) -> Signature:
        signature = tx.signatures[0]
        wanted = _RANK[self._config.commitment]
        clock = time.monotonic
        deadline = clock() + self._config.confirm_timeout
        last_sent = clock()
        while True:
            status, rank = await self._status_and_rank(signature)
            if status is not None and status.error is not None:
                raise TransactionFailed(str(signature), status.error)
            if status is not None and rank >= wanted:
                return signature
            if status is None and not await self.is_blockhash_valid(tx.message.recent_blockhash):
                # Once the blockhash is invalid nothing can land; look one last time.
                status, _ = await self._status_and_rank(signature)
                if status is None:
                    raise TransactionExpired(str(signature))
                continue
            if clock() > deadline:
                raise LedgerUnavailable(
                    f"transaction {signature} not {self._config.commitment} within "
                    f"{self._config.confirm_timeout} s"
                )
            if status is None and clock() - last_sent >= self._config.resend_interval:
                await self._broadcast(tx, skip_preflight=True)
                last_sent = clock()
            await asyncio.sleep(self._config.poll_interval)

    async def _status_and_rank(self, signature: Signature) -> tuple[TxStatus | None, int]:
        async with _translated("getSignatureStatuses"):
            response = await self._client.get_signature_statuses(
                [signature], search_transaction_history=True
            )
        found = response.value[0]
        if found is None:
            return None, -1
        error = None if found.err is None else str(found.err)
        level = found.confirmation_status
        rank = _RANK["finalized"] if level is None else int(level)
        return TxStatus(signature, found.slot, error), rank

    async def signature_status(self, signature: Signature) -> TxStatus | None:
        status, _ = await self._status_and_rank(signature)
        return status

    async def get_account(self, address: Pubkey) -> Account | None:
        async with _translated("getAccountInfo"):
            response = await self._client.get_account_info(address, self._commitment)
        account: Account | None = response.value
        return account

    async def get_token_account(self, address: Pubkey) -> TokenAccount | None:
        account = await self.get_account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID:
            return None
        if len(account.data) != TOKEN_ACCOUNT_SIZE:
            return None
        return TokenAccount.from_bytes(bytes(account.data))

    async def get_mint(self, address: Pubkey) -> Mint | None:
        account = await self.get_account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID or len(account.data) != MINT_SIZE:
            return None
        return Mint.from_bytes(bytes(account.data))

    async def token_balance(self, address: Pubkey) -> int:
        token_account = await self.get_token_account(address)
        return 0 if token_account is None else token_account.amount

    async def minimum_balance_for_rent_exemption(self, size: int) -> int:
        async with _translated("getMinimumBalanceForRentExemption"):
            response = await self._client.get_minimum_balance_for_rent_exemption(size)
        return int(response.value)

    async def balance(self, address: Pubkey) -> int:
        """Lamports at `address` (0 if no account)."""
        async with _translated("getBalance"):
            response = await self._client.get_balance(address, self._commitment)
        return int(response.value)

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        if not self._config.allow_airdrop:
            raise UnsupportedOperation("airdrops are off for this cluster (allow_airdrop)")
        before = await self.balance(address)
        async with _translated("requestAirdrop"):
            await self._client.request_airdrop(address, lamports, self._commitment)
        # Wait on the balance, which every cluster shows, rather than the signature.
        deadline = time.monotonic() + self._config.confirm_timeout
        while await self.balance(address) < before + lamports:
            if time.monotonic() > deadline:
                raise LedgerUnavailable(f"airdrop to {address} not seen in time")
            await asyncio.sleep(self._config.poll_interval)


def _rpc_error_of(exc: BaseException) -> Any:
    """The solders RPC error object an RPCException carried, if any."""
    cause = exc.__cause__
    if isinstance(cause, RPCException) and cause.args:
        return cause.args[0]
    return None
