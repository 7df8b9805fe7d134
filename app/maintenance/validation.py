"""Rules for the fields of a maintenance window, shared by the dashboard, the API and the CLI.

Also the checks every entry point applies to raw input before it reaches the database: text
that cannot be stored (a NUL byte, a lone surrogate) and request bodies that are not UTF-8 JSON
(see docs/errors.md).
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pausa_gate.languages import LANGUAGES
from pausa_gate.paths import normalise_path
from pausa_gate.state import DEFAULT_MESSAGE, ROLES, Mode, Reason, language_tag
from pausa_gate.windows import parse_moment, relative_offset

MESSAGE_MAX = 500
MAX_LIST_ITEMS = 50
MAX_MINUTES = 7 * 24 * 60
# How far ahead a window may start, and how long after its start its ETA or end may be: a
# year covers any real plan, and refusing more catches typos like 2062 for 2026 (docs/errors.md).
MAX_AHEAD = timedelta(days=365)
INVALID_TEXT = "Contains invalid characters (such as a NUL byte); remove them."

FIELDS = (
    "message",
    "messages",
    "reason",
    "mode",
    "scope_paths",
    "eta",
    "ends_at",
    "starts_at",
    "notice_minutes",
    "drain_minutes",
    "allowed_roles",
    "allowed_ips",
    "pause_webhook_processing",
)


class ValidationError(Exception):
    """Raised with a map of field name to a message a person can act on."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("; ".join(f"{name}: {text}" for name, text in fields.items()))
        self.fields = fields


@dataclass
class WindowInput:
    """Validated window fields; only the keys in `given` were supplied."""

    values: dict[str, Any] = field(default_factory=dict)
    # ETA and end given as lengths (30m): they count from the start, which an edit of a planned
    # window may not name (the service then counts from the stored start).
    offsets: dict[str, timedelta] = field(default_factory=dict)

    @property
    def given(self) -> set[str]:
        return set(self.values)


def column_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """Turn validated values into what the window's columns store (enums as their text)."""
    return {name: getattr(value, "value", value) for name, value in values.items()}


