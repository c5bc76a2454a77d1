"""Test data written straight to the database: closed epochs of signed readings."""

import datetime as dt

from sqlalchemy import delete, insert
from sqlalchemy.engine import Engine

from coordinator.db.models import (
    EpochRecord,
    MeterEpochEnergyRow,
    MeterStateRow,
    Reading,
    ReadingSeq,
)
from coordinator.db.partitions import meter_time
from coordinator.readings.oracle import epoch_root
from provisioning.keys import Signer
from wire.reading import Reading as WireReading

LENGTH = 900


def store_epoch(
    engine: Engine, gw: Signer, meter_id: str, epoch: int, n: int, seq0: int = 1
) -> None:
    """`n` signed readings (seq from `seq0`) in `epoch`, closed with its real Merkle root."""
    start = epoch * LENGTH
    signed = [
        gw.sign_reading(
            WireReading(gw.address, meter_id, seq, start + 10 * (seq - seq0 + 1), 5 * seq, 7 * seq)
        )
        for seq in range(seq0, seq0 + n)
    ]
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        for s in signed:
            r = s.reading
            conn.execute(insert(Reading).values(
                gateway_id=r.gateway_id, seq=r.seq, meter_time=meter_time(r.ts),
                meter_id=r.meter_id, meter_ts=r.ts, import_wh=r.import_wh,
                export_wh=r.export_wh, signature=s.signature, received_at=now, flags="",
                epoch=epoch, first_open_epoch=None,
            ))  # fmt: skip
            conn.execute(insert(ReadingSeq).values(
                gateway_id=r.gateway_id, seq=r.seq, meter_time=meter_time(r.ts)))  # fmt: skip
        last = signed[-1].reading
        conn.execute(delete(MeterStateRow).where(MeterStateRow.gateway_id == gw.address))
        conn.execute(insert(MeterStateRow).values(
            gateway_id=gw.address, meter_id=meter_id, seq=last.seq, meter_ts=last.ts,
            import_wh=last.import_wh, export_wh=last.export_wh))  # fmt: skip
        conn.execute(insert(MeterEpochEnergyRow).values(
            epoch=epoch, gateway_id=gw.address, meter_id=meter_id, import_wh=10 * n,
            export_wh=20 * n))  # fmt: skip
        conn.execute(insert(EpochRecord).values(
            epoch=epoch, length_s=LENGTH, closed_at=now, reading_count=n, total_import_wh=10 * n,
            total_export_wh=20 * n, mint_base_units=20 * n * 10**6,
            merkle_root=epoch_root(signed), summary_json="{}"))  # fmt: skip
