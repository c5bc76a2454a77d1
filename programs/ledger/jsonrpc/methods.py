"""Transaction, block and cluster methods, and the table of every method.

Blocks: one journaled transaction per slot, so block n holds the transaction of
slot n (slot 0 is the empty genesis block); a block's hash is derived from the
genesis hash, the slot and its transaction's signature (stable across restarts),
and is not the blockhash transactions are signed with (those are issued by the
ledger, `getLatestBlockhash`).
"""

import base64
import binascii
import hashlib
import math
import struct

from solders.hash import Hash
from solders.message import Message, MessageV0, from_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction

from programs.errors import TransactionExpired, TransactionFailed, TransactionTooLarge
from programs.ledger.embedded import LAMPORTS_PER_SIGNATURE, Simulation, writable_mask
from programs.ledger.jsonrpc.accounts import ACCOUNT_METHODS
from programs.ledger.jsonrpc.encoding import (
    encode_account,
    encode_transaction,
    encode_transaction_meta,
    parsed_account_keys,
)
from programs.ledger.jsonrpc.errors import (
    BLOCK_NOT_AVAILABLE,
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    NO_SNAPSHOT,
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
    SIGNATURE_VERIFICATION_FAILURE,
    SLOT_SKIPPED,
    UNSUPPORTED_TRANSACTION_VERSION,
    Json,
    RpcError,
    invalid_params,
    transaction_error_message,
    ui_transaction_error,
)
from programs.ledger.jsonrpc.node import FEATURE_SET, VERSION, Handler, Node, context
from programs.ledger.jsonrpc.params import (
    config,
    decode_transaction,
    hash_param,
    non_negative_int,
    param,
    pubkey,
    signature,
)
from programs.ledger.jsonrpc.parsers import parse_instruction
from programs.ledger.meta import ExecutionMeta
from programs.ledger.store import JournalEntry

__all__ = ["METHODS", "block_hash"]

BLOCKHASH_VALID_SLOTS = 150
_MAX_SIGNATURES = 1000
_MAX_STATUSES = 256
_MAX_SLOT_RANGE = 500_000
_MAX_PRIORITIZATION_ADDRESSES = 128
_RECENT_SLOTS = 150
_COMPUTE_BUDGET = Pubkey.from_string("ComputeBudget111111111111111111111111111111")
_BUILTIN_PROGRAMS = frozenset(
    Pubkey.from_string(key)
    for key in (
        "11111111111111111111111111111111",
        "ComputeBudget111111111111111111111111111111",
        "AddressLookupTab1e1111111111111111111111111",
        "Stake11111111111111111111111111111111111111",
        "Vote111111111111111111111111111111111111111",
        "Config1111111111111111111111111111111111111",
        "BPFLoader1111111111111111111111111111111111",
        "BPFLoader2111111111111111111111111111111111",
        "BPFLoaderUpgradeab1e11111111111111111111111",
        "LoaderV411111111111111111111111111111111111",
    )
)
_BUILTIN_UNITS = 3_000
_DEFAULT_UNITS = 200_000
_MAX_UNITS = 1_400_000


# --- blockhashes and fees ---------------------------------------------------------------


async def _get_latest_blockhash(node: Node, params: list[Json]) -> Json:
    options = config(params, 0)
    blockhash = await node.ledger.latest_blockhash()
    value = {
        "blockhash": str(blockhash),
        "lastValidBlockHeight": node.ledger.slot + BLOCKHASH_VALID_SLOTS,
    }
    return context(node, value, options)


async def _is_blockhash_valid(node: Node, params: list[Json]) -> Json:
    options = config(params, 1)
    return context(
        node, await node.ledger.is_blockhash_valid(hash_param(param(params, 0))), options
    )


def compute_budget(message: Message | MessageV0) -> tuple[int, int]:
    """(compute unit limit, price in micro-lamports per unit) the runtime applies to a
    message: its ComputeBudget instructions, else 200,000 units per instruction
    (3,000 for builtin programs), at most 1,400,000."""
    keys = message.account_keys
    limit = None
    price = 0
    default = 0
    for ix in message.instructions:
        program = keys[ix.program_id_index] if ix.program_id_index < len(keys) else None
        data = bytes(ix.data)
        if program == _COMPUTE_BUDGET and len(data) >= 5 and data[0] == 2:
            (limit,) = struct.unpack_from("<I", data, 1)
        elif program == _COMPUTE_BUDGET and len(data) >= 9 and data[0] == 3:
            (price,) = struct.unpack_from("<Q", data, 1)
        default += _BUILTIN_UNITS if program in _BUILTIN_PROGRAMS else _DEFAULT_UNITS
    return min(default if limit is None else limit, _MAX_UNITS), price


