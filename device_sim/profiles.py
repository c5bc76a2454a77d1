"""Power profiles of PV arrays and campus loads: pure functions of simulated time.

Every function maps a UTC time in milliseconds to an integer power in watts.
Randomness (clouds, load noise) is a hash of (seed, time bucket), so a profile
is deterministic for its seed and can be evaluated at any instant in any order.
"""

import math

__all__ = ["LOAD_KINDS", "load_power_w", "pv_power_w", "unit_noise"]

LOAD_KINDS = ("campus", "dormitory")
_DAY_S = 86_400
_MASK64 = (1 << 64) - 1
_CLOUD_KNOT_S = 300  # clouds change on a five-minute scale
_NOISE_KNOT_S = 60


def unit_noise(seed: int, *keys: int) -> float:
    """A uniform value in [0, 1) determined by `seed` and `keys` (splitmix64 hash)."""
    x = seed & _MASK64
    for key in keys:
        x = (x ^ (key & _MASK64)) + 0x9E3779B97F4A7C15 & _MASK64
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9 & _MASK64
        x = (x ^ (x >> 27)) * 0x94D049BB133111EB & _MASK64
        x ^= x >> 31
    return (x >> 11) / float(1 << 53)


def _smooth_noise(seed: int, salt: int, t_s: float, knot_s: int) -> float:
    """Noise in [0, 1) interpolated linearly between knots `knot_s` apart."""
    k, frac = divmod(t_s / knot_s, 1.0)
    a = unit_noise(seed, salt, int(k))
    b = unit_noise(seed, salt, int(k) + 1)
    return a + (b - a) * frac


def _local(t_ms: int, utc_offset_s: int) -> tuple[int, float]:
    """(local day number, local hour of day) at UTC time `t_ms`."""
    local_s = t_ms / 1000 + utc_offset_s
    day, second = divmod(local_s, _DAY_S)
    return int(day), second / 3600


def pv_power_w(t_ms: int, *, peak_w: int, seed: int = 0, utc_offset_s: int = 0) -> int:
    """AC output of a PV array of `peak_w` watt-peak: a clear-sky bell between
    06:00 and 18:00 local solar time, dimmed by clouds whose amount varies by
    day and whose passing varies by the minute."""
    day, hour = _local(t_ms, utc_offset_s)
    if not 6.0 < hour < 18.0:
        return 0
    clear_sky = 0.85 * math.pow(math.sin(math.pi * (hour - 6.0) / 12.0), 1.3)
    cloudiness = unit_noise(seed, 1, day) ** 2  # most days are mostly clear
    passing = _smooth_noise(seed, 2, t_ms / 1000, _CLOUD_KNOT_S)
    return round(peak_w * clear_sky * (1.0 - 0.8 * cloudiness * passing))


def _campus_shape(weekday: int, hour: float) -> float:
    if weekday >= 5:  # weekend: lights, servers, a few labs
        return 0.3 + 0.1 * math.exp(-(((hour - 14.0) / 4.0) ** 2))
    if 7.0 <= hour < 19.0:  # teaching day, peak in the early afternoon
        return 0.35 + 0.65 * math.pow(math.sin(math.pi * (hour - 7.0) / 12.0), 0.6)
    return 0.3


def _dormitory_shape(weekday: int, hour: float) -> float:
    morning = 0.45 * math.exp(-(((hour - 7.5) / 1.2) ** 2))
    evening = 0.75 * math.exp(-(((hour - 21.0) / 2.2) ** 2))
    late = 0.75 * math.exp(-(((hour + 3.0) / 2.2) ** 2))  # the evening peak past midnight
    weekend = 0.1 if weekday >= 5 else 0.0
    return 0.2 + weekend + morning + evening + late


def load_power_w(t_ms: int, *, kind: str, peak_w: int, seed: int = 0, utc_offset_s: int = 0) -> int:
    """Consumption of a campus building or a dormitory with peak around `peak_w`,
    with +-10 % noise that changes by the minute."""
    day, hour = _local(t_ms, utc_offset_s)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    if kind == "campus":
        shape = _campus_shape(weekday, hour)
    elif kind == "dormitory":
        shape = _dormitory_shape(weekday, hour)
    else:
        raise ValueError(f"unknown load kind {kind!r} (known: {', '.join(LOAD_KINDS)})")
    noise = 0.9 + 0.2 * _smooth_noise(seed, 3, t_ms / 1000, _NOISE_KNOT_S)
    return round(peak_w * shape * noise)
