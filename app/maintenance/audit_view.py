"""Pure helpers to show and export audit entries: readable diffs and formula-safe CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

CSV_HEADER = (
    "id", "created_at", "actor", "ip", "user_agent", "action", "target", "details", "prev_hash", "hash",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_ABSENT = object()


def csv_safe(value: Any) -> Any:
    """Defuse spreadsheet formulas: a text cell starting with = + - @ tab or CR gets a leading '."""
    if isinstance(value, str) and value[:1] in _FORMULA_STARTS:
        return "'" + value
    return value


def csv_lines(rows: Iterable[Mapping[str, Any]]) -> Iterator[str]:
    """Yield the CSV header then one formula-safe line per entry (chain-field mappings)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(cells: Iterable[Any]) -> str:
        writer.writerow([csv_safe(cell) for cell in cells])
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(CSV_HEADER)
    for row in rows:
        details = row.get("details")
        yield line([
            row["id"], row["created_at"], row["actor"], row.get("ip") or "", row.get("user_agent") or "",
            row["action"], row.get("target") or "",
            "" if details is None else json.dumps(details, sort_keys=True), row["prev_hash"], row["hash"],
        ])


@dataclass(frozen=True)
class Change:
    """One line of a readable diff: a field and its old and new values (either may be absent)."""

    field: str
    old: str | None
    new: str | None


def _show(value: Any) -> str:
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ", ".join(_show(item) for item in value) or "[]"
    return json.dumps(value, sort_keys=True, default=str)


def diff(details: Any) -> tuple[list[Change], dict[str, Any]]:
    """Turn {"before": ..., "after": ..., other...} into field changes plus the other keys.

    Fields equal on both sides are left out; a field only on one side shows the other as absent
    (None). Scalar before/after values become one change on the field "value".
    """
    if not isinstance(details, Mapping):
        return [], ({} if details is None else {"value": details})
    before, after = details.get("before", _ABSENT), details.get("after", _ABSENT)
    extra = {key: value for key, value in details.items() if key not in ("before", "after")}
    if before is _ABSENT and after is _ABSENT:
        return [], extra
    if not isinstance(before, Mapping) and not isinstance(after, Mapping):
        old = None if before is _ABSENT else _show(before)
        new = None if after is _ABSENT else _show(after)
        return [Change("value", old, new)], extra
    old_map = before if isinstance(before, Mapping) else {}
    new_map = after if isinstance(after, Mapping) else {}
    changes = []
    for name in sorted(set(old_map) | set(new_map)):
        old_value = old_map.get(name, _ABSENT)
        new_value = new_map.get(name, _ABSENT)
        if old_value == new_value:
            continue
        changes.append(Change(
            name,
            None if old_value is _ABSENT else _show(old_value),
            None if new_value is _ABSENT else _show(new_value),
        ))
    return changes, extra