def message_fee(message: Message | MessageV0) -> int:
    """Lamports the runtime charges for `message`: per signature, plus priority."""
    limit, price = compute_budget(message)
    priority = math.ceil(limit * price / 1_000_000)
    return LAMPORTS_PER_SIGNATURE * message.header.num_required_signatures + priority


async def _get_fee_for_message(node: Node, params: list[Json]) -> Json:
    text = param(params, 0)
    options = config(params, 1)
    try:
        message = from_bytes_versioned(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError, TypeError) as exc:
        raise invalid_params(f"Invalid params: invalid message: {exc}") from exc
    if not await node.ledger.is_blockhash_valid(message.recent_blockhash):
        return context(node, None, options)
    return context(node, message_fee(message), options)


async def _get_recent_prioritization_fees(node: Node, params: list[Json]) -> Json:
    addresses = param(params, 0, [])
    if not isinstance(addresses, list):
        raise invalid_params("Invalid params: expected a list of addresses")
    if len(addresses) > _MAX_PRIORITIZATION_ADDRESSES:
        raise invalid_params(f"Too many inputs provided; max {_MAX_PRIORITIZATION_ADDRESSES}")
    wanted = {pubkey(a) for a in addresses}
    last = node.ledger.slot
    first = max(1, last - _RECENT_SLOTS + 1)
    result = []
    for entry in await node.ledger.journal_slots(first, last, limit=_RECENT_SLOTS):
        message = VersionedTransaction.from_bytes(entry.tx).message
        fee = compute_budget(message)[1]
        if wanted:
            keys = list(message.account_keys)
            mask = writable_mask(message, len(keys))
            if not any(k in wanted for k, w in zip(keys, mask, strict=False) if w):
                fee = 0
        result.append({"slot": entry.slot, "prioritizationFee": fee})
    return result


# --- sending and simulating -------------------------------------------------------------


def _ui_simulation(sim: Simulation, node: Node, options: dict[str, Json]) -> Json:
    """A simulation as a validator's RpcSimulateTransactionResult."""
    err = None if sim.error is None else ui_transaction_error(sim.error)
    meta: ExecutionMeta | None = sim.meta
    keys = [str(k) for k in sim.keys]
    accounts: Json = None
    wanted = options.get("accounts")
    if isinstance(wanted, dict):
        addresses = wanted.get("addresses") or []
        if not isinstance(addresses, list):
            raise invalid_params("Invalid params: accounts.addresses must be a list")
        if len(addresses) > len(keys):
            raise invalid_params(f"Too many accounts provided; max {len(keys)}")
        encoding = wanted.get("encoding") or "base64"
        if encoding in ("base58", "binary"):
            raise invalid_params("base58 encoding not supported")
        if err is not None:
            accounts = [None for _ in addresses]
        else:
            accounts = []
            for text in addresses:
                account = sim.post_accounts.get(pubkey(text))
                accounts.append(None if account is None else encode_account(account, encoding, {}))
    inner: Json = None
    if options.get("innerInstructions") and meta is not None:
        inner = [
            {
                "index": index,
                "instructions": [
                    parse_instruction(
                        keys[i.program_id_index], i.accounts, i.data, keys, i.stack_height
                    )
                    for i in instructions
                ],
            }
            for index, instructions in meta.inner_instructions
        ]
    return_data: Json = None
    if meta is not None and meta.return_data is not None:
        program, data = meta.return_data
        return_data = {
            "programId": str(program),
            "data": [base64.b64encode(data).decode(), "base64"],
        }
    replacement: Json = None
    if sim.replacement is not None:
        blockhash, last_valid = sim.replacement
        replacement = {"blockhash": str(blockhash), "lastValidBlockHeight": last_valid}
    return {
        "err": err,
        "logs": list(sim.logs),
        "accounts": accounts,
        "unitsConsumed": 0 if meta is None else meta.compute_units,
        "loadedAccountsDataSize": None,
        "returnData": return_data,
        "innerInstructions": inner,
        "replacementBlockhash": replacement,
        "fee": None if meta is None else meta.fee,
        "preBalances": None if meta is None else list(meta.pre_balances),
        "postBalances": None if meta is None else list(meta.post_balances),
        "preTokenBalances": None,
        "postTokenBalances": None,
        "loadedAddresses": {
            "writable": [str(a) for a in sim.loaded[0]],
            "readonly": [str(a) for a in sim.loaded[1]],
        },
    }


