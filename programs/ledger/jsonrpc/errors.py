"""JSON-RPC errors as a validator answers them, and transaction errors in the RPC's
JSON form with the messages a validator prints for them.

    RpcError(code, message, data)       an error answer; `to_json()` its body
    ui_transaction_error(text)          a journaled error (solders' text) as RPC JSON:
                                        "BlockhashNotFound",
                                        {"InstructionError": [0, {"Custom": 1}]},
                                        {"InsufficientFundsForRent": {"account_index": 1}}
    transaction_error_message(err)      that JSON as a validator's Display prints it:
                                        "Error processing Instruction 0: custom program
                                        error: 0x1"

Codes: the JSON-RPC 2.0 ones (-32700 parse, -32600 invalid request, -32601 unknown
method, -32602 invalid params, -32603 internal) and the validator's server errors
(-32002 preflight failure, -32003 signature verification failure, -32004 block not
available, -32005 node unhealthy, -32007 slot skipped, -32008 no snapshot, -32015
unsupported transaction version, -32016 minimum context slot not reached).
"""

import re
from typing import Any

__all__ = [
    "BLOCK_NOT_AVAILABLE",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "MIN_CONTEXT_SLOT_NOT_REACHED",
    "NODE_UNHEALTHY",
    "NO_SNAPSHOT",
    "PARSE_ERROR",
    "SEND_TRANSACTION_PREFLIGHT_FAILURE",
    "SIGNATURE_VERIFICATION_FAILURE",
    "SLOT_SKIPPED",
    "UNSUPPORTED_TRANSACTION_VERSION",
    "Json",
    "RpcError",
    "invalid_params",
    "transaction_error_message",
    "ui_transaction_error",
]

Json = Any  # a JSON value as json.loads returns it

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002
SIGNATURE_VERIFICATION_FAILURE = -32003
BLOCK_NOT_AVAILABLE = -32004
NODE_UNHEALTHY = -32005
SLOT_SKIPPED = -32007
NO_SNAPSHOT = -32008
UNSUPPORTED_TRANSACTION_VERSION = -32015
MIN_CONTEXT_SLOT_NOT_REACHED = -32016


