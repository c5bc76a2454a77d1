"""`gtx-verify`: anyone's check of GridTokenX's public evidence, from the coordinator's
public API and a Solana RPC endpoint alone.

- `reading`: a reading's Merkle proof, from its signed payload to the root the
  oracle attested on chain;
- `market`: an epoch's clearing, recomputed from its published inputs and compared
  with the published result, its hashes and the attestation memo;
- `clearing`: the clearing itself, written from docs/protocol.md, not shared with
  the coordinator; `merkle`: the reading tree; `memos`: the memo texts;
- `solana`: one transaction read from an RPC endpoint, its signatures checked;
- `api`, `http`: the public API and the one HTTP door; `cli`: the command.

Of the project it imports `wire` only (the contract both ends share), nothing of
the coordinator or the on-chain layer (an import contract in pyproject.toml), so
what it checks rests on the spec and public data, not on the code it checks.
"""

from verify.clearing import canonical, clear
from verify.errors import Refused, Unavailable, VerifyError
from verify.market import check_clearing
from verify.memos import Memo, parse_memo
from verify.reading import ReadingProof, check_reading, read_proof

__all__ = [
    "Memo",
    "ReadingProof",
    "Refused",
    "Unavailable",
    "VerifyError",
    "canonical",
    "check_clearing",
    "check_reading",
    "clear",
    "parse_memo",
    "read_proof",
]