async def _simulate_transaction(node: Node, params: list[Json]) -> Json:
    options = config(params, 1)
    sig_verify = bool(options.get("sigVerify", False))
    replace = bool(options.get("replaceRecentBlockhash", False))
    if sig_verify and replace:
        raise invalid_params("sigVerify may not be used with replaceRecentBlockhash")
    _, tx = decode_transaction(param(params, 0), options.get("encoding") or "base58")
    sim = await node.ledger.simulate(tx, sig_verify=sig_verify, replace_blockhash=replace)
    return context(node, _ui_simulation(sim, node, options), options)


def _preflight_failure(sim: Simulation, node: Node) -> RpcError:
    err = ui_transaction_error(sim.error or "")
    data = _ui_simulation(sim, node, {})
    message = f"Transaction simulation failed: {transaction_error_message(err)}"
    return RpcError(SEND_TRANSACTION_PREFLIGHT_FAILURE, message, data)


async def _send_transaction(node: Node, params: list[Json]) -> Json:
    if not node.allow_send:
        raise RpcError(
            METHOD_NOT_FOUND,
            "Method not found",
            "sendTransaction is disabled on this endpoint (served without --allow-send)",
        )
    options = config(params, 1)
    _, tx = decode_transaction(param(params, 0), options.get("encoding") or "base58")
    if len(tx.signatures) != tx.message.header.num_required_signatures:
        raise invalid_params(
            "invalid transaction: Transaction failed to sanitize accounts offsets correctly"
        )
    signature = tx.signatures[0]
    if not options.get("skipPreflight", False):
        sim = await node.ledger.simulate(tx, sig_verify=True, replace_blockhash=False)
        if sim.error is not None:
            if ui_transaction_error(sim.error) == "SignatureFailure":
                raise RpcError(
                    SIGNATURE_VERIFICATION_FAILURE, "Transaction signature verification failure"
                )
            raise _preflight_failure(sim, node)
    try:
        await node.ledger.send_transaction(tx)
    except TransactionTooLarge as exc:
        raise invalid_params(str(exc)) from exc
    except TransactionExpired:
        pass  # dropped, as by a cluster: its blockhash expired meanwhile
    except TransactionFailed:
        pass  # landed and failed (its status says so), or dropped before the fee
    return str(signature)


async def _request_airdrop(node: Node, params: list[Json]) -> Json:
    if not node.allow_airdrop:
        # What a validator without a faucet answers.
        raise RpcError(INVALID_REQUEST, "Invalid request")
    address = pubkey(param(params, 0))
    lamports = non_negative_int(param(params, 1), "lamports")
    try:
        return str(await node.ledger.request_airdrop(address, lamports))
    except TransactionFailed as exc:
        landed = await node.ledger.signature_status(Signature.from_string(exc.signature))
        if landed is not None:
            return exc.signature  # its status tells how it failed
        raise RpcError(INTERNAL_ERROR, "Internal error", exc.error) from exc


# --- statuses and history ---------------------------------------------------------------


async def _get_signature_statuses(node: Node, params: list[Json]) -> Json:
    signatures = param(params, 0)
    options = config(params, 1)
    if not isinstance(signatures, list):
        raise invalid_params("Invalid params: expected a list of signatures")
    if len(signatures) > _MAX_STATUSES:
        raise invalid_params(f"Too many inputs provided; max {_MAX_STATUSES}")
    value: list[Json] = []
    for text in signatures:
        status = await node.ledger.signature_status(signature(text))
        if status is None:
            value.append(None)
            continue
        err = None if status.error is None else ui_transaction_error(status.error)
        value.append(
            {
                "slot": status.slot,
                "confirmations": None,
                "err": err,
                "status": {"Ok": None} if err is None else {"Err": err},
                "confirmationStatus": "finalized",
            }
        )
    return context(node, value, options)


