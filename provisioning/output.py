"""What a command prints: a list of steps, each passed or failed with a reason,
plus data for scripts. Human-readable by default, one JSON object with --json.

Details carry words of the coordinator, the broker and the meters: the text form
prints every line through `wire.text.printable`, JSON escapes them itself."""

import json
from dataclasses import dataclass, field
from typing import Any

from wire.text import printable

__all__ = ["Report", "Step", "render"]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    ok: bool
    detail: str = ""


@dataclass
class Report:
    command: str
    steps: list[Step] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, ok: bool, detail: str = "") -> bool:
        self.steps.append(Step(name, ok, detail))
        return ok

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)


def render(report: Report, *, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "command": report.command,
                "ok": report.ok,
                "steps": [{"name": s.name, "ok": s.ok, "detail": s.detail} for s in report.steps],
                **report.data,
            },
            sort_keys=True,
        )
    lines = [f"{'PASS' if s.ok else 'FAIL'}  {s.name}" + (f": {s.detail}" if s.detail else "")
             for s in report.steps]  # fmt: skip
    lines += [
        f"{key}: {value}"
        for key, value in report.data.items()
        if not isinstance(value, (dict, list))
    ]
    return "\n".join(printable(line) for line in lines)
