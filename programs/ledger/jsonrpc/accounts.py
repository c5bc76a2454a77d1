"""Account and token methods: getAccountInfo, getMultipleAccounts, getBalance,
getProgramAccounts (dataSize, memcmp and tokenAccountState filters), the token
queries (balance, supply, accounts by owner or delegate, largest accounts) and
getMinimumBalanceForRentExemption.

The ledger holds a campus, not mainnet: scans (getProgramAccounts, token accounts
by owner or delegate, largest accounts) walk every account it knows.
"""

import base64
import binascii
import struct
from collections.abc import Callable

from solders.account import Account
from solders.pubkey import Pubkey

from programs.ledger.jsonrpc.encoding import (
    DataSlice,
    encode_account,
    token_account_mint,
    ui_token_amount,
)
from programs.ledger.jsonrpc.errors import Json, invalid_params
from programs.ledger.jsonrpc.node import Handler, Node, context
from programs.ledger.jsonrpc.params import (
    account_encoding,
    config,
    data_slice,
    non_negative_int,
    param,
    pubkey,
)
from programs.ledger.meta import TOKEN_PROGRAM_IDS
from programs.spl import MINT_SIZE, TOKEN_ACCOUNT_SIZE
from wire.base58 import b58decode

__all__ = ["ACCOUNT_METHODS", "program_filters"]

_MAX_MULTIPLE_ACCOUNTS = 100
_MAX_FILTERS = 4
_MAX_MEMCMP_BYTES = 128
_LARGEST = 20


async def _decimals(node: Node, accounts: list[Account]) -> dict[Pubkey, int]:
    """The decimals of the mints of those of `accounts` that are token accounts."""
    found: dict[Pubkey, int] = {}
    for account in accounts:
        mint = token_account_mint(account)
        if mint is not None and mint not in found:
            found[mint] = await _mint_decimals(node, mint)
    return found


async def _mint_decimals(node: Node, mint: Pubkey) -> int:
    found = await node.ledger.get_mint(mint)
    return 0 if found is None else found.decimals


async def _encode(
    node: Node, account: Account, encoding: str, sliced: DataSlice | None = None
) -> Json:
    decimals = await _decimals(node, [account]) if encoding == "jsonParsed" else {}
    return encode_account(account, encoding, decimals, sliced)


async def _get_account_info(node: Node, params: list[Json]) -> Json:
    address = pubkey(param(params, 0))
    options = config(params, 1)
    account = await node.ledger.get_account(address)
    if account is None:
        return context(node, None, options)
    encoded = await _encode(node, account, account_encoding(options), data_slice(options))
    return context(node, encoded, options)


async def _get_multiple_accounts(node: Node, params: list[Json]) -> Json:
    addresses = param(params, 0)
    if not isinstance(addresses, list):
        raise invalid_params("Invalid params: expected a list of addresses")
    if len(addresses) > _MAX_MULTIPLE_ACCOUNTS:
        raise invalid_params(f"Too many inputs provided; max {_MAX_MULTIPLE_ACCOUNTS}")
    options = config(params, 1)
    encoding, sliced = account_encoding(options), data_slice(options)
    keys = [pubkey(a) for a in addresses]
    value = []
    for key in keys:
        account = await node.ledger.get_account(key)
        value.append(None if account is None else await _encode(node, account, encoding, sliced))
    return context(node, value, options)


async def _get_balance(node: Node, params: list[Json]) -> Json:
    options = config(params, 1)
    account = await node.ledger.get_account(pubkey(param(params, 0)))
    return context(node, 0 if account is None else account.lamports, options)


# --- getProgramAccounts -----------------------------------------------------------------

Filter = Callable[[Account], bool]