async def _get_signatures_for_address(node: Node, params: list[Json]) -> Json:
    address = pubkey(param(params, 0))
    options = config(params, 1)
    limit = options.get("limit")
    limit = _MAX_SIGNATURES if limit is None else non_negative_int(limit, "limit")
    if not 1 <= limit <= _MAX_SIGNATURES:
        raise invalid_params(f"Invalid limit; max {_MAX_SIGNATURES}")
    before = options.get("before")
    until = options.get("until")
    until_signature = None if until is None else signature(until)
    found = await node.ledger.signatures_for_address(
        address, limit=limit, before=None if before is None else signature(before)
    )
    result = []
    for item in found:
        if item.signature == until_signature:
            break
        result.append(
            {
                "signature": str(item.signature),
                "slot": item.slot,
                "err": None if item.error is None else ui_transaction_error(item.error),
                "memo": item.memo,
                "blockTime": item.block_time,
                "confirmationStatus": "finalized",
            }
        )
    return result


def _refuse_processed(options: dict[str, Json]) -> None:
    if options.get("commitment") == "processed":
        raise invalid_params("Method does not support commitment below `confirmed`")


def _unsupported_version() -> RpcError:
    return RpcError(
        UNSUPPORTED_TRANSACTION_VERSION,
        "Transaction version (0) is not supported by the requesting client. Please try the"
        " request again with the following configuration parameter:"
        ' "maxSupportedTransactionVersion": 0',
    )


def _encoded_with_meta(
    node: Node,
    entry: JournalEntry,
    encoding: str,
    max_version: Json,
    *,
    details: str = "full",
    rewards: bool = True,
) -> dict[str, Json]:
    tx = VersionedTransaction.from_bytes(entry.tx)
    is_v0 = isinstance(tx.message, MessageV0)
    if is_v0 and max_version is None:
        raise _unsupported_version()
    loaded = node.ledger.loaded_addresses(tx.message)
    if details == "accounts":
        transaction: Json = {
            "signatures": [str(s) for s in tx.signatures],
            "accountKeys": parsed_account_keys(tx.message, loaded),
        }
    else:
        transaction = encode_transaction(tx, entry.tx, encoding, loaded)
    result: dict[str, Json] = {
        "transaction": transaction,
        "meta": encode_transaction_meta(
            entry, tx, encoding, loaded, rewards=rewards, details=details
        ),
    }
    if max_version is not None:
        result["version"] = 0 if is_v0 else "legacy"
    return result


_TRANSACTION_ENCODINGS = ("json", "jsonParsed", "base64", "base58", "binary")


def _transaction_encoding(options: dict[str, Json] | str) -> str:
    encoding = options if isinstance(options, str) else options.get("encoding") or "json"
    if encoding not in _TRANSACTION_ENCODINGS:
        raise invalid_params(f"Invalid params: unsupported encoding {encoding}")
    return str(encoding)


async def _get_transaction(node: Node, params: list[Json]) -> Json:
    sig = signature(param(params, 0))
    raw_options = param(params, 1, {})
    # An older form passes the encoding as a bare string.
    options: dict[str, Json] = {} if isinstance(raw_options, str) else config(params, 1)
    encoding = _transaction_encoding(raw_options if isinstance(raw_options, str) else options)
    _refuse_processed(options)
    entry = await node.ledger.journal_entry(sig)
    if entry is None or not entry.tx:
        return None
    encoded = _encoded_with_meta(
        node, entry, encoding, options.get("maxSupportedTransactionVersion")
    )
    return {"slot": entry.slot, "blockTime": entry.block_time, **encoded}


# --- blocks -----------------------------------------------------------------------------


def block_hash(genesis: Hash, slot: int, signature_of_slot: Signature | None) -> Hash:
    """The hash of block `slot`: the genesis hash for slot 0, else derived from the
    genesis hash, the slot and the signature of its transaction."""
    if slot == 0 or signature_of_slot is None:
        return genesis
    digest = hashlib.sha256(bytes(genesis) + slot.to_bytes(8, "little") + bytes(signature_of_slot))
    return Hash(digest.digest())


async def _entry_at(node: Node, slot: int) -> JournalEntry | None:
    found = await node.ledger.journal_slots(slot, slot, limit=1)
    return found[0] if found else None


async def _block_hash_of(node: Node, slot: int) -> Hash:
    if slot == 0:
        return node.ledger.genesis_hash
    entry = await _entry_at(node, slot)
    return block_hash(node.ledger.genesis_hash, slot, None if entry is None else entry.signature)


