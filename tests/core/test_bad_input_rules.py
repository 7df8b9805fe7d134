"""Pure rules for bad input (issue 10): unstorable text, overflowing times, far-ahead windows, JSON bodies."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pausa_gate.windows import parse_moment

from app.maintenance.validation import (
    INVALID_TEXT,
    BodyError,
    ValidationError,
    has_unstorable_text,
    parse_json,
    validate_window,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "bad"),
    [
        ("plain text, café, 東京, 🎉", False),
        ("nul\x00inside", True),
        ("lone \ud800 surrogate", True),
        ("escaped \udcff byte", True),
        (["/ok", "/no\x00"], True),
        ({"key\x00": "value"}, True),
        ({"key": [[["deep \x00"]]]}, True),
        (42, False),
        (None, False),
    ],
)
def test_has_unstorable_text(value, bad):
    assert has_unstorable_text(value) is bad


def test_has_unstorable_text_walks_deep_values_without_recursion():
    value: list = ["\x00"]
    for _ in range(100_000):
        value = [value]
    assert has_unstorable_text(value)


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"])
def test_parse_moment_turns_overflow_into_value_error(text):
    with pytest.raises(ValueError):
        parse_moment(text, NOW)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"message": "a\x00b"}, "message"),
        ({"reason": "\ud800"}, "reason"),
        ({"mode": "scoped", "scope_paths": ["/a\x00"]}, "scope_paths"),
        ({"allowed_ips": ["10.0.0.1\x00"]}, "allowed_ips"),
        ({"eta": "1h\x00"}, "eta"),
    ],
)
def test_unstorable_text_is_one_error_on_its_field(data, field):
    with pytest.raises(ValidationError) as caught:
        validate_window(data, NOW)
    assert caught.value.fields == {field: INVALID_TEXT}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"eta": "366d"}, "eta"),
        ({"ends_at": "2030-01-01T00:00Z"}, "ends_at"),
        ({"starts_at": "366d"}, "starts_at"),
        ({"starts_at": "300d", "eta": "700d"}, "eta"),
    ],
)
def test_times_more_than_a_year_ahead_are_refused(data, field):
    with pytest.raises(ValidationError) as caught:
        validate_window(data, NOW)
    assert set(caught.value.fields) == {field}
    assert "year" in caught.value.fields[field]


def test_times_within_a_year_are_accepted():
    values = validate_window({"starts_at": "300d", "eta": "200d", "ends_at": "260d"}, NOW).values
    assert values["ends_at"].year == 2027


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        ('{"a": 1}'.encode("utf-16"), "not UTF-8"),
        (b'\xef\xbb\xbf{"a": 1}', "not valid JSON"),
        (b"{", "not valid JSON"),
    ],
)
def test_parse_json_refuses_with_a_reason(payload, reason):
    with pytest.raises(BodyError, match=reason):
        parse_json(payload)


def test_parse_json_reads_utf8_json():
    assert parse_json('{"name": "café"}'.encode()) == {"name": "café"}
