"""The embedded ledger served as a Solana JSON-RPC endpoint, answering as a validator
does, for what wallets, explorers, auditors and SDKs (solana-py, @solana/kit) ask.

    app = create_app(ledger, allow_send=True)   # an ASGI app: POST /, websocket /,
                                                # GET /health
    await serve(ledger, "127.0.0.1", 8899)      # the same, under uvicorn

Methods: the account and token queries (getAccountInfo, getMultipleAccounts,
getBalance, getProgramAccounts with dataSize, memcmp and tokenAccountState filters,
getTokenAccountsByOwner / ByDelegate, getTokenAccountBalance, getTokenSupply,
getLargestTokenAccounts, getMinimumBalanceForRentExemption; encodings base64,
base58 and jsonParsed for SPL mints, token accounts and multisigs), transactions
(sendTransaction with a real preflight, simulateTransaction, requestAirdrop,
getSignatureStatuses, getSignaturesForAddress with memos, getTransaction in json,
jsonParsed, base64 and base58 with the full status meta), blocks (getBlock,
getBlocks, getBlocksWithLimit, getBlockTime, getBlockCommitment), fees
(getLatestBlockhash, isBlockhashValid, getFeeForMessage,
getRecentPrioritizationFees) and the node (getSlot, getBlockHeight, getEpochInfo,
getEpochSchedule, getGenesisHash, getIdentity, getVersion, getHealth,
getFirstAvailableBlock, minimumLedgerSlot, getTransactionCount, getSupply,
getClusterNodes, getVoteAccounts, getSlotLeader(s), getMaxRetransmitSlot,
getMaxShredInsertSlot, getHighestSnapshotSlot). Subscriptions: `pubsub`.

Where it differs from a validator, on purpose (docs/architecture.md, "The ledger"):
one transaction per slot and every one final at once ("finalized" whatever the
commitment); blockhashes are issued by the ledger, valid for a time rather than
150 slots, and are not the blocks' hashes; no votes, rewards, stake, leader
schedule or snapshots; no `base64+zstd`; read-only unless served with
`allow_send`, requestAirdrop only with `allow_airdrop` (else refused as by a
validator without a faucet). Errors carry a validator's codes and messages
(`errors`).
"""

from programs.ledger.jsonrpc.app import create_app
from programs.ledger.jsonrpc.errors import (
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    SIGNATURE_VERIFICATION_FAILURE,
    RpcError,
    transaction_error_message,
    ui_transaction_error,
)
from programs.ledger.jsonrpc.node import VERSION
from programs.ledger.jsonrpc.serve import listen, serve

__all__ = [
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "SEND_TRANSACTION_PREFLIGHT_FAILURE",
    "SIGNATURE_VERIFICATION_FAILURE",
    "VERSION",
    "RpcError",
    "create_app",
    "listen",
    "serve",
    "transaction_error_message",
    "ui_transaction_error",
]