async def _get_block(node: Node, params: list[Json]) -> Json:
    slot = non_negative_int(param(params, 0), "slot")
    raw_options = param(params, 1, {})
    options: dict[str, Json] = {} if isinstance(raw_options, str) else config(params, 1)
    encoding = _transaction_encoding(raw_options if isinstance(raw_options, str) else options)
    _refuse_processed(options)
    details = options.get("transactionDetails") or "full"
    if details not in ("full", "signatures", "none", "accounts"):
        raise invalid_params(f"Invalid params: unknown transactionDetails {details}")
    rewards = options.get("rewards", True) is not False
    if slot > node.ledger.slot:
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")
    entries: list[JournalEntry] = []
    block_time = None
    if slot > 0:
        entry = await _entry_at(node, slot)
        if entry is None:
            raise RpcError(
                SLOT_SKIPPED,
                f"Slot {slot} was skipped, or missing due to ledger jump to recent snapshot",
            )
        entries = [entry]
        block_time = entry.block_time
    genesis = node.ledger.genesis_hash
    blockhash = block_hash(genesis, slot, entries[0].signature if entries else None)
    previous = Hash.default() if slot == 0 else await _block_hash_of(node, slot - 1)
    block: dict[str, Json] = {
        "blockHeight": slot,
        "blockTime": block_time,
        "blockhash": str(blockhash),
        "parentSlot": max(slot - 1, 0),
        "previousBlockhash": str(previous),
    }
    max_version = options.get("maxSupportedTransactionVersion")
    if details in ("full", "accounts"):
        block["transactions"] = [
            _encoded_with_meta(node, e, encoding, max_version, details=details, rewards=rewards)
            for e in entries
        ]
    elif details == "signatures":
        block["signatures"] = [str(e.signature) for e in entries]
    if rewards:
        block["rewards"] = []
    return block


async def _block_slots(node: Node, first: int, last: int, limit: int) -> list[int]:
    slots = [0] if first == 0 else []
    if last >= max(first, 1):
        slots += await node.ledger.journaled_slots(max(first, 1), last, limit=limit)
    return slots[:limit]


async def _get_blocks(node: Node, params: list[Json]) -> Json:
    first = non_negative_int(param(params, 0), "start slot")
    end = param(params, 1)
    last = node.ledger.slot if end is None or isinstance(end, dict) else end
    last = min(non_negative_int(last, "end slot"), node.ledger.slot)
    if last - first > _MAX_SLOT_RANGE:
        raise invalid_params(f"Slot range too large; max {_MAX_SLOT_RANGE}")
    if last < first:
        return []
    return await _block_slots(node, first, last, _MAX_SLOT_RANGE + 1)


async def _get_blocks_with_limit(node: Node, params: list[Json]) -> Json:
    first = non_negative_int(param(params, 0), "start slot")
    limit = non_negative_int(param(params, 1), "limit")
    if limit > _MAX_SLOT_RANGE:
        raise invalid_params(f"Limit too large; max {_MAX_SLOT_RANGE}")
    if first > node.ledger.slot or limit == 0:
        return []
    return await _block_slots(node, first, node.ledger.slot, limit)


async def _get_block_time(node: Node, params: list[Json]) -> Json:
    slot = non_negative_int(param(params, 0), "slot")
    entry = None if slot == 0 or slot > node.ledger.slot else await _entry_at(node, slot)
    if entry is None or entry.block_time is None:
        raise RpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")
    return entry.block_time


async def _get_block_commitment(node: Node, params: list[Json]) -> Json:
    non_negative_int(param(params, 0), "slot")
    return {"commitment": None, "totalStake": 0}


# --- the node and the cluster -----------------------------------------------------------


async def _get_slot(node: Node, params: list[Json]) -> Json:
    # Also entered in SlotHashes: a lookup table may be created against it.
    return await node.ledger.recent_slot()


async def _get_block_height(node: Node, params: list[Json]) -> Json:
    return node.ledger.slot


async def _get_epoch_info(node: Node, params: list[Json]) -> Json:
    slot = node.ledger.slot
    schedule = node.ledger.epoch_schedule()
    epoch, index = schedule.get_epoch_and_slot_index(slot)
    return {
        "absoluteSlot": slot,
        "blockHeight": slot,
        "epoch": epoch,
        "slotIndex": index,
        "slotsInEpoch": schedule.get_slots_in_epoch(epoch),
        "transactionCount": slot,
    }


async def _get_epoch_schedule(node: Node, params: list[Json]) -> Json:
    schedule = node.ledger.epoch_schedule()
    return {
        "firstNormalEpoch": schedule.first_normal_epoch,
        "firstNormalSlot": schedule.first_normal_slot,
        "leaderScheduleSlotOffset": schedule.leader_schedule_slot_offset,
        "slotsPerEpoch": schedule.slots_per_epoch,
        "warmup": schedule.warmup,
    }


