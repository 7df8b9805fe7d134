"""The SHA-256 hash chain that makes the audit trail tamper-evident."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
HASHED_FIELDS = ("created_at", "actor", "ip", "user_agent", "action", "target", "details")


def entry_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """Hash one entry's fields together with the hash of the entry before it."""
    payload = {name: entry.get(name) for name in HASHED_FIELDS}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}|{canonical}".encode()).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    """The outcome of walking the chain: how many entries, and the first broken one."""

    checked: int
    broken_id: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None


def verify(
    entries: Iterable[Mapping[str, Any]], expected_prev: str = GENESIS, checked: int = 0
) -> ChainReport:
    """Walk entries in insertion order and name the first that does not chain.

    To resume an earlier walk, pass the hash of the last entry it checked as `expected_prev`
    and its count as `checked`, and only the entries after it.
    """
    for entry in entries:
        if entry["prev_hash"] != expected_prev:
            return ChainReport(checked, entry["id"], "prev_hash does not match the entry before")
        if entry["hash"] != entry_hash(entry["prev_hash"], entry):
            return ChainReport(checked, entry["id"], "contents do not match the stored hash")
        expected_prev = entry["hash"]
        checked += 1
    return ChainReport(checked)
