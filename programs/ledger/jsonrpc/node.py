"""What every method handler is given: the ledger and how this endpoint is served."""

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from solders.pubkey import Pubkey

from programs.ledger.embedded import EmbeddedLedger
from programs.ledger.jsonrpc.errors import MIN_CONTEXT_SLOT_NOT_REACHED, Json, RpcError

__all__ = ["FEATURE_SET", "VERSION", "Handler", "Node", "context"]

VERSION = "2.2.0"  # the validator API these answers follow
FEATURE_SET = 0


@dataclass(frozen=True, slots=True)
class Node:
    """The ledger served, what it may do for callers, and where it is reached
    (`rpc_address`, `pubsub_address`: "host:port", for getClusterNodes)."""

    ledger: EmbeddedLedger
    allow_send: bool = False
    allow_airdrop: bool = False
    rpc_address: str | None = None
    pubsub_address: str | None = None

    @property
    def identity(self) -> Pubkey:
        """This node's identity: derived from the genesis hash, stable across restarts
        (it signs nothing: there is no leader schedule or vote to sign)."""
        digest = hashlib.sha256(b"gridtokenx-identity" + bytes(self.ledger.genesis_hash))
        return Pubkey.from_bytes(digest.digest())


Handler = Callable[[Node, list[Json]], Awaitable[Json]]


def context(node: Node, value: Json, options: dict[str, Json] | None = None) -> Json:
    """`value` in a validator's response context; refuses a `minContextSlot` the
    ledger has not reached."""
    slot = node.ledger.slot
    check_min_context(node, options)
    return {"context": {"apiVersion": VERSION, "slot": slot}, "value": value}


def check_min_context(node: Node, options: dict[str, Json] | None) -> None:
    wanted = None if options is None else options.get("minContextSlot")
    if isinstance(wanted, int) and wanted > node.ledger.slot:
        raise RpcError(
            MIN_CONTEXT_SLOT_NOT_REACHED,
            "Minimum context slot has not been reached",
            {"contextSlot": node.ledger.slot},
        )
