"""Decoding Modbus register words into integer energy counters.

Pure integer arithmetic, portable to MicroPython: ESP32-class ports have only
single-precision floats, so a float32 register is decoded exactly from its
bits instead of through the platform's float type.
"""

__all__ = ["RegisterError", "float32_words_to_scaled_int"]


class RegisterError(ValueError):
    """Register words that do not hold a usable counter value."""


def float32_words_to_scaled_int(high: int, low: int, scale: int) -> int:
    """The IEEE-754 float32 in two 16-bit words (high word first) times `scale`,
    rounded half up to an integer. For an Eastron kWh register and scale 1000,
    the result is watt-hours.

    Raises RegisterError for NaN, infinity, or a negative value (energy
    counters never go below zero).
    """
    if not (0 <= high <= 0xFFFF and 0 <= low <= 0xFFFF):
        raise RegisterError("register words must be 16-bit")
    bits = (high << 16) | low
    negative = bits >> 31
    exponent = (bits >> 23) & 0xFF
    fraction = bits & 0x7FFFFF
    if exponent == 0xFF:
        raise RegisterError("register holds NaN or infinity")
    if exponent == 0:
        mantissa, power = fraction, -149  # subnormal
    else:
        mantissa, power = fraction | 0x800000, exponent - 150
    if mantissa == 0:
        return 0
    if negative:
        raise RegisterError("negative energy counter")
    numerator = mantissa * scale
    if power >= 0:
        return numerator << power
    denominator = 1 << -power
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient
