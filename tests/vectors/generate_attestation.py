"""Regenerate tests/vectors/attestation_v1.json: the worked example of docs/protocol.md
("Merkle attestation", "Memos", "Clearing"), made by the coordinator's and the on-chain
layer's own code with fresh, immediately discarded gateway keys (and REC authority
wallet).

Run only when a format changes: `python tests/vectors/generate_attestation.py`; then
update the worked example in docs/protocol.md (tests/verify/test_vectors.py says where
the two differ). The vectors hold public keys, payloads and signatures, never a
private key.
"""

import dataclasses
import json
from pathlib import Path
from typing import Any

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from coordinator.governance import (
    Action,
    Param,
    ParamChange,
    Scope,
    change_memo,
    change_text,
    control_memo,
    control_text,
)
from coordinator.governance.notes import note_memo, note_text
from coordinator.market.rules import (
    ClearingInputs,
    Escrow,
    MarketRules,
    Order,
    Side,
    clear_epoch,
    encode_inputs,
    encode_result,
)
from coordinator.readings.oracle.merkle import EMPTY_ROOT, MerkleTree, leaf_bytes, leaf_hash
from edge.signing import DeviceKey
from programs.roles.oracle import attestation_memo, mint_memo
from programs.roles.registry import registration_memo
from programs.roles.trading import clearing_memo, settlement_memo
from wire.base58 import b58encode
from wire.clearing import encode_clearing
from wire.reading import Reading, SignedReading, encode_payload

OUT = Path(__file__).with_name("attestation_v1.json")
EPOCH = 1960032  # 2025-11-25 00:00 UTC / 900 s
START = EPOCH * 900
KWH = 10**9


def _two_keys() -> tuple[DeviceKey, DeviceKey]:
    """Two gateway keys whose ids sort one way as text and the other as bytes: the
    tree orders by key bytes, and the example shows it."""
    while True:
        a, b = DeviceKey.generate(), DeviceKey.generate()
        if (a.public_key < b.public_key) != (a.gateway_id < b.gateway_id):
            return a, b


def _reading(signed: SignedReading) -> dict[str, Any]:
    data = leaf_bytes(signed)
    return {
        "payload": encode_payload(signed).decode(),
        "signing_bytes_hex": signed.reading.signing_bytes().hex(),
        "signature_hex": signed.signature.hex(),
        "leaf_bytes_hex": data.hex(),
        "leaf_hex": leaf_hash(signed).hex(),
    }


def _clearing() -> dict[str, Any]:
    owners = [b58encode(bytes([i + 1]) * 32) for i in range(3)]
    alice, bob, carol = owners
    orders = [
        Order("a1", alice, Side.SELL, EPOCH, 2 * KWH, 30_000, 1),
        Order("b1", bob, Side.SELL, EPOCH, 1 * KWH, 25_000, 2),
        Order("c1", carol, Side.BUY, EPOCH, 2 * KWH, 40_000, 3),
        Order("c2", carol, Side.BUY, EPOCH, 2 * KWH, 32_000, 4),
        Order("b2", bob, Side.BUY, EPOCH, 1 * KWH, 50_000, 5),
        Order("a2", alice, Side.BUY, EPOCH, 1 * KWH, 20_000, 6),
    ]
    escrow = Escrow(
        energy={alice: 5 * KWH, bob: 1 * KWH},
        payment={alice: 10**6, bob: 10**6, carol: 100_000},
    )
    inputs = ClearingInputs(EPOCH, orders, escrow, MarketRules())
    result = clear_epoch(inputs)
    inputs_bytes, result_bytes = encode_inputs(inputs), encode_result(result)
    return {
        "owners": owners,
        "inputs": inputs_bytes.decode(),
        "inputs_hash": result.inputs_hash,
        "result": result_bytes.decode(),
        "result_hash": result.result_hash,
        "publication": encode_clearing(EPOCH, inputs_bytes, result_bytes).decode(),
    }


def governance_memos(wallet: Keypair) -> list[bytes]:
    """A pause, a parameter change and a note by the REC authority's `wallet`, which
    signs the parameter change's and the note's text (the memos carry the signature)."""
    by = str(wallet.pubkey())
    unsigned = ParamChange(
        name=Param.LATENESS_WINDOW_S, value="86400", from_epoch=EPOCH + 96, authority=by,
        issued_at=START,
    )  # fmt: skip
    signature = wallet.sign_message(change_text(unsigned).encode())
    change = dataclasses.replace(unsigned, signature=str(signature))
    note = "settlement paused while the meter firmware is updated"
    pause = [Scope.CLEARING, Scope.SETTLEMENT]
    return [
        control_memo(
            Action.PAUSE,
            pause,
            EPOCH,
            by,
            START,
            str(wallet.sign_message(control_text(Action.PAUSE, pause, EPOCH, by, START).encode())),
        ),
        change_memo(change),
        note_memo(by, START, note, str(wallet.sign_message(note_text(by, START, note).encode()))),
    ]


def main() -> None:
    first, second = _two_keys()
    plan = [  # arrival order, not tree order
        (second, "sdm630-0001", 41, 60, 120_000, 5_000),
        (first, "sdm630-0001", 7, 120, 88_000, 0),
        (second, "sdm630-0002", 42, 300, 64_000, 2_250),
        (first, "sdm630-0001", 8, 420, 88_450, 0),
        (second, "sdm630-0001", 43, 600, 120_250, 5_900),
    ]
    signed = [
        key.sign(Reading(key.gateway_id, meter, seq, START + dt, imp, exp))
        for key, meter, seq, dt, imp, exp in plan
    ]
    order = sorted(range(len(signed)), key=lambda i: (signed[i].reading.gateway_key,
                                                      signed[i].reading.seq))  # fmt: skip
    tree = MerkleTree.build([leaf_hash(signed[i]) for i in order])
    proofs = [
        {
            "reading": order[index],
            "leaf_index": index,
            "leaf_count": len(order),
            "path": [{"side": str(side), "sibling": h.hex()} for side, h in tree.proof(index)],
        }
        for index in range(len(order))
    ]
    clearing = _clearing()
    owner = Pubkey.from_string(clearing["owners"][0])
    memos = [
        registration_memo(first.gateway_id, "sdm630-0001", owner),
        mint_memo(EPOCH),
        attestation_memo(EPOCH, tree.root),
        clearing_memo(EPOCH, clearing["inputs_hash"], clearing["result_hash"]),
        settlement_memo(EPOCH),
        attestation_memo(EPOCH, tree.root, attempt=1),  # a retry of a refused one
        *governance_memos(Keypair()),
    ]
    doc = {
        "format": "gridtokenx attestation v1",
        "note": "Generated by tests/vectors/generate_attestation.py; the keys were discarded.",
        "epoch": EPOCH,
        "gateways": [
            {"gateway_id": k.gateway_id, "public_key_hex": k.public_key.hex()}
            for k in (first, second)
        ],
        "readings": [_reading(s) for s in signed],
        "tree_order": order,
        "levels": [[h.hex() for h in level] for level in tree.levels],
        "root": tree.root.hex(),
        "empty_root": EMPTY_ROOT.hex(),
        "proofs": proofs,
        "memos": [m.decode() for m in memos],
        "clearing": clearing,
    }
    OUT.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()
