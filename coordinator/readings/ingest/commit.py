"""One batch, from MQTT messages to a committed decision: the ingest service's
unit of work.

`decide_and_commit` parses each message (`screen`), reads the batch's device
records and checks every signature (`decide.verify_all`) before any
transaction opens, so no lock is held during the costly part; then
`commit_batch` opens the store's unit of work for the batch's gateways (their
locks held until it ends), loads the state, asks the pure `decide_batch`, writes
the decision and commits. The store loads and writes; only this module asks the
oracle. Both the in-process path and the worker processes run it.
"""

from collections.abc import Mapping, Sequence

from coordinator.readings.ingest.decide import BatchDecision, Verified, decide_batch, verify_all
from coordinator.readings.ingest.outcome import BatchOutcome, summarize
from coordinator.readings.ingest.screen import Incoming, Parsed, Rejected, parse
from coordinator.readings.ingest.store import ReadingStore
from coordinator.readings.oracle import DeviceRecord, Epochs, OracleConfig

__all__ = ["commit_batch", "decide_and_commit"]


def commit_batch(
    store: ReadingStore,
    parsed: Sequence[Parsed],
    screened: Sequence[Rejected],
    *,
    verified: Verified,
    now: int,
    config: OracleConfig,
    length_s: Epochs,
    devices: Mapping[str, DeviceRecord] | None = None,
) -> BatchDecision:
    """Decide `parsed` against the stored state and write the decision, with
    `screened` (the messages refused before the oracle), in one transaction.
    `devices`: the records the signatures were verified against, if read already."""
    with store.unit_of_work(p.signed.reading.gateway_id for p in parsed) as uow:
        state = uow.load(parsed, devices)
        decision = decide_batch(
            parsed, state, now=now, config=config, length_s=length_s, verified=verified
        )
        uow.write(decision, screened)
        uow.commit()
    return decision


def decide_and_commit(
    store: ReadingStore,
    root: str,
    oracle: OracleConfig,
    length_s: Epochs,
    now: int,
    batch: Sequence[Incoming],
) -> BatchOutcome:
    """Parse, verify and commit one batch (module doc)."""
    parsed: list[Parsed] = []
    rejected: list[Rejected] = []
    for incoming in batch:
        outcome = parse(root, incoming)
        if isinstance(outcome, Parsed):
            parsed.append(outcome)
        else:
            rejected.append(outcome)
    devices = store.devices(p.signed.reading.gateway_id for p in parsed)
    verified = verify_all(parsed, devices)
    decision = commit_batch(
        store,
        parsed,
        rejected,
        verified=verified,
        now=now,
        config=oracle,
        length_s=length_s,
        devices=devices,
    )
    return summarize(decision.accepted, [*rejected, *decision.rejected], len(decision.duplicates))