def _memcmp(spec: Json) -> Filter:
    if not isinstance(spec, dict):
        raise invalid_params("Invalid param: memcmp must be an object")
    offset = non_negative_int(spec.get("offset"), "memcmp.offset")
    text = spec.get("bytes")
    encoding = spec.get("encoding", "base58")
    if not isinstance(text, str):
        raise invalid_params("Invalid param: memcmp.bytes must be a string")
    if encoding == "base58":
        if len(text) > 175:  # base58 of 128 bytes
            raise invalid_params("Invalid param: base58 encoded bytes too large")
        try:
            wanted = b58decode(text)
        except ValueError as exc:
            raise invalid_params(f"Invalid param: {exc}") from exc
    elif encoding == "base64":
        try:
            wanted = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise invalid_params(f"Invalid param: {exc}") from exc
    else:
        raise invalid_params(f"Invalid param: unsupported memcmp encoding {encoding}")
    if len(wanted) > _MAX_MEMCMP_BYTES:
        raise invalid_params("Invalid param: encoded bytes too large")

    def matches(account: Account) -> bool:
        data = bytes(account.data)
        return data[offset : offset + len(wanted)] == wanted

    return matches


def _is_token_account(account: Account) -> bool:
    data = bytes(account.data)
    return (
        account.owner in TOKEN_PROGRAM_IDS
        and len(data) >= TOKEN_ACCOUNT_SIZE
        and data[108] != 0
        and (len(data) == TOKEN_ACCOUNT_SIZE or data[TOKEN_ACCOUNT_SIZE] == 2)
    )


def program_filters(specs: Json) -> list[Filter]:
    """getProgramAccounts' filters (dataSize, memcmp, tokenAccountState) as checks."""
    if specs is None:
        return []
    if not isinstance(specs, list):
        raise invalid_params("Invalid params: filters must be a list")
    if len(specs) > _MAX_FILTERS:
        raise invalid_params(f"Too many filters provided; max {_MAX_FILTERS}")
    result: list[Filter] = []
    for spec in specs:
        if not isinstance(spec, dict) or len(spec) != 1:
            raise invalid_params("Invalid params: unknown filter")
        if "dataSize" in spec:
            size = non_negative_int(spec["dataSize"], "dataSize")
            result.append(lambda account, size=size: len(account.data) == size)  # type: ignore[misc]
        elif "memcmp" in spec:
            result.append(_memcmp(spec["memcmp"]))
        elif "tokenAccountState" in spec:
            result.append(_is_token_account)
        else:
            raise invalid_params("Invalid params: unknown filter")
    return result


async def _program_accounts(
    node: Node, owner: Pubkey, filters: list[Filter]
) -> list[tuple[Pubkey, Account]]:
    found = []
    for address in node.ledger.known_addresses():
        account = await node.ledger.get_account(address)
        if account is None or account.owner != owner:
            continue
        if all(check(account) for check in filters):
            found.append((address, account))
    return found


async def _keyed(
    node: Node, found: list[tuple[Pubkey, Account]], encoding: str, sliced: DataSlice | None
) -> list[Json]:
    decimals = await _decimals(node, [a for _, a in found]) if encoding == "jsonParsed" else {}
    return [
        {"pubkey": str(address), "account": encode_account(account, encoding, decimals, sliced)}
        for address, account in found
    ]


async def _get_program_accounts(node: Node, params: list[Json]) -> Json:
    program = pubkey(param(params, 0))
    options = config(params, 1)
    encoding, sliced = account_encoding(options), data_slice(options)
    found = await _program_accounts(node, program, program_filters(options.get("filters")))
    value = await _keyed(node, found, encoding, sliced)
    return context(node, value, options) if options.get("withContext") else value


# --- tokens -----------------------------------------------------------------------------


