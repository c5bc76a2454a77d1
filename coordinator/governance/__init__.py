"""Governance by the REC authority: emergency controls, governed parameters, notes.

- `controls` (pure): the market's scopes that can be paused (orders, clearing,
  settlement, minting; `all` is maintenance mode), what a pause or resume changes,
  the memo recording it;
- `params` (pure): the typed governed parameters, their validation, the text the
  authority's wallet signs to change one, and which value is in force at an epoch;
- `series` (pure): tariff series, per-epoch values of a grid parameter for a run of
  epochs, their canonical CSV and signed text, and how they override the schedule;
- `notes` (pure): free-text notes signed by the authority's wallet, refused when
  they could pass for a record the system writes; `signing`: the wallet check;
- `store`: controls and parameter changes in the database (`SqlGovernance`), or in
  memory (`MemoryGovernance`, for tests); `reader`: what every instance reads
  through a short cache, and the placement terms the market asks for.

It sits above the domains it governs: it may import `coordinator.market`
(its rules and placement terms), `coordinator.readings.oracle` (the oracle's
limits), `coordinator.db`, `coordinator.config`, `coordinator.errors` and
`wire`; the chain worker, the runner, the API and the CLI import it. The pure
modules import no I/O library and nothing of the services around them.
"""

from coordinator.governance.controls import (
    ALL_SCOPES,
    Action,
    Controls,
    Pause,
    Scope,
    check_control,
    control_memo,
    parse_scopes,
)
from coordinator.governance.errors import ChangeRefused, ControlConflict, GovernanceError
from coordinator.governance.params import (
    NOT_APPLIED,
    GovernedParams,
    Param,
    ParamChange,
    ScheduledValue,
    change_memo,
    change_text,
    check_change,
    params_at,
    parse_value,
    schedule,
)
from coordinator.governance.reader import GovernanceReader, defaults_from
from coordinator.governance.series import (
    SERIES_PARAMS,
    TariffSeries,
    check_series,
    params_with_series,
    parse_csv,
    series_csv,
    series_hash,
    series_memo,
    series_text,
)
from coordinator.governance.store import GovernanceSource, MemoryGovernance, SqlGovernance

__all__ = [
    "ALL_SCOPES",
    "NOT_APPLIED",
    "SERIES_PARAMS",
    "Action",
    "ChangeRefused",
    "ControlConflict",
    "Controls",
    "GovernanceError",
    "GovernanceReader",
    "GovernanceSource",
    "GovernedParams",
    "MemoryGovernance",
    "Param",
    "ParamChange",
    "Pause",
    "ScheduledValue",
    "Scope",
    "SqlGovernance",
    "TariffSeries",
    "change_memo",
    "change_text",
    "check_change",
    "check_control",
    "check_series",
    "control_memo",
    "defaults_from",
    "params_at",
    "params_with_series",
    "parse_csv",
    "parse_scopes",
    "parse_value",
    "schedule",
    "series_csv",
    "series_hash",
    "series_memo",
    "series_text",
]
