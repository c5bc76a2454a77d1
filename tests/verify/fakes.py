"""An in-memory public API and Solana RPC for the verifier's unit tests: `FakeHttp`
answers GETs from a dict and getTransaction from real signed transactions built with
the on-chain layer's own code, so only the network is fake."""

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.transaction import Transaction, VersionedTransaction

from programs import spl
from programs.roles.transactions import sign
from verify.errors import Unavailable

API = "http://coordinator.test"
RPC = "http://rpc.test"
BLOCKHASH = Hash.default()


def memo_transaction(
    texts: Sequence[bytes], signer: Keypair, payer: Keypair | None = None
) -> Transaction:
    """A transaction with one memo per text, each naming `signer` as its signer."""
    payer = payer or Keypair()
    return sign([spl.memo(t, [signer.pubkey()]) for t in texts], payer, [signer], BLOCKHASH)


def v0_memo_transaction(text: bytes, signer: Keypair) -> VersionedTransaction:
    message = MessageV0.try_compile(
        signer.pubkey(), [spl.memo(text, [signer.pubkey()])], [], BLOCKHASH
    )
    return VersionedTransaction(message, [signer])


@dataclass
class FakeHttp:
    """GET answers by URL; POST answers getTransaction for the transactions it holds."""

    pages: dict[str, bytes] = field(default_factory=dict)
    transactions: dict[str, tuple[bytes, object]] = field(default_factory=dict)
    answer_as: dict[str, str] = field(default_factory=dict)  # signature -> another one's
    requests: list[str] = field(default_factory=list)

    def json(self, path: str, document: Any) -> None:
        self.pages[API + path] = json.dumps(document).encode()

    def land(self, tx: Transaction | VersionedTransaction, error: object = None) -> str:
        signature = str(tx.signatures[0])
        self.transactions[signature] = (bytes(tx), error)
        return signature

    def get(self, url: str, headers: Mapping[str, str]) -> bytes:
        self.requests.append(url)
        if url not in self.pages:
            raise Unavailable(f"{url}: HTTP 404: not_found")
        return self.pages[url]

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> bytes:
        assert url == RPC
        request = json.loads(body)
        assert request["method"] == "getTransaction"
        signature, config = request["params"]
        assert config["encoding"] == "base64"
        found = self.transactions.get(self.answer_as.get(signature, signature))
        result = None
        if found is not None:
            raw, error = found
            result = {"slot": 7, "blockTime": None, "meta": {"err": error},
                      "transaction": [base64.b64encode(raw).decode(), "base64"]}  # fmt: skip
        return json.dumps({"jsonrpc": "2.0", "id": request["id"], "result": result}).encode()
