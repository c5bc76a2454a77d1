"""Hypothesis strategies for a meter's register contents, and words for a sane meter."""

import struct
from collections.abc import Mapping

from hypothesis import strategies as st

from edge.registermap import RegisterMap

__all__ = ["EDGE_WORDS", "SCALE_WORD", "WORD", "register_words", "sane_words"]

# Words that reach the edges of every register type: zero, one, the largest
# scale factor (10) and its negative, NaN / infinity and the largest finite
# float32 high words, SunSpec's "not implemented" values.
EDGE_WORDS = (0, 1, 10, 0xFFF6, 0x7F7F, 0x7F80, 0x7FFF, 0x8000, 0xFF7F, 0xFFFF)
WORD = st.one_of(st.integers(0, 0xFFFF), st.sampled_from(EDGE_WORDS))
# A scale-factor register holds any word too, but mostly a valid one, the
# extremes often: a counter overflows only when every scale factor decodes.
SCALE_WORD = st.one_of(st.sampled_from([10, -10]), st.integers(-10, 10), WORD).map(
    lambda v: v & 0xFFFF
)


def register_words(regmap: RegisterMap, data: st.DataObject) -> dict[int, int]:
    """Arbitrary words for every register `regmap` (located) reads."""
    scale = {regmap.address_of(p) for p in regmap.points if p.type == "sunssf"}
    blocks = regmap.read_blocks()
    addresses = [a for _, start, count in blocks for a in range(start, start + count)]
    return {a: data.draw(SCALE_WORD if a in scale else WORD, label=f"word {a}") for a in addresses}


def sane_words(regmap: RegisterMap, values: Mapping[str, float]) -> dict[int, int]:
    """The words of a flat float32 map (Eastron) holding `values` (quantity ->
    value in the point's unit); every other register it reads holds 0."""
    words = {a: 0 for _, start, count in regmap.read_blocks() for a in range(start, start + count)}
    for quantity, value in values.items():
        point = regmap.point_for(quantity)
        assert point is not None
        assert point.type == "float32"
        address = regmap.address_of(point)
        words[address], words[address + 1] = struct.unpack(">HH", struct.pack(">f", value))
    return words