class RpcError(Exception):
    """A JSON-RPC error answer."""

    def __init__(self, code: int, message: str, data: Json = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    def to_json(self) -> dict[str, Json]:
        error: dict[str, Json] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


def invalid_params(message: str) -> RpcError:
    return RpcError(INVALID_PARAMS, message)


# --- a journaled error's text (solders' str of a TransactionError) as RPC JSON ----------

_FIELDLESS = re.compile(r"^TransactionErrorFieldless\.(\w+)$")
_INSTRUCTION = re.compile(r"^TransactionErrorInstructionError\(\((\d+), (.*)\)\)$", re.DOTALL)
_INSTRUCTION_FIELDLESS = re.compile(r"^Fieldless\((\w+)\)$")
_INSTRUCTION_CUSTOM = re.compile(r"^Tagged\(InstructionErrorCustom\((\d+)\)\)$")
_INSTRUCTION_BORSH = re.compile(r"^Tagged\(InstructionErrorBorshIO\(.*\)\)$", re.DOTALL)
_DUPLICATE = re.compile(r"^TransactionErrorDuplicateInstruction\((\d+)\)$")
_ACCOUNT_INDEX = re.compile(
    r"^TransactionError(InsufficientFundsForRent|ProgramExecutionTemporarilyRestricted)"
    r"\s*\{\s*account_index:\s*(\d+),?\s*\}$"
)


def ui_transaction_error(text: str) -> Json:
    """`text` (how the ledger journals a TransactionError) in the RPC's JSON form."""
    fieldless = _FIELDLESS.match(text)
    if fieldless:
        return fieldless.group(1)
    instruction = _INSTRUCTION.match(text)
    if instruction:
        index, inner = int(instruction.group(1)), instruction.group(2)
        return {"InstructionError": [index, _ui_instruction_error(inner)]}
    duplicate = _DUPLICATE.match(text)
    if duplicate:
        return {"DuplicateInstruction": int(duplicate.group(1))}
    indexed = _ACCOUNT_INDEX.match(text)
    if indexed:
        return {indexed.group(1): {"account_index": int(indexed.group(2))}}
    return text  # an error this version does not know: its name, as a fieldless one


def _ui_instruction_error(inner: str) -> Json:
    fieldless = _INSTRUCTION_FIELDLESS.match(inner)
    if fieldless:
        return fieldless.group(1)
    custom = _INSTRUCTION_CUSTOM.match(inner)
    if custom:
        return {"Custom": int(custom.group(1))}
    if _INSTRUCTION_BORSH.match(inner):
        return "BorshIoError"
    return inner


# --- messages, as a validator's Display prints them --------------------------------------

_TRANSACTION_MESSAGES = {
    "AccountInUse": "Account in use",
    "AccountLoadedTwice": "Account loaded twice",
    "AccountNotFound": "Attempt to debit an account but found no record of a prior credit.",
    "ProgramAccountNotFound": "Attempt to load a program that does not exist",
    "InsufficientFundsForFee": "Insufficient funds for fee",
    "InvalidAccountForFee": "This account may not be used to pay transaction fees",
    "AlreadyProcessed": "This transaction has already been processed",
    "BlockhashNotFound": "Blockhash not found",
    "CallChainTooDeep": "Loader call chain is too deep",
    "MissingSignatureForFee": "Transaction requires a fee but has no signature present",
    "InvalidAccountIndex": "Transaction contains an invalid account reference",
    "SignatureFailure": "Transaction did not pass signature verification",
    "InvalidProgramForExecution": "This program may not be used for executing instructions",
    "SanitizeFailure": "Transaction failed to sanitize accounts offsets correctly",
    "ClusterMaintenance": "Transactions are currently disabled due to cluster maintenance",
    "AccountBorrowOutstanding": (
        "Transaction processing left an account with an outstanding borrowed reference"
    ),
    "WouldExceedMaxBlockCostLimit": "Transaction would exceed max Block Cost Limit",
    "UnsupportedVersion": "Transaction version is unsupported",
    "InvalidWritableAccount": "Transaction loads a writable account that cannot be written",
    "WouldExceedMaxAccountCostLimit": "Transaction would exceed max account limit within the block",
    "WouldExceedAccountDataBlockLimit": (
        "Transaction would exceed account data limit within the block"
    ),
    "TooManyAccountLocks": "Transaction locked too many accounts",
    "AddressLookupTableNotFound": "Transaction loads an address table account that doesn't exist",
    "InvalidAddressLookupTableOwner": (
        "Transaction loads an address table account with an invalid owner"
    ),
    "InvalidAddressLookupTableData": (
        "Transaction loads an address table account with invalid data"
    ),
    "InvalidAddressLookupTableIndex": "Transaction address table lookup uses an invalid index",
    "InvalidRentPayingAccount": (
        "Transaction leaves an account with a lower balance than rent-exempt minimum"
    ),
    "WouldExceedMaxVoteCostLimit": "Transaction would exceed max Vote Cost Limit",
    "WouldExceedAccountDataTotalLimit": "Transaction would exceed total account data limit",
    "MaxLoadedAccountsDataSizeExceeded": "Transaction exceeded max loaded accounts data size cap",
    "InvalidLoadedAccountsDataSizeLimit": (
        "LoadedAccountsDataSizeLimit set for transaction must be greater than 0."
    ),
    "ResanitizationNeeded": "ResanitizationNeeded",
    "UnbalancedTransaction": "Sum of account balances before and after transaction do not match",
    "ProgramCacheHitMaxLimit": "Program cache hit max limit",
    "CommitCancelled": "CommitCancelled",
}

_INSTRUCTION_MESSAGES = {
    "GenericError": "generic instruction error",
    "InvalidArgument": "invalid program argument",
    "InvalidInstructionData": "invalid instruction data",
    "InvalidAccountData": "invalid account data for instruction",
    "AccountDataTooSmall": "account data too small for instruction",
    "InsufficientFunds": "insufficient funds for instruction",
    "IncorrectProgramId": "incorrect program id for instruction",
    "MissingRequiredSignature": "missing required signature for instruction",
    "AccountAlreadyInitialized": "instruction requires an uninitialized account",
    "UninitializedAccount": "instruction requires an initialized account",
    "UnbalancedInstruction": "sum of account balances before and after instruction do not match",
    "ModifiedProgramId": "instruction illegally modified the program id of an account",
    "ExternalAccountLamportSpend": (
        "instruction spent from the balance of an account it does not own"
    ),
    "ExternalAccountDataModified": "instruction modified data of an account it does not own",
    "ReadonlyLamportChange": "instruction changed the balance of a read-only account",
    "ReadonlyDataModified": "instruction modified data of a read-only account",
    "DuplicateAccountIndex": "instruction contains duplicate accounts",
    "ExecutableModified": "instruction changed executable bit of an account",
    "RentEpochModified": "instruction modified rent epoch of an account",
    "NotEnoughAccountKeys": "insufficient account keys for instruction",
    "AccountDataSizeChanged": (
        "program other than the account's owner changed the size of the account data"
    ),
    "AccountNotExecutable": "instruction expected an executable account",
    "AccountBorrowFailed": (
        "instruction tries to borrow reference for an account which is already borrowed"
    ),
    "AccountBorrowOutstanding": "instruction left account with an outstanding borrowed reference",
    "DuplicateAccountOutOfSync": "instruction modifications of multiply-passed account differ",
    "InvalidError": "program returned invalid error code",
    "ExecutableDataModified": "instruction changed executable accounts data",
    "ExecutableLamportChange": "instruction changed the balance of an executable account",
    "ExecutableAccountNotRentExempt": "executable accounts must be rent exempt",
    "UnsupportedProgramId": "Unsupported program id",
    "CallDepth": "Cross-program invocation call depth too deep",
    "MissingAccount": "An account required by the instruction is missing",
    "ReentrancyNotAllowed": (
        "Cross-program invocation reentrancy not allowed for this instruction"
    ),
    "MaxSeedLengthExceeded": "Length of the seed is too long for address generation",
    "InvalidSeeds": "Provided seeds do not result in a valid address",
    "InvalidRealloc": "Failed to reallocate account data",
    "ComputationalBudgetExceeded": "Computational budget exceeded",
    "PrivilegeEscalation": (
        "Cross-program invocation with unauthorized signer or writable account"
    ),
    "ProgramEnvironmentSetupFailure": "Failed to create program execution environment",
    "ProgramFailedToComplete": "Program failed to complete",
    "ProgramFailedToCompile": "Program failed to compile",
    "Immutable": "Account is immutable",
    "IncorrectAuthority": "Incorrect authority provided",
    "BorshIoError": "Failed to serialize or deserialize account data",
    "AccountNotRentExempt": "An account does not have enough lamports to be rent-exempt",
    "InvalidAccountOwner": "Invalid account owner",
    "ArithmeticOverflow": "Program arithmetic overflowed",
    "UnsupportedSysvar": "Unsupported sysvar",
    "IllegalOwner": "Provided owner is not allowed",
    "MaxAccountsDataAllocationsExceeded": (
        "Accounts data allocations exceeded the maximum allowed per transaction"
    ),
    "MaxAccountsExceeded": "Max accounts exceeded",
    "MaxInstructionTraceLengthExceeded": "Max instruction trace length exceeded",
    "BuiltinProgramsMustConsumeComputeUnits": "Builtin programs must consume compute units",
}


def transaction_error_message(err: Json) -> str:
    """The RPC JSON of a TransactionError as a validator's Display prints it."""
    if isinstance(err, str):
        return _TRANSACTION_MESSAGES.get(err, err)
    if isinstance(err, dict) and len(err) == 1:
        ((name, value),) = err.items()
        if name == "InstructionError" and isinstance(value, list) and len(value) == 2:
            return f"Error processing Instruction {value[0]}: {_instruction_message(value[1])}"
        if name == "DuplicateInstruction":
            return f"Transaction contains a duplicate instruction ({value}) that is not allowed"
        if name == "InsufficientFundsForRent" and isinstance(value, dict):
            index = value.get("account_index")
            return f"Transaction results in an account ({index}) with insufficient funds for rent"
        if name == "ProgramExecutionTemporarilyRestricted" and isinstance(value, dict):
            index = value.get("account_index")
            return (
                f"Execution of the program referenced by account at index {index} is "
                "temporarily restricted."
            )
    return str(err)


def _instruction_message(err: Json) -> str:
    if isinstance(err, dict) and "Custom" in err:
        return f"custom program error: {int(err['Custom']):#x}"
    if isinstance(err, str):
        return _INSTRUCTION_MESSAGES.get(err, err)
    return str(err)
