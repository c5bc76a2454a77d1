"""The oracle's pure core: plausibility rules, epoch energy, Merkle attestation.

No I/O, no clock, no logging: the ingest service supplies the state and the
time, and stores what comes back.

- `evaluate` decides one signed reading (`Accepted` / `Duplicate` / `Rejected`),
  running the rules of `coordinator.readings.oracle.rules` in a documented order.
- `coordinator.readings.oracle.calendar` numbers the epochs (length changes included).
- `coordinator.readings.oracle.epochs` splits each meter's energy over epochs exactly.
- `summarize_epoch` totals an epoch and computes its mint.
- `coordinator.readings.oracle.merkle` builds the epoch's attestation root and proofs.
- `coordinator.readings.oracle.signatures` checks a reading's Ed25519 signature.
"""

from coordinator.readings.oracle.calendar import EpochCalendar, Epochs, Segment, calendar_of
from coordinator.readings.oracle.config import OracleConfig
from coordinator.readings.oracle.epochs import (
    EPOCH_LENGTH_S,
    AcceptedPoint,
    EpochEnergy,
    accounting_epoch,
    epoch_of,
    epoch_span,
    epoch_start,
    interval_energy,
    merge_epochs,
    meter_epoch_energy,
    split_pro_rata,
)
from coordinator.readings.oracle.evaluate import (
    DEFAULT_CONFIG,
    evaluate,
    rejected_from_protocol_error,
)
from coordinator.readings.oracle.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    ProofStep,
    Side,
    epoch_root,
    leaf_hash,
    merkle_proof,
    merkle_root,
    ordered_leaves,
    verify_proof,
    verify_reading,
)
from coordinator.readings.oracle.reasons import Flag, Reason, protocol_reason
from coordinator.readings.oracle.records import DeviceRecord, MeterState
from coordinator.readings.oracle.summary import (
    BASE_UNITS_PER_WH,
    EpochSummary,
    MeterEpochEnergy,
    MeterKey,
    summarize_epoch,
    wh_to_base_units,
)
from coordinator.readings.oracle.verdict import Accepted, Duplicate, Rejected, Verdict

__all__ = [
    "BASE_UNITS_PER_WH",
    "DEFAULT_CONFIG",
    "EMPTY_ROOT",
    "EPOCH_LENGTH_S",
    "Accepted",
    "AcceptedPoint",
    "DeviceRecord",
    "Duplicate",
    "EpochCalendar",
    "EpochEnergy",
    "EpochSummary",
    "Epochs",
    "Flag",
    "MerkleTree",
    "MeterEpochEnergy",
    "MeterKey",
    "MeterState",
    "OracleConfig",
    "ProofStep",
    "Reason",
    "Rejected",
    "Segment",
    "Side",
    "Verdict",
    "accounting_epoch",
    "calendar_of",
    "epoch_of",
    "epoch_root",
    "epoch_span",
    "epoch_start",
    "evaluate",
    "interval_energy",
    "leaf_hash",
    "merge_epochs",
    "merkle_proof",
    "merkle_root",
    "meter_epoch_energy",
    "ordered_leaves",
    "protocol_reason",
    "rejected_from_protocol_error",
    "split_pro_rata",
    "summarize_epoch",
    "verify_proof",
    "verify_reading",
    "wh_to_base_units",
]
