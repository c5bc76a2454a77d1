"""Decoding SunSpec register types, and signed float32 values, into integers.

The companion of `edge.registers` for what it does not cover: SunSpec int16
values with a power-of-ten scale-factor register, acc32 / uint32 accumulators,
and signed float32 readings such as active power (negative when exporting).
Pure integer arithmetic, portable to MicroPython like `edge.registers`.
"""

from edge.registers import RegisterError, float32_words_to_scaled_int

__all__ = [
    "INT16_NOT_IMPLEMENTED",
    "SUNSPEC_END_ID",
    "SUNSPEC_MARKER",
    "SUNSSF_NOT_IMPLEMENTED",
    "UINT16_NOT_IMPLEMENTED",
    "apply_scale_factor",
    "float32_words_to_signed_scaled_int",
    "sunssf",
    "word_to_int16",
    "words_to_uint32",
]

# "SunS" in two registers, at the base address of every SunSpec device.
SUNSPEC_MARKER = (0x5375, 0x6E53)
# The model id that ends the model header chain.
SUNSPEC_END_ID = 0xFFFF
# SunSpec's "not implemented" values.
INT16_NOT_IMPLEMENTED = 0x8000
UINT16_NOT_IMPLEMENTED = 0xFFFF
SUNSSF_NOT_IMPLEMENTED = 0x8000
_MAX_SF = 10


def _check_word(word: int) -> int:
    if not 0 <= word <= 0xFFFF:
        raise RegisterError("register words must be 16-bit")
    return word


def word_to_int16(word: int) -> int:
    """The two's-complement value of one register."""
    _check_word(word)
    return word - 0x10000 if word & 0x8000 else word


def words_to_uint32(high: int, low: int) -> int:
    """An unsigned 32-bit value (acc32, uint32) in two registers, high word first."""
    return (_check_word(high) << 16) | _check_word(low)


def sunssf(word: int) -> int:
    """A SunSpec scale-factor register: a power of ten in -10..10.

    Raises RegisterError for "not implemented" (0x8000) or an out-of-range value.
    """
    if word == SUNSSF_NOT_IMPLEMENTED:
        raise RegisterError("scale factor not implemented")
    sf = word_to_int16(word)
    if not -_MAX_SF <= sf <= _MAX_SF:
        raise RegisterError("scale factor out of range -10..10")
    return sf


def _pow10(exponent: int) -> int:
    result = 1
    for _ in range(exponent):
        result *= 10
    return result


def apply_scale_factor(value: int, sf: int, scale: int) -> int:
    """`value` * 10**`sf` * `scale`, rounded half away from zero to an integer.

    Exact for any integer inputs: no float is involved.
    """
    numerator = value * scale
    if sf >= 0:
        return numerator * _pow10(sf)
    denominator = _pow10(-sf)
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return -quotient if numerator < 0 else quotient


def float32_words_to_signed_scaled_int(high: int, low: int, scale: int) -> int:
    """Like `edge.registers.float32_words_to_scaled_int` but accepting negative
    values (rounded half away from zero): for power, which is negative when the
    meter exports.
    """
    if not 0 <= high <= 0xFFFF:
        raise RegisterError("register words must be 16-bit")
    if high & 0x8000:
        return -float32_words_to_scaled_int(high & 0x7FFF, low, scale)
    return float32_words_to_scaled_int(high, low, scale)
