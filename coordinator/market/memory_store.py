"""The market store in dictionaries, for unit tests of the services.

`MemoryMarketStore` keeps what `SqlMarketStore` keeps, with the same answers
(the service tests run on it; the SQL adapter has its own tests against
PostgreSQL and SQLite). Not durable, not shared between processes.
"""

import datetime as dt
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from coordinator.market.escrow import EscrowNeed
from coordinator.market.records import (
    LIVE_STATUSES,
    ClearingView,
    MatchOutcome,
    MatchStatus,
    MatchToSettle,
    MatchView,
    OrderStatus,
    OrderView,
    SettlementStatus,
    SettlementView,
    status_of_fill,
)
from coordinator.market.rules import ClearingResult, Order
from programs.jobs import Job, JobStore
from programs.jobstore import MemoryJobStore

__all__ = ["MemoryMarketStore"]


class _Jobs(MemoryJobStore):
    def all(self) -> list[Job]:
        return sorted(self._jobs.values(), key=lambda job: job.key)


@dataclass(slots=True)
class _Clearing:
    view: ClearingView
    inputs: bytes
    result: bytes
    settled_at: dt.datetime | None = None


def _epoch_of(job: Job) -> int:
    return int(json.loads(job.payload)["epoch"])


class MemoryMarketStore:
    """A `coordinator.market.store.MarketStore` in dictionaries."""

    def __init__(self) -> None:
        self._orders: dict[str, OrderView] = {}
        self._clearings: dict[int, _Clearing] = {}
        self._matches: dict[tuple[int, int], MatchView] = {}  # (epoch, idx)
        self.parked: dict[tuple[int, int], str] = {}  # (epoch, idx): last job key
        self._seq = 0
        self._settlements = _Jobs()
        self._attestations = _Jobs()
        self._tables = MemoryJobStore()

    # --- orders ---

    def insert_order(
        self,
        order: Order,
        *,
        status: OrderStatus,
        expires_at: dt.datetime | None,
        now: dt.datetime,
    ) -> OrderView:
        if order.order_id in self._orders:
            raise ValueError(f"duplicate order id {order.order_id!r}")
        self._seq += 1
        view = OrderView(
            order_id=order.order_id,
            owner=order.owner,
            side=order.side,
            epoch=order.epoch,
            quantity=order.quantity,
            limit_price=order.limit_price,
            seq=self._seq,
            status=status,
            reason=None,
            eligible=0,
            filled=0,
            payment=0,
            settled=0,
            settlement_status=None,
            settlement_error=None,
            expires_at=expires_at,
            created_at=now,
        )
        self._orders[order.order_id] = view
        return view

    def get_order(self, order_id: str) -> OrderView | None:
        return self._orders.get(order_id)

    def list_orders(
        self,
        *,
        owner: str | None = None,
        epoch: int | None = None,
        statuses: Sequence[OrderStatus] | None = None,
        limit: int = 100,
        before_seq: int | None = None,
    ) -> list[OrderView]:
        found = [
            o
            for o in self._orders.values()
            if (owner is None or o.owner == owner)
            and (epoch is None or o.epoch == epoch)
            and (statuses is None or o.status in statuses)
            and (before_seq is None or o.seq < before_seq)
        ]
        return sorted(found, key=lambda o: o.seq, reverse=True)[:limit]

    def live_orders(self, owner: str) -> list[OrderView]:
        return self._live(lambda o: o.owner == owner)

    def open_orders_for(self, epoch: int) -> list[OrderView]:
        return self._live(lambda o: o.epoch == epoch)

    def _live(self, where: Callable[[OrderView], bool]) -> list[OrderView]:
        found = (o for o in self._orders.values() if o.status in LIVE_STATUSES and where(o))
        return sorted(found, key=lambda o: o.seq)

    def set_open(self, order_ids: Sequence[str], now: dt.datetime) -> int:
        opened = 0
        for order_id in order_ids:
            order = self._orders.get(order_id)
            if order is not None and order.status is OrderStatus.PENDING:
                self._orders[order_id] = replace(order, status=OrderStatus.OPEN)
                opened += 1
        return opened

    def cancel_order(self, order_id: str, owner: str, now: dt.datetime) -> OrderView | None:
        order = self._orders.get(order_id)
        if order is None or order.owner != owner:
            return None
        if order.status in LIVE_STATUSES:
            order = self._orders[order_id] = replace(order, status=OrderStatus.CANCELLED)
        return order

    def owed(self, owner: str) -> EscrowNeed:
        return self.owed_by_owner([owner])[owner]

    def owed_by_owner(self, owners: Iterable[str]) -> dict[str, EscrowNeed]:
        wanted = set(owners)
        energy = dict.fromkeys(wanted, 0)
        payment = dict.fromkeys(wanted, 0)
        for m in self._matches.values():
            if m.status is MatchStatus.PENDING:
                if m.seller in wanted:
                    energy[m.seller] += m.quantity
                if m.buyer in wanted:
                    payment[m.buyer] += m.payment
        return {o: EscrowNeed(energy[o], payment[o]) for o in wanted}

    # --- clearings ---

    def is_cleared(self, epoch: int) -> bool:
        return epoch in self._clearings

    def save_clearing(
        self,
        result: ClearingResult,
        inputs_bytes: bytes,
        result_bytes: bytes,
        now: dt.datetime,
        expired: Mapping[str, str] | None = None,
        excluded: Mapping[str, str] | None = None,
    ) -> bool:
        if result.epoch in self._clearings:
            return False
        for reasons, status in (
            (expired or {}, OrderStatus.EXPIRED),
            (excluded or {}, OrderStatus.EXCLUDED),
        ):
            for order_id, reason in reasons.items():
                order = self._orders.get(order_id)
                if order is not None and order.status in LIVE_STATUSES:
                    self._orders[order_id] = replace(order, status=status, reason=reason)
        view = ClearingView(
            epoch=result.epoch,
            inputs_hash=result.inputs_hash,
            result_hash=result.result_hash,
            pricing=result.pricing.value,
            clearing_price=result.clearing_price,
            volume=result.volume,
            turnover=result.turnover,
            order_count=len(result.outcomes),
            match_count=len(result.matches),
            cleared_at=now,
            published_at=None,
            attestation_signature=None,
        )
        self._clearings[result.epoch] = _Clearing(view, inputs_bytes, result_bytes)
        for idx, m in enumerate(result.matches):
            self._matches[result.epoch, idx] = MatchView(
                epoch=result.epoch,
                idx=idx,
                buy_order_id=m.buy_order_id,
                sell_order_id=m.sell_order_id,
                buyer=m.buyer,
                seller=m.seller,
                quantity=m.quantity,
                price=m.price,
                payment=m.payment,
                status=MatchStatus.PENDING,
                signature=None,
                error=None,
            )
        matched = {m.buy_order_id for m in result.matches} | {
            m.sell_order_id for m in result.matches
        }
        for o in result.outcomes:
            order = self._orders.get(o.order_id)
            if order is not None:
                self._orders[o.order_id] = replace(
                    order,
                    status=status_of_fill(o.status),
                    reason=o.reason,
                    eligible=o.eligible,
                    filled=o.filled,
                    payment=o.payment,
                    settlement_status=(SettlementStatus.PENDING if o.order_id in matched else None),
                )
        return True

    def get_clearing(self, epoch: int) -> ClearingView | None:
        stored = self._clearings.get(epoch)
        if stored is None:
            return None
        attested = [
            job
            for job in self._attestations.all()
            if _epoch_of(job) == epoch and job.status == "confirmed"
        ]
        signature = attested[0].signature if attested else None
        return replace(
            stored.view, attestation_signature=None if signature is None else str(signature)
        )

    def get_clearing_bytes(self, epoch: int) -> tuple[bytes, bytes] | None:
        stored = self._clearings.get(epoch)
        return None if stored is None else (stored.inputs, stored.result)

    def mark_published(self, epoch: int, now: dt.datetime) -> None:
        stored = self._clearings.get(epoch)
        if stored is not None:
            stored.view = replace(stored.view, published_at=now)

    def unpublished_epochs(self, limit: int = 100) -> list[int]:
        return sorted(e for e, c in self._clearings.items() if c.view.published_at is None)[:limit]

    # --- matches and settlement ---

    def matches_to_settle(self, epoch: int) -> list[MatchToSettle]:
        return [
            MatchToSettle(m.idx, m.seller, m.buyer, m.quantity, m.payment)
            for m in self._of_epoch(epoch)
        ]

    def _of_epoch(self, epoch: int) -> list[MatchView]:
        return sorted((m for m in self._matches.values() if m.epoch == epoch), key=lambda m: m.idx)

    def list_matches(
        self, *, owner: str | None = None, epoch: int | None = None, limit: int = 100
    ) -> list[MatchView]:
        found = [
            m
            for m in self._matches.values()
            if (owner is None or owner in (m.buyer, m.seller))
            and (epoch is None or m.epoch == epoch)
        ]
        return sorted(found, key=lambda m: (-m.epoch, m.idx))[:limit]

    def uncleared_epochs(self, before: int) -> list[int]:
        live = self._live(lambda o: o.epoch < before)
        return sorted({o.epoch for o in live if o.epoch not in self._clearings})

    def unsettled_epochs(self) -> list[int]:
        return sorted(
            e for e, c in self._clearings.items() if c.view.match_count > 0 and c.settled_at is None
        )

    def parked_matches(self, limit: int = 1000) -> list[tuple[int, MatchToSettle, str]]:
        out = []
        for (epoch, idx), job_key in sorted(self.parked.items()):
            m = self._matches[epoch, idx]
            if m.status is MatchStatus.FAILED:
                out.append((epoch, MatchToSettle(idx, m.seller, m.buyer, m.quantity, m.payment),
                            job_key))  # fmt: skip
        return out[:limit]

    def resolve_parked(self, epoch: int, idx: int, now: dt.datetime) -> None:
        self.parked.pop((epoch, idx), None)

    def record_match_outcomes(self, epoch: int, outcomes: Sequence[MatchOutcome]) -> None:
        for o in outcomes:
            key = (epoch, o.idx)
            if o.parked and key in self._matches:
                self.parked[key] = o.settlement_key
            if key in self._matches:
                self._matches[key] = replace(
                    self._matches[key],
                    status=o.status,
                    signature=None if o.signature is None else str(o.signature),
                    error=o.error,
                )

    def record_settlement(
        self, epoch: int, outcomes: Sequence[MatchOutcome], now: dt.datetime
    ) -> None:
        self.record_match_outcomes(epoch, outcomes)
        matches = self._of_epoch(epoch)
        settled: dict[str, int] = {}
        worst: dict[str, int] = {}
        errors: dict[str, str] = {}
        rank = {MatchStatus.SETTLED: 0, MatchStatus.PENDING: 1, MatchStatus.FAILED: 2}
        for m in matches:  # by idx: the first error of each order wins
            for order_id in (m.buy_order_id, m.sell_order_id):
                done = m.quantity if m.status is MatchStatus.SETTLED else 0
                settled[order_id] = settled.get(order_id, 0) + done
                worst[order_id] = max(worst.get(order_id, 0), rank[m.status])
                if m.error is not None:
                    errors.setdefault(order_id, m.error)
        status = {0: SettlementStatus.SETTLED, 1: SettlementStatus.PENDING}
        for order_id, quantity in settled.items():
            order = self._orders.get(order_id)
            if order is not None:
                self._orders[order_id] = replace(
                    order,
                    settled=quantity,
                    settlement_status=status.get(worst[order_id], SettlementStatus.FAILED),
                    settlement_error=errors.get(order_id),
                )
        stored = self._clearings.get(epoch)
        pending = any(m.status is MatchStatus.PENDING for m in matches)
        if stored is not None and stored.settled_at is None and not pending:
            stored.settled_at = now

    def list_settlements(self, epoch: int) -> list[SettlementView]:
        return [
            SettlementView(
                key=job.key,
                epoch=epoch,
                status=job.status,
                signature=None if job.signature is None else str(job.signature),
                slot=job.slot,
                error=job.error,
                match_indices=tuple(int(t[0]) for t in json.loads(job.payload)["trades"]),
            )
            for job in self._settlements.all()
            if _epoch_of(job) == epoch
        ]

    # --- chain jobs ---

    def settlement_jobs(self, clock: Callable[[], dt.datetime] | None = None) -> JobStore:
        return self._settlements

    def attestation_jobs(self, clock: Callable[[], dt.datetime] | None = None) -> JobStore:
        return self._attestations

    def lookup_table_jobs(self) -> JobStore:
        return self._tables