async def _token_accounts_by(
    node: Node, params: list[Json], field_offset: int, delegated: bool
) -> Json:
    who = pubkey(param(params, 0))
    selector = config(params, 1)
    options = config(params, 2)
    encoding, sliced = account_encoding(options), data_slice(options)
    mint: Pubkey | None = None
    program = None
    if "mint" in selector:
        mint = pubkey(selector["mint"])
        mint_account = await node.ledger.get_account(mint)
        if mint_account is None or mint_account.owner not in TOKEN_PROGRAM_IDS:
            raise invalid_params("Invalid param: could not find mint")
        program = mint_account.owner
    elif "programId" in selector:
        program = pubkey(selector["programId"])
        if program not in TOKEN_PROGRAM_IDS:
            raise invalid_params("Invalid param: unrecognized Token program id")
    else:
        raise invalid_params("Invalid params: expected a mint or a programId")
    wanted = bytes(who)
    checks: list[Filter] = [_is_token_account]
    if delegated:
        checks.append(lambda a: bytes(a.data)[72:76] != b"\0\0\0\0")
    checks.append(lambda a: bytes(a.data)[field_offset : field_offset + 32] == wanted)
    if mint is not None:
        checks.append(lambda a: bytes(a.data)[:32] == bytes(mint))
    found = await _program_accounts(node, program, checks)
    return context(node, await _keyed(node, found, encoding, sliced), options)


async def _get_token_accounts_by_owner(node: Node, params: list[Json]) -> Json:
    return await _token_accounts_by(node, params, 32, delegated=False)


async def _get_token_accounts_by_delegate(node: Node, params: list[Json]) -> Json:
    return await _token_accounts_by(node, params, 76, delegated=True)


async def _get_token_account_balance(node: Node, params: list[Json]) -> Json:
    address = pubkey(param(params, 0))
    options = config(params, 1)
    account = await node.ledger.get_account(address)
    if account is None:
        raise invalid_params("Invalid param: could not find account")
    token = await node.ledger.get_token_account(address)
    if token is None:
        raise invalid_params("Invalid param: not a Token account")
    decimals = await _mint_decimals(node, token.mint)
    return context(node, ui_token_amount(token.amount, decimals), options)


async def _get_token_supply(node: Node, params: list[Json]) -> Json:
    address = pubkey(param(params, 0))
    options = config(params, 1)
    account = await node.ledger.get_account(address)
    if account is None:
        raise invalid_params("Invalid param: could not find account")
    if account.owner not in TOKEN_PROGRAM_IDS or len(account.data) < MINT_SIZE:
        raise invalid_params("Invalid param: not a Token mint")
    supply, decimals = struct.unpack_from("<QB", bytes(account.data), 36)
    return context(node, ui_token_amount(supply, decimals), options)


async def _get_largest_token_accounts(node: Node, params: list[Json]) -> Json:
    mint = pubkey(param(params, 0))
    options = config(params, 1)
    account = await node.ledger.get_account(mint)
    if account is None or account.owner not in TOKEN_PROGRAM_IDS or len(account.data) < MINT_SIZE:
        raise invalid_params("Invalid param: not a Token mint")
    decimals = bytes(account.data)[44]
    raw = bytes(mint)
    found = await _program_accounts(
        node, account.owner, [_is_token_account, lambda a: bytes(a.data)[:32] == raw]
    )
    amounts = [(struct.unpack_from("<Q", bytes(a.data), 64)[0], k) for k, a in found]
    amounts.sort(key=lambda item: (-item[0], bytes(item[1])))
    value = [
        {"address": str(key), **ui_token_amount(amount, decimals)}
        for amount, key in amounts[:_LARGEST]
    ]
    return context(node, value, options)


async def _get_minimum_balance(node: Node, params: list[Json]) -> Json:
    size = non_negative_int(param(params, 0), "data length")
    return await node.ledger.minimum_balance_for_rent_exemption(size)


ACCOUNT_METHODS: dict[str, Handler] = {
    "getAccountInfo": _get_account_info,
    "getMultipleAccounts": _get_multiple_accounts,
    "getBalance": _get_balance,
    "getProgramAccounts": _get_program_accounts,
    "getTokenAccountsByOwner": _get_token_accounts_by_owner,
    "getTokenAccountsByDelegate": _get_token_accounts_by_delegate,
    "getTokenAccountBalance": _get_token_account_balance,
    "getTokenSupply": _get_token_supply,
    "getLargestTokenAccounts": _get_largest_token_accounts,
    "getMinimumBalanceForRentExemption": _get_minimum_balance,
}
