"""What the oracle knows of a device and a meter: registry record and last state."""

from collections.abc import Mapping
from dataclasses import dataclass

from wire.reading import PUBLIC_KEY_LEN, Reading

__all__ = ["DeviceRecord", "MeterState", "RetiredKey"]


@dataclass(frozen=True, slots=True)
class RetiredKey:
    """A device key replaced by a rotation: it still verifies readings received
    before `valid_until` (Unix seconds), the overlap the rotation granted."""

    public_key: bytes
    valid_until: int

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_LEN:
            raise ValueError("public_key must be 32 bytes")


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceRecord:
    """A registered gateway as the registry holds it.

    `rated_power_w` maps each meter the gateway may report (meter id) to the
    meter's rated maximum power in watts: the plausibility limit on energy.
    A record is not hashable (it holds a mapping); it is a value to read.

    `public_key` is the gateway's current device key. The gateway id is its
    *first* key and stays its identity for life; after a key rotation the two
    differ, and `retired_keys` holds the keys rotated out (newest first).
    """

    public_key: bytes
    active: bool
    rated_power_w: Mapping[str, int]
    retired_keys: tuple[RetiredKey, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.public_key, bytes) or len(self.public_key) != PUBLIC_KEY_LEN:
            raise ValueError("public_key must be 32 bytes")
        for meter_id, watts in self.rated_power_w.items():
            if isinstance(watts, bool) or not isinstance(watts, int) or watts <= 0:
                raise ValueError(f"rated power of {meter_id!r} must be a positive integer")


@dataclass(frozen=True, slots=True)
class MeterState:
    """A meter's cumulative counters at one instant: all the rules need of a
    previous reading, and all the energy accounting needs of any reading."""

    ts: int
    import_wh: int
    export_wh: int

    def __post_init__(self) -> None:
        # Plain non-negative ints pass in one test (two are built per reading at
        # ingest rates); anything else gets the full check.
        ts, imp, exp = self.ts, self.import_wh, self.export_wh
        if type(ts) is int and type(imp) is int and type(exp) is int and min(ts, imp, exp) >= 0:
            return
        for name in ("ts", "import_wh", "export_wh"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")

    @classmethod
    def of(cls, reading: Reading) -> "MeterState":
        return cls(reading.ts, reading.import_wh, reading.export_wh)