async def _zero(node: Node, params: list[Json]) -> Json:
    return 0  # the ledger keeps every block from genesis


async def _current_slot(node: Node, params: list[Json]) -> Json:
    return node.ledger.slot


async def _get_health(node: Node, params: list[Json]) -> Json:
    return "ok"


async def _get_version(node: Node, params: list[Json]) -> Json:
    return {"solana-core": VERSION, "feature-set": FEATURE_SET}


async def _get_identity(node: Node, params: list[Json]) -> Json:
    return {"identity": str(node.identity)}


async def _get_genesis_hash(node: Node, params: list[Json]) -> Json:
    return str(node.ledger.genesis_hash)


async def _get_slot_leader(node: Node, params: list[Json]) -> Json:
    return str(node.identity)


async def _get_slot_leaders(node: Node, params: list[Json]) -> Json:
    non_negative_int(param(params, 0), "start slot")
    limit = non_negative_int(param(params, 1), "limit")
    if not 1 <= limit <= 5000:
        raise invalid_params("Invalid limit; max 5000")
    return [str(node.identity)] * limit


async def _get_cluster_nodes(node: Node, params: list[Json]) -> Json:
    return [
        {
            "pubkey": str(node.identity),
            "gossip": None,
            "tvu": None,
            "tpu": None,
            "tpuQuic": None,
            "tpuForwards": None,
            "tpuForwardsQuic": None,
            "tpuVote": None,
            "serveRepair": None,
            "rpc": node.rpc_address,
            "pubsub": node.pubsub_address,
            "version": VERSION,
            "featureSet": FEATURE_SET,
            "shredVersion": 0,
        }
    ]


async def _get_vote_accounts(node: Node, params: list[Json]) -> Json:
    return {"current": [], "delinquent": []}  # no consensus: no votes


async def _get_highest_snapshot_slot(node: Node, params: list[Json]) -> Json:
    raise RpcError(NO_SNAPSHOT, "No snapshot")


async def _get_transaction_count(node: Node, params: list[Json]) -> Json:
    return node.ledger.slot  # one transaction per slot


async def _get_supply(node: Node, params: list[Json]) -> Json:
    options = config(params, 0)
    total = 0
    for address in node.ledger.known_addresses():
        account = await node.ledger.get_account(address)
        total += 0 if account is None else account.lamports
    value = {
        "total": total,
        "circulating": total,
        "nonCirculating": 0,
        "nonCirculatingAccounts": [],
    }
    return context(node, value, options)


METHODS: dict[str, Handler] = {
    **ACCOUNT_METHODS,
    "getLatestBlockhash": _get_latest_blockhash,
    "isBlockhashValid": _is_blockhash_valid,
    "getFeeForMessage": _get_fee_for_message,
    "getRecentPrioritizationFees": _get_recent_prioritization_fees,
    "sendTransaction": _send_transaction,
    "simulateTransaction": _simulate_transaction,
    "requestAirdrop": _request_airdrop,
    "getSignatureStatuses": _get_signature_statuses,
    "getSignaturesForAddress": _get_signatures_for_address,
    "getTransaction": _get_transaction,
    "getBlock": _get_block,
    "getBlocks": _get_blocks,
    "getBlocksWithLimit": _get_blocks_with_limit,
    "getBlockTime": _get_block_time,
    "getBlockCommitment": _get_block_commitment,
    "getSlot": _get_slot,
    "getBlockHeight": _get_block_height,
    "getEpochInfo": _get_epoch_info,
    "getEpochSchedule": _get_epoch_schedule,
    "getFirstAvailableBlock": _zero,
    "minimumLedgerSlot": _zero,
    "getMaxRetransmitSlot": _current_slot,
    "getMaxShredInsertSlot": _current_slot,
    "getHealth": _get_health,
    "getVersion": _get_version,
    "getIdentity": _get_identity,
    "getGenesisHash": _get_genesis_hash,
    "getSlotLeader": _get_slot_leader,
    "getSlotLeaders": _get_slot_leaders,
    "getClusterNodes": _get_cluster_nodes,
    "getVoteAccounts": _get_vote_accounts,
    "getHighestSnapshotSlot": _get_highest_snapshot_slot,
    "getTransactionCount": _get_transaction_count,
    "getSupply": _get_supply,
}