def validate_window(
    data: Mapping[str, Any], now: datetime, *, partial: bool = False
) -> WindowInput:
    """Validate raw window fields (strings, lists or JSON values) into typed values.

    With `partial` only the supplied fields are checked and returned (an
    update); otherwise defaults fill the gaps (an activation). Unknown fields
    are an error so that a typo in a deploy script is never silently ignored.
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    offsets: dict[str, timedelta] = {}
    unknown = sorted(set(data) - set(FIELDS))
    for name in unknown:
        errors[name] = "Unknown field."
    unstorable = {name for name in data if name not in errors and has_unstorable_text(data[name])}
    for name in unstorable:
        errors[name] = INVALID_TEXT
    # Check the other fields as if these were absent, so each field gets one message.
    data = {name: value for name, value in data.items() if name not in unstorable}

    def present(name: str) -> bool:
        return name in data and data[name] is not None

    if present("message") or not partial:
        message = data.get("message")
        if message is None or (isinstance(message, str) and not message.strip()):
            message = DEFAULT_MESSAGE
        if not isinstance(message, str):
            errors["message"] = "Must be text."
        else:
            message = message.replace("\r\n", "\n").strip()
            if len(message) > MESSAGE_MAX:
                errors["message"] = f"At most {MESSAGE_MAX} characters (got {len(message)})."
            else:
                values["message"] = message

    # The message per language: only when given (absent, a new window has none; an update keeps them).
    if present("messages"):
        messages, message_errors = validate_messages(data["messages"])
        errors.update(message_errors)
        if not message_errors:
            values["messages"] = messages

    for name, enum_type, default in (("reason", Reason, Reason.OTHER), ("mode", Mode, Mode.FULL)):
        if present(name) and data[name] != "":
            try:
                values[name] = enum_type(str(data[name]).strip().lower())
            except ValueError:
                allowed = ", ".join(member.value for member in enum_type)
                errors[name] = f"Must be one of: {allowed}."
        elif not partial:
            values[name] = default

    starts_at = now
    if present("starts_at") and data["starts_at"] != "":
        try:
            starts_at = parse_moment(str(data["starts_at"]), now)
        except ValueError:
            errors["starts_at"] = f"Use a time like {example_moment(now)}, or 30m, 2h from now."
        else:
            if starts_at > now + MAX_AHEAD:
                errors["starts_at"] = "Must be within a year from now."
                starts_at = now
            else:
                values["starts_at"] = starts_at

    for name in ("eta", "ends_at"):
        if name not in data:
            if not partial:
                values[name] = None
            continue
        if data[name] is None or data[name] == "":
            values[name] = None  # an explicit empty value clears it
            continue
        try:
            moment = parse_moment(str(data[name]), starts_at)  # 30m counts from the start
        except ValueError:
            errors[name] = f"Use a time like {example_moment(now)}, or 30m, 2h from the start."
            continue
        offset = relative_offset(str(data[name]))
        if offset is not None:
            offsets[name] = offset
        if moment <= now:
            errors[name] = "Must be in the future."
        elif moment <= starts_at:
            errors[name] = "Must be after the start."
        elif moment > starts_at + MAX_AHEAD:
            errors[name] = "Must be within a year of the start."
        else:
            values[name] = moment

    for name in ("notice_minutes", "drain_minutes"):
        if present(name) and data[name] != "":
            try:
                minutes = int(str(data[name]).strip())
            except ValueError:
                errors[name] = "Must be a whole number of minutes."
                continue
            if not 0 <= minutes <= MAX_MINUTES:
                errors[name] = f"Must be between 0 and {MAX_MINUTES}."
            else:
                values[name] = minutes
        elif not partial:
            values[name] = 0

    if present("allowed_roles") or not partial:
        roles = _as_list(data.get("allowed_roles"))
        bad = [role for role in roles if role not in ROLES]
        if bad:
            errors["allowed_roles"] = f"Unknown role {bad[0]!r}; roles are: {', '.join(ROLES)}."
        elif len(roles) > MAX_LIST_ITEMS:
            errors["allowed_roles"] = f"At most {MAX_LIST_ITEMS} roles."
        else:
            values["allowed_roles"] = sorted(set(roles))

    if present("allowed_ips") or not partial:
        networks: list[str] = []
        for text in _as_list(data.get("allowed_ips")):
            try:
                networks.append(str(ipaddress.ip_network(text, strict=False)))
            except ValueError:
                errors["allowed_ips"] = f"{text!r} is not an IP address or CIDR range."
                break
        else:
            if len(networks) > MAX_LIST_ITEMS:
                errors["allowed_ips"] = f"At most {MAX_LIST_ITEMS} ranges."
            else:
                values["allowed_ips"] = list(dict.fromkeys(networks))

    if present("scope_paths") or not partial:
        paths = []
        for text in _as_list(data.get("scope_paths")):
            if not text.startswith("/"):
                errors["scope_paths"] = f"{text!r} must start with /."
                break
            paths.append(normalise_path(text))
        else:
            if len(paths) > MAX_LIST_ITEMS:
                errors["scope_paths"] = f"At most {MAX_LIST_ITEMS} paths."
            elif "/" in paths:
                errors["scope_paths"] = "Use mode full to block every path."
            else:
                values["scope_paths"] = list(dict.fromkeys(paths))

    if present("pause_webhook_processing") or not partial:
        flag = data.get("pause_webhook_processing", False)
        if isinstance(flag, str):
            flag = flag.strip().lower() in ("1", "true", "yes", "on")
        values["pause_webhook_processing"] = bool(flag)

    if not partial:
        check_consistency(values, errors)

    if errors:
        raise ValidationError(errors)
    return WindowInput(values, offsets)


def example_moment(now: datetime) -> str:
    """Return an example time for hints: tomorrow at 02:00 UTC, never one in the past."""
    return f"{(now + timedelta(days=1)):%Y-%m-%d}T02:00Z"


# The languages a message may be written in, by BCP 47 tag; lowercase and `_` spellings are accepted.
MESSAGE_LANGUAGES = tuple(language_tag(language) for language in LANGUAGES)
_MESSAGE_LANGUAGE_SPELLINGS = {tag.lower(): tag for tag in MESSAGE_LANGUAGES}


def validate_messages(raw: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Check a window's messages per language: {language tag: text}, each like `message`.

    Returns the messages keyed by canonical tag (an empty text drops that language, so its
    visitors get the default message) and the errors keyed `messages.<tag as given>`. The
    whole map is replaced on an update: send every language you want to keep.
    """
    if not isinstance(raw, Mapping):
        return {}, {"messages": 'Must be an object of language tag to text, like {"pt-BR": "..."}.'}
    if len(raw) > MAX_LIST_ITEMS:  # a bound on the errors echoed back, as on the lists
        return {}, {"messages": f"At most {MAX_LIST_ITEMS} languages."}
    messages: dict[str, str] = {}
    errors: dict[str, str] = {}
    seen: set[str] = set()
    for key, text in raw.items():
        name = f"messages.{str(key)[:40]}"
        tag = _MESSAGE_LANGUAGE_SPELLINGS.get(str(key).replace("_", "-").lower())
        if tag is None:
            errors[name] = f"Unknown language; languages are: {', '.join(MESSAGE_LANGUAGES)}."
        elif tag in seen:
            errors[name] = f"Given twice (as {tag} too)."
        elif text is not None and not isinstance(text, str):
            errors[name] = "Must be text."
        else:
            seen.add(tag)
            text = (text or "").replace("\r\n", "\n").strip()
            if len(text) > MESSAGE_MAX:
                errors[name] = f"At most {MESSAGE_MAX} characters (got {len(text)})."
            elif text:
                messages[tag] = text
    return messages, errors


def _as_list(raw: Any) -> list[str]:
    """Accept a list, or text separated by commas, spaces or newlines."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, str):
        raw = raw.replace(",", " ").split()
    if not isinstance(raw, Iterable):
        return [str(raw)]
    return [str(item).strip() for item in raw if str(item).strip()]


def check_consistency(values: Mapping[str, Any], errors: dict[str, str]) -> None:
    """Check rules that span fields: a scoped window names paths, the hard end follows the ETA."""
    if values.get("mode") == Mode.SCOPED and not values.get("scope_paths"):
        errors.setdefault("scope_paths", "Scoped mode needs at least one path.")
    eta, ends_at = values.get("eta"), values.get("ends_at")
    if eta is not None and ends_at is not None and ends_at < eta:
        errors.setdefault("ends_at", "The automatic end must not come before the ETA.")


def has_unstorable_text(value: Any) -> bool:
    """Tell whether text in `value` (nested lists and dicts too) holds a NUL byte or a lone surrogate.

    PostgreSQL refuses NUL in text and no UTF-8 encodes a lone surrogate, so such
    text would fail in the database instead of being refused as bad input.
    """
    pending = [value]
    while pending:  # a loop, not recursion: a deeply nested value must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item or not _encodes(item):
                return True
        elif isinstance(item, Mapping):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)
    return False


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class BodyError(ValueError):
    """Raised with a reason why a request body is not usable JSON."""


def parse_json(payload: bytes) -> Any:
    """Parse a request body as UTF-8 JSON; raise BodyError with a reason a sender can act on."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BodyError("the JSON is nested too deeply") from None
    except ValueError:
        raise BodyError("the body is not valid JSON") from None
