"""The meter models both ends know by name.

A gateway reads a meter through the register map of its model (`edge/maps/`,
one JSON file each); the coordinator accepts an enrolled meter only if its
model is one of these. A test checks the shipped maps are exactly this list,
so a new map is added here too.
"""

__all__ = ["METER_MODELS"]

# Sorted: error messages list them in this order.
METER_MODELS: tuple[str, ...] = ("sdm120", "sdm630", "sunspec203")
