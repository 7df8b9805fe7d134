"""Window input rules shared by the dashboard, the API and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pausa_gate.state import Mode, Reason

from app.maintenance.validation import (
    DEFAULT_MESSAGE,
    FIELDS,
    MAX_LIST_ITEMS,
    MAX_MINUTES,
    MESSAGE_MAX,
    ValidationError,
    WindowInput,
    validate_window,
)

from .factories import NOW, PROPERTY, minutes


def valid(data, *, partial=False) -> dict:
    result = validate_window(data, NOW, partial=partial)
    assert isinstance(result, WindowInput)
    return result.values


def errors(data, *, partial=False) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_window(data, NOW, partial=partial)
    return caught.value.fields


# ---------------------------------------------------------------- defaults


def test_an_empty_activation_gets_every_default():
    assert valid({}) == {
        "message": DEFAULT_MESSAGE,
        "reason": Reason.OTHER,
        "mode": Mode.FULL,
        "eta": None,
        "ends_at": None,
        "notice_minutes": 0,
        "drain_minutes": 0,
        "allowed_roles": [],
        "allowed_ips": [],
        "scope_paths": [],
        "pause_webhook_processing": False,
    }


def test_starts_at_is_only_returned_when_given():
    """The caller decides "now" for an activation: an absent start is not invented here."""
    assert "starts_at" not in valid({})
    assert valid({"starts_at": "30m"})["starts_at"] == NOW + minutes(30)


def test_an_empty_update_changes_nothing():
    result = validate_window({}, NOW, partial=True)
    assert result.values == {}
    assert result.given == set()


def test_an_update_returns_only_what_was_given():
    result = validate_window({"message": "Still at it", "eta": "1h"}, NOW, partial=True)
    assert result.values == {"message": "Still at it", "eta": NOW + timedelta(hours=1)}
    assert result.given == {"message", "eta"}


# ---------------------------------------------------------------- unknown fields


def test_unknown_fields_are_errors_not_ignored():
    assert errors({"mesage": "typo", "zzz": 1}) == {"mesage": "Unknown field.", "zzz": "Unknown field."}
    assert errors({"etaa": "1h"}, partial=True) == {"etaa": "Unknown field."}


def test_every_error_is_reported_at_once():
    found = errors({"mode": "nope", "reason": "nope", "eta": "never", "notice_minutes": "x", "bogus": 1})
    assert set(found) == {"mode", "reason", "eta", "notice_minutes", "bogus"}
    assert "mode: " in str(ValidationError(found))


def test_fields_cover_the_window():
    assert set(FIELDS) == {
        "message", "messages", "reason", "mode", "scope_paths", "eta", "ends_at", "starts_at", "notice_minutes",
        "drain_minutes", "allowed_roles", "allowed_ips", "pause_webhook_processing",
    }


# ---------------------------------------------------------------- message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Back at 3", "Back at 3"),
        ("  padded  ", "padded"),
        ("line one\r\nline two", "line one\nline two"),
        ("keeps\n\nblank lines", "keeps\n\nblank lines"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),  # escaped on output, kept verbatim
        ("", DEFAULT_MESSAGE),
        ("   \n ", DEFAULT_MESSAGE),
        (None, DEFAULT_MESSAGE),
        ("x" * MESSAGE_MAX, "x" * MESSAGE_MAX),
        ("é" * MESSAGE_MAX, "é" * MESSAGE_MAX),  # characters, not bytes
        (" " + "x" * MESSAGE_MAX + " ", "x" * MESSAGE_MAX),  # measured after trimming
        ("\r\n".join(["x" * 99] * 5) + "\r\n", "\n".join(["x" * 99] * 5)),  # 499 after CRLF -> LF
    ],
    ids=["plain", "trimmed", "crlf", "blank-lines", "html", "empty", "blank", "none", "at-limit", "unicode-at-limit",
         "limit-after-trim", "limit-after-crlf"],
)
def test_message(raw, expected):
    assert valid({"message": raw})["message"] == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("x" * (MESSAGE_MAX + 1), "At most 500 characters (got 501)."),
        (42, "Must be text."),
        (["a"], "Must be text."),
        ({"text": "a"}, "Must be text."),
    ],
    ids=["too-long", "number", "list", "object"],
)
def test_bad_message(raw, error):
    assert errors({"message": raw}) == {"message": error}


def test_a_blank_message_in_an_update_restores_the_default():
    assert valid({"message": " "}, partial=True) == {"message": DEFAULT_MESSAGE}
    assert valid({"message": None}, partial=True) == {}


# ---------------------------------------------------------------- messages per language


def test_a_message_per_language_is_keyed_by_its_tag():
    result = valid({"message": "Back soon", "messages": {"pt_BR": "  Voltamos logo \r\n já  "}})
    assert result["message"] == "Back soon"
    assert result["messages"] == {"pt-BR": "Voltamos logo \n já"}
    assert valid({"messages": {"PT-br": "Oi", "en": "Hi"}}, partial=True) == {"messages": {"pt-BR": "Oi", "en": "Hi"}}


def test_an_empty_message_in_a_language_means_none_there():
    assert valid({"messages": {"pt-BR": "   ", "en": None}}, partial=True) == {"messages": {}}


def test_messages_are_only_returned_when_given():
    assert "messages" not in valid({"message": "x"})
    assert validate_window({"message": "x"}, NOW, partial=True).values == {"message": "x"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"fr": "Bientôt"}, {"messages.fr": "Unknown language; languages are: en, pt-BR."}),
        ({"pt-BR": "x" * (MESSAGE_MAX + 1)},
         {"messages.pt-BR": f"At most {MESSAGE_MAX} characters (got {MESSAGE_MAX + 1})."}),
        ({"pt-BR": 7}, {"messages.pt-BR": "Must be text."}),
        ({"pt-BR": "a", "pt_BR": "b"}, {"messages.pt_BR": "Given twice (as pt-BR too)."}),
        ("Voltamos", {"messages": 'Must be an object of language tag to text, like {"pt-BR": "..."}.'}),
        (["pt-BR"], {"messages": 'Must be an object of language tag to text, like {"pt-BR": "..."}.'}),
        ({f"x{n}": "" for n in range(MAX_LIST_ITEMS + 1)}, {"messages": f"At most {MAX_LIST_ITEMS} languages."}),
    ],
)
def test_bad_messages_name_the_language(raw, expected):
    assert errors({"messages": raw}, partial=True) == expected
    assert errors({"messages": raw}) == expected


def test_a_message_of_the_longest_length_is_accepted_in_every_language():
    assert valid({"messages": {"pt-BR": "x" * MESSAGE_MAX}})["messages"]["pt-BR"] == "x" * MESSAGE_MAX


# ---------------------------------------------------------------- reason and mode


@pytest.mark.parametrize(
    ("name", "raw", "expected"),
    [
        ("mode", "full", Mode.FULL),
        ("mode", "read_only", Mode.READ_ONLY),
        ("mode", " Scoped ", Mode.SCOPED),
        ("mode", "FULL", Mode.FULL),
        ("mode", Mode.READ_ONLY, Mode.READ_ONLY),
        ("mode", "", Mode.FULL),
        ("mode", None, Mode.FULL),
        ("reason", "database", Reason.DATABASE),
        ("reason", "INCIDENT", Reason.INCIDENT),
        ("reason", "", Reason.OTHER),
    ],
    ids=lambda value: repr(value),
)
def test_enums(name, raw, expected):
    data = {name: raw}
    if expected is Mode.SCOPED:
        data["scope_paths"] = "/billing"
    assert valid(data)[name] is expected


@pytest.mark.parametrize(
    ("name", "raw", "error"),
    [
        ("mode", "read-only", "Must be one of: full, read_only, scoped."),
        ("mode", "off", "Must be one of: full, read_only, scoped."),
        ("mode", 1, "Must be one of: full, read_only, scoped."),
        ("reason", "upgrade", "Must be one of: deployment, database, testing, incident, other."),
    ],
    ids=lambda value: repr(value),
)
def test_bad_enums(name, raw, error):
    assert errors({name: raw}, partial=True) == {name: error}


def test_an_empty_enum_in_an_update_is_no_change():
    assert valid({"mode": "", "reason": ""}, partial=True) == {}


# ---------------------------------------------------------------- times


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"eta": "30m"}, {"eta": NOW + minutes(30)}),
        ({"eta": "2026-03-14T13:00Z"}, {"eta": datetime(2026, 3, 14, 13, tzinfo=UTC)}),
        ({"eta": "2026-03-14T10:00-03:00"}, {"eta": datetime(2026, 3, 14, 13, tzinfo=UTC)}),
        ({"eta": NOW + minutes(5)}, {"eta": NOW + minutes(5)}),  # a datetime from the CLI
        ({"eta": "1h", "ends_at": "1h"}, {"eta": NOW + minutes(60), "ends_at": NOW + minutes(60)}),
        ({"eta": "1h", "ends_at": "2h"}, {"eta": NOW + minutes(60), "ends_at": NOW + minutes(120)}),
        # A length counts from the start: a window starting in 1h with "90m" is expected back in 2h30.
        ({"starts_at": "1h", "eta": "90m"}, {"starts_at": NOW + minutes(60), "eta": NOW + minutes(150)}),
        ({"starts_at": "2026-03-14T11:00Z"}, {"starts_at": datetime(2026, 3, 14, 11, tzinfo=UTC)}),
        ({"eta": "", "ends_at": None}, {"eta": None, "ends_at": None}),
    ],
    ids=["relative", "iso-z", "iso-offset", "datetime", "ends-equals-eta", "ends-after-eta", "after-start",
         "start-in-past", "explicitly-cleared"],
)
def test_valid_times(data, expected):
    values = valid(data)
    for name, value in expected.items():
        assert values[name] == value


@pytest.mark.parametrize(
    ("data", "field", "error"),
    [
        ({"eta": "soon"}, "eta", "Use a time like 2026-03-15T02:00Z, or 30m, 2h from the start."),
        ({"ends_at": "-1h"}, "ends_at", "Use a time like 2026-03-15T02:00Z, or 30m, 2h from the start."),
        ({"starts_at": "later"}, "starts_at", "Use a time like 2026-03-15T02:00Z, or 30m, 2h from now."),
        ({"eta": "0s"}, "eta", "Must be in the future."),
        ({"eta": "2026-03-14T11:00Z"}, "eta", "Must be in the future."),
        ({"ends_at": "2026-03-14T12:00Z"}, "ends_at", "Must be in the future."),
        ({"starts_at": "2h", "eta": "2026-03-14T13:00Z"}, "eta", "Must be after the start."),
        ({"starts_at": "2h", "eta": "2026-03-14T14:00Z"}, "eta", "Must be after the start."),
        ({"starts_at": "2h", "ends_at": "2026-03-14T13:30Z"}, "ends_at", "Must be after the start."),
        ({"eta": "2h", "ends_at": "1h"}, "ends_at", "The automatic end must not come before the ETA."),
    ],
    ids=["eta-garbage", "ends-garbage", "start-garbage", "eta-now", "eta-past", "ends-now", "eta-before-start",
         "eta-at-start", "ends-before-start", "ends-before-eta"],
)
def test_bad_times(data, field, error):
    assert errors(data)[field] == error


def test_an_update_does_not_check_ends_at_against_eta():
    """Updates are checked field by field; the caller checks the merged window (check_consistency)."""
    assert valid({"eta": "2h", "ends_at": "1h"}, partial=True) == {
        "eta": NOW + minutes(120),
        "ends_at": NOW + minutes(60),
    }


def test_an_update_can_clear_the_eta():
    assert valid({"eta": None}, partial=True) == {"eta": None}
    assert valid({"ends_at": ""}, partial=True) == {"ends_at": None}


# ---------------------------------------------------------------- minutes


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(0, 0), ("15", 15), (" 30 ", 30), (MAX_MINUTES, MAX_MINUTES), ("", 0), (None, 0)],
    ids=repr,
)
@pytest.mark.parametrize("name", ["notice_minutes", "drain_minutes"])
def test_minutes(name, raw, expected):
    assert valid({name: raw})[name] == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("-1", f"Must be between 0 and {MAX_MINUTES}."),
        (MAX_MINUTES + 1, f"Must be between 0 and {MAX_MINUTES}."),
        ("1.5", "Must be a whole number of minutes."),
        (2.0, "Must be a whole number of minutes."),
        ("ten", "Must be a whole number of minutes."),
        ("10m", "Must be a whole number of minutes."),
    ],
    ids=repr,
)
@pytest.mark.parametrize("name", ["notice_minutes", "drain_minutes"])
def test_bad_minutes(name, raw, error):
    assert errors({name: raw}) == {name: error}


# ---------------------------------------------------------------- roles


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, []),
        ("", []),
        ("developer", ["developer"]),
        ("qa, developer", ["developer", "qa"]),
        ("qa developer\nqa", ["developer", "qa"]),
        (["qa", " developer ", ""], ["developer", "qa"]),
        (("admin", "user"), ["admin", "user"]),
    ],
    ids=repr,
)
def test_roles(raw, expected):
    assert valid({"allowed_roles": raw})["allowed_roles"] == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("developer, root", "Unknown role 'root'; roles are: admin, developer, qa, user."),
        (["Developer"], "Unknown role 'Developer'; roles are: admin, developer, qa, user."),
        (["qa"] * (MAX_LIST_ITEMS + 1), f"At most {MAX_LIST_ITEMS} roles."),
    ],
    ids=["unknown", "wrong-case", "too-many"],
)
def test_bad_roles(raw, error):
    assert errors({"allowed_roles": raw}) == {"allowed_roles": error}


# ---------------------------------------------------------------- IPs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10.0.0.1", ["10.0.0.1/32"]),
        ("10.1.2.3/8", ["10.0.0.0/8"]),  # host bits are forgiven
        ("10.0.0.0/8, 10.0.0.0/8 192.0.2.0/24", ["10.0.0.0/8", "192.0.2.0/24"]),
        (["2001:DB8::/32", "::1"], ["2001:db8::/32", "::1/128"]),
        ("::ffff:192.0.2.9", ["::ffff:c000:209/128"]),
        ("", []),
    ],
    ids=repr,
)
def test_ips(raw, expected):
    assert valid({"allowed_ips": raw})["allowed_ips"] == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("10.0.0.256", "'10.0.0.256' is not an IP address or CIDR range."),
        ("10.0.0.0/33", "'10.0.0.0/33' is not an IP address or CIDR range."),
        ("example.com", "'example.com' is not an IP address or CIDR range."),
        ("10.0.0.1 nope", "'nope' is not an IP address or CIDR range."),
        ([f"10.0.{i}.0/24" for i in range(MAX_LIST_ITEMS + 1)], f"At most {MAX_LIST_ITEMS} ranges."),
    ],
    ids=["octet", "prefix", "hostname", "second-bad", "too-many"],
)
def test_bad_ips(raw, error):
    assert errors({"allowed_ips": raw}) == {"allowed_ips": error}


# ---------------------------------------------------------------- scope paths


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/billing", ["/billing"]),
        ("/billing/, /reports", ["/billing", "/reports"]),
        ("//billing/./x/../", ["/billing"]),
        (["/billing", "/billing/"], ["/billing"]),
        ("/Billing", ["/Billing"]),
    ],
    ids=repr,
)
def test_scope_paths(raw, expected):
    assert valid({"mode": "scoped", "scope_paths": raw})["scope_paths"] == expected


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("billing", "'billing' must start with /."),
        ("\\billing", "'\\\\billing' must start with /."),
        ("/", "Use mode full to block every path."),
        ("/billing/..", "Use mode full to block every path."),
        ("/..", "Use mode full to block every path."),
        ([f"/p{i}" for i in range(MAX_LIST_ITEMS + 1)], f"At most {MAX_LIST_ITEMS} paths."),
        ("", "Scoped mode needs at least one path."),
    ],
    ids=["relative", "backslash", "root", "climbs-to-root", "dot-dot", "too-many", "none"],
)
def test_bad_scope_paths(raw, error):
    assert errors({"mode": "scoped", "scope_paths": raw}) == {"scope_paths": error}


def test_scoped_mode_needs_paths_only_on_activation():
    assert errors({"mode": "scoped"}) == {"scope_paths": "Scoped mode needs at least one path."}
    assert valid({"mode": "scoped"}, partial=True) == {"mode": Mode.SCOPED}


# ---------------------------------------------------------------- webhook pause flag


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, True), (False, False), ("true", True), ("on", True), ("YES", True), (" 1 ", True),
        ("false", False), ("off", False), ("0", False), ("", False), (None, False), (1, True), (0, False),
    ],
    ids=repr,
)
def test_pause_webhook_processing(raw, expected):
    assert valid({"pause_webhook_processing": raw})["pause_webhook_processing"] is expected


# ---------------------------------------------------------------- properties


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELDS), st.one_of(st.none(), st.text(max_size=20), st.integers(-5, 20000))))
@pytest.mark.parametrize("partial", [False, True], ids=["activate", "update"])
def test_validation_either_returns_values_or_names_the_bad_fields(partial, data):
    try:
        result = validate_window(data, NOW, partial=partial)
    except ValidationError as error:
        assert error.fields
        assert set(error.fields) <= set(FIELDS)
        assert all(isinstance(text, str) and text for text in error.fields.values())
    else:
        assert set(result.values) <= set(FIELDS)
        if partial:
            assert result.given <= set(data)


@PROPERTY
@given(st.lists(st.sampled_from(["/a", "/b/", "//c/./d", "/e/../f", "/Billing"]), min_size=1, max_size=6))
def test_scope_paths_come_back_normalised_and_unique(paths):
    from pausa_gate.paths import normalise_path

    stored = valid({"mode": "scoped", "scope_paths": paths})["scope_paths"]
    assert stored == list(dict.fromkeys(normalise_path(p) for p in paths))
