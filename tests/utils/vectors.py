"""The protocol test vectors, loaded by both the edge and the coordinator tests."""

import json
from pathlib import Path
from typing import Any

VECTORS_FILE = Path(__file__).parents[1] / "vectors" / "protocol_v1.json"


def load_vectors() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(VECTORS_FILE.read_text())
    return data
