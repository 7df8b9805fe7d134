"""What every check returns: one Result (ok, warn, fail or skip) and a line saying what to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

OK = "ok"
WARN = "warn"
FAIL = "fail"
SKIP = "skip"


@dataclass(frozen=True)
class Result:
    """One check's outcome: its name, ok/warn/fail/skip, and a line saying what is wrong and what to do."""

    check: str
    status: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def failed(results: list[Result]) -> bool:
    """True when any check failed (the command then exits 1; warnings do not count)."""
    return any(result.status == FAIL for result in results)


def is_production(config: Mapping[str, Any]) -> bool:
    return config.get("ENVIRONMENT") == "production"


def worst(check: str, findings: list[tuple[str, str]], fine: str) -> Result:
    """Fold a check's findings into one line: the worst status, every finding's text."""
    if not findings:
        return Result(check, OK, fine)
    status = FAIL if any(level == FAIL for level, _ in findings) else WARN
    ordered = [message for level, message in findings if level == FAIL]
    ordered += [message for level, message in findings if level != FAIL]
    return Result(check, status, "; ".join(ordered))
