"""The audit trail's SHA-256 hash chain: verify names the first entry that does not chain."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.maintenance.audit_chain import GENESIS, HASHED_FIELDS, ChainReport, entry_hash, verify

from .factories import NOW, PROPERTY

ACTIONS = ["maintenance.scheduled", "maintenance.activated", "bypass.link_created", "maintenance.updated",
           "maintenance.ended", "notify.sent"]


def build_chain(count: int = 6) -> list[dict]:
    """Entries as the service stores them: hashed fields, id, prev_hash and hash."""
    rows: list[dict] = []
    prev = GENESIS
    for index in range(count):
        row = {
            "id": index + 1,
            "created_at": (NOW + timedelta(seconds=index)).isoformat(),
            "actor": "alice@example.com" if index % 2 else "cli:deploy",
            "ip": "203.0.113.7" if index % 2 else None,
            "user_agent": "Mozilla/5.0",
            "action": ACTIONS[index % len(ACTIONS)],
            "target": f"window:{index // 2 + 1}",
            "details": {"before": {"eta": None}, "after": {"eta": "2026-03-14T13:00:00+00:00", "note": "ção"}},
        }
        row["prev_hash"] = prev
        row["hash"] = prev = entry_hash(prev, row)
        rows.append(row)
    return rows


def rehash(row: dict) -> None:
    row["hash"] = entry_hash(row["prev_hash"], row)


# ---------------------------------------------------------------- entry_hash


def test_entry_hash_is_sha256_over_prev_and_canonical_json():
    entry = {"created_at": "2026-03-14T12:00:00+00:00", "actor": "system", "action": "maintenance.ended"}
    canonical = json.dumps(
        {"action": "maintenance.ended", "actor": "system", "created_at": "2026-03-14T12:00:00+00:00",
         "details": None, "ip": None, "target": None, "user_agent": None},
        sort_keys=True, separators=(",", ":"),
    )
    assert entry_hash(GENESIS, entry) == hashlib.sha256(f"{GENESIS}|{canonical}".encode()).hexdigest()
    assert len(entry_hash(GENESIS, entry)) == 64


def test_entry_hash_ignores_key_order_and_unhashed_fields():
    a = {"actor": "x", "action": "y", "details": {"b": 1, "a": [1, {"z": 2, "y": 3}]}}
    b = {"details": {"a": [1, {"y": 3, "z": 2}], "b": 1}, "action": "y", "actor": "x", "id": 99, "hash": "f" * 64}
    assert entry_hash(GENESIS, a) == entry_hash(GENESIS, b)


def test_a_missing_field_hashes_like_none():
    assert entry_hash(GENESIS, {"actor": "x"}) == entry_hash(GENESIS, {"actor": "x", "ip": None, "details": None})


@pytest.mark.parametrize("field", HASHED_FIELDS)
def test_every_hashed_field_changes_the_hash(field):
    base = build_chain(1)[0]
    changed = {**base, field: "something else"}
    assert entry_hash(GENESIS, base) != entry_hash(GENESIS, changed)


def test_the_previous_hash_changes_the_hash():
    base = build_chain(1)[0]
    assert entry_hash(GENESIS, base) != entry_hash("1" * 64, base)


def test_hashed_fields_are_the_audit_columns():
    assert set(HASHED_FIELDS) == {"created_at", "actor", "ip", "user_agent", "action", "target", "details"}


# ---------------------------------------------------------------- verify


def test_an_empty_trail_verifies():
    assert verify([]) == ChainReport(checked=0)
    assert verify([]).ok


def test_an_intact_chain_verifies():
    report = verify(build_chain(6))
    assert report == ChainReport(checked=6)
    assert report.ok and report.problem is None


def test_verify_accepts_any_iterable_once():
    assert verify(iter(build_chain(3))).checked == 3


@pytest.mark.parametrize("field", HASHED_FIELDS)
@pytest.mark.parametrize("row_id", [1, 3, 6])
def test_a_tampered_field_names_that_entry(field, row_id):
    rows = build_chain(6)
    rows[row_id - 1][field] = "tampered"
    report = verify(rows)
    assert (report.ok, report.broken_id, report.checked) == (False, row_id, row_id - 1)
    assert report.problem == "contents do not match the stored hash"


def test_tampering_inside_nested_details_is_caught():
    rows = build_chain(4)
    rows[1]["details"]["after"]["eta"] = "2026-03-14T18:00:00+00:00"
    assert verify(rows).broken_id == 2


def test_a_tampered_and_rehashed_entry_breaks_the_link_after_it():
    rows = build_chain(6)
    rows[2]["actor"] = "mallory"
    rehash(rows[2])
    report = verify(rows)
    assert (report.broken_id, report.checked) == (4, 3)
    assert report.problem == "prev_hash does not match the entry before"


def test_a_tampered_stored_hash_is_caught():
    rows = build_chain(6)
    rows[5]["hash"] = "0" * 64
    assert verify(rows).broken_id == 6


@pytest.mark.parametrize(("first", "second", "broken"), [(1, 2, 2), (2, 3, 3), (3, 6, 6), (1, 6, 6)])
def test_reordered_entries_name_the_first_out_of_place(first, second, broken):
    rows = build_chain(6)
    rows[first - 1], rows[second - 1] = rows[second - 1], rows[first - 1]
    assert verify(rows).broken_id == broken


@pytest.mark.parametrize(("deleted", "broken"), [(1, 2), (3, 4), (5, 6)])
def test_a_deleted_entry_names_the_one_after_it(deleted, broken):
    rows = build_chain(6)
    del rows[deleted - 1]
    report = verify(rows)
    assert report.broken_id == broken
    assert report.problem == "prev_hash does not match the entry before"
    assert report.checked == deleted - 1


def test_a_forged_entry_inserted_in_the_middle_is_caught_after_it():
    rows = build_chain(4)
    forged = {"id": 99, "created_at": NOW.isoformat(), "actor": "mallory", "action": "auth.login",
              "prev_hash": rows[1]["hash"]}
    rehash(forged)
    rows.insert(2, forged)
    assert verify(rows).broken_id == 3


def test_a_chain_not_starting_at_genesis_is_broken_at_its_first_entry():
    rows = build_chain(3)
    rows[0]["prev_hash"] = "a" * 64
    rehash(rows[0])
    assert verify(rows).broken_id == 1


def test_dropping_the_newest_entries_is_only_visible_in_the_count():
    """A hash chain cannot see its own tail being cut: compare `checked` with the row count."""
    rows = build_chain(6)
    assert verify(rows[:4]) == ChainReport(checked=4)


@PROPERTY
@given(
    st.integers(min_value=1, max_value=8),
    st.data(),
)
def test_any_change_to_any_hashed_field_is_named(count, data):
    rows = build_chain(count)
    row_id = data.draw(st.integers(1, count), label="row")
    field = data.draw(st.sampled_from(HASHED_FIELDS), label="field")
    value = data.draw(
        st.one_of(st.none(), st.text(max_size=10), st.integers(), st.dictionaries(st.text(max_size=3), st.integers())),
        label="value",
    )
    if json.dumps(value, sort_keys=True) == json.dumps(rows[row_id - 1][field], sort_keys=True):
        return
    rows[row_id - 1][field] = value
    assert verify(rows).broken_id == row_id
