"""The deployment's public addresses: the mints and the keys that sign each memo.
Public (they are on chain for anyone to see); `gtx-verify` reads the keys whose
signatures an attestation must carry here, unless they are pinned on its command line."""

from typing import Annotated

from fastapi import APIRouter, Depends

from coordinator.api.deps import require_chain
from coordinator.api.ledger_view import ChainAccess
from coordinator.api.schemas import DeploymentOut
from programs.spl import MEMO_PROGRAM_ID

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/deployment", tags=["deployment"])


@router.get("")
def deployment(chain: Annotated[ChainAccess, Depends(require_chain)]) -> DeploymentOut:
    d = chain.deployment
    return DeploymentOut(
        energy_mint=str(d.energy_mint), payment_mint=str(d.payment_mint), oracle=str(d.oracle),
        rec_authority=str(d.rec_authority), settlement_authority=str(d.settlement_authority),
        mint_multisig=None if d.mint_multisig is None else str(d.mint_multisig),
        memo_program=str(MEMO_PROGRAM_ID),
    )  # fmt: skip
