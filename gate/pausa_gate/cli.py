"""`pausa`: turn a running Pausa's maintenance on and off from a deploy pipeline, over its JSON API.

Settings: `--url` or PAUSA_URL (Pausa's base URL), `--token` or PAUSA_TOKEN (a token with the
admin scope: `flask tokens create NAME`). Exit codes: 0 done, 1 refused, 2 bad input, 3 Pausa
unreachable; `pausa run` exits with its command's code once the command has run.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from . import __version__
from .api import (
    DEFAULT_TIMEOUT,
    ApiError,
    BadInput,
    PausaClient,
    Refused,
    Unreachable,
    is_plain_http_to_another_host,
    normalise_base_url,
)
from .paths import normalise_path
from .state import DEFAULT_MESSAGE
from .windows import utcnow

DONE, REFUSED, BAD_INPUT, UNREACHABLE = 0, 1, 2, 3
INTERRUPTED = 130

# Pausa's own default message (app/maintenance/validation.py); a test keeps the two equal, so
# `pausa on` without --message recognises the window it would have made.
# What Pausa gives a window for every option left out, to tell "the same window" from another.
WINDOW_DEFAULTS: dict[str, Any] = {
    "message": DEFAULT_MESSAGE,
    "reason": "other",
    "mode": "full",
    "scope_paths": [],
    "allowed_roles": [],
    "allowed_ips": [],
    "eta": None,
    "ends_at": None,
    "notice_minutes": 0,
    "drain_minutes": 0,
}
# `pausa run` wraps a deploy, so that is its reason unless told otherwise.
RUN_REASON = "deployment"
# A relative time (15m) is measured from the moment Pausa received the call; a retry or a re-run
# of the same command finds the window's ETA that far from the window's creation, give or take this.
RELATIVE_TOLERANCE = timedelta(seconds=5)
ABSOLUTE_TOLERANCE = timedelta(seconds=1)
RELATIVE = re.compile(r"^\s*(\d{1,5})\s*(s|m|h|d)\s*$", re.IGNORECASE)
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# The options that differ from their field's name, for messages that name what to fix.
OPTION_NAMES = {
    "scope_paths": "--scope",
    "allowed_roles": "--allow-role",
    "allowed_ips": "--allow-ip",
    "body": "the request body",
}


class Failure(Exception):
    """Stop with one line on stderr and an exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.message = message
        self.code = code


# -- output ------------------------------------------------------------------------------


def say(text: str, *, to_stderr: bool = False) -> None:
    """Print one line, flushed, so it shows in order with a command's own output."""
    print(text, file=sys.stderr if to_stderr else sys.stdout, flush=True)


def error_line(text: str) -> None:
    """Print an error line on stderr."""
    say(f"Error: {text}", to_stderr=True)


def option_name(field: str) -> str:
    """Name the CLI option of a window field (scope_paths is --scope)."""
    return OPTION_NAMES.get(field, "--" + field.replace("_", "-"))


def parse_time(text: str | None) -> datetime | None:
    """Read an ISO-8601 time from Pausa (or an operator) as aware UTC; None when absent or unreadable."""
    if not text:
        return None
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def clock(moment: datetime, now: datetime) -> str:
    """Show a time in UTC: the hour alone today, the date too on another day."""
    if moment.date() == now.date():
        return moment.strftime("%H:%M UTC")
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe(window: dict[str, Any], now: datetime) -> str:
    """Summarise a window: `window 12, full, back ~14:32 UTC`."""
    parts = [f"window {window.get('id')}"]
    mode = window.get("mode") or "full"
    scope = window.get("scope_paths") or []
    parts.append(f"scoped to {', '.join(scope)}" if mode == "scoped" and scope else mode)
    eta = parse_time(window.get("eta"))
    if eta is None:
        parts.append("no ETA")
    elif eta > now:
        parts.append(f"back ~{clock(eta, now)}")
    else:
        parts.append(f"ETA {clock(eta, now)} passed")
    ends_at = parse_time(window.get("ends_at"))
    if ends_at is not None:
        parts.append(f"ends automatically {clock(ends_at, now)}")
    return ", ".join(parts)


def one_line(text: str, limit: int = 100) -> str:
    """Squeeze a message onto one line, shortened when long."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# -- comparing a window with the options given --------------------------------------------


def _as_set(name: str, values: Sequence[str]) -> frozenset[str] | None:
    """Normalise a list option the way Pausa stores it; None when Pausa would not accept it."""
    items = [str(value).strip() for value in values if str(value).strip()]
    if name == "scope_paths":
        return frozenset(normalise_path(item) for item in items)
    if name == "allowed_ips":
        try:
            return frozenset(str(ipaddress.ip_network(item, strict=False)) for item in items)
        except ValueError:
            return None
    return frozenset(items)


def _moment(given: str, anchor: datetime | None) -> tuple[datetime | None, timedelta]:
    """Read a time option: relative ones (15m) from `anchor`."""
    relative = RELATIVE.match(given)
    if relative:
        if anchor is None:
            return None, RELATIVE_TOLERANCE
        seconds = int(relative.group(1)) * UNIT_SECONDS[relative.group(2).lower()]
        return anchor + timedelta(seconds=seconds), RELATIVE_TOLERANCE
    return parse_time(given), ABSOLUTE_TOLERANCE


def differences(sent: dict[str, Any], window: dict[str, Any], names: Sequence[str]) -> list[str]:
    """Name the options whose values differ from the window's (options left out count as defaults)."""
    # A relative start counts from when Pausa made the window; a relative ETA or end from the start.
    created = parse_time(window.get("created_at"))
    start = parse_time(window.get("starts_at")) or created
    differing: list[str] = []
    for name in names:
        given = sent.get(name, WINDOW_DEFAULTS.get(name))
        have = window.get(name)
        if name == "message":
            text = (given or "").replace("\r\n", "\n").strip() or DEFAULT_MESSAGE
            same = text == have
        elif name in ("reason", "mode"):
            same = (str(given).strip().lower() or WINDOW_DEFAULTS[name]) == have
        elif name in ("scope_paths", "allowed_roles", "allowed_ips"):
            wanted = _as_set(name, given or [])
            same = wanted is not None and wanted == _as_set(name, have or [])
        elif name in ("eta", "ends_at", "starts_at"):
            stored = parse_time(have)
            if given in (None, ""):
                same = stored is None
            else:
                wanted, tolerance = _moment(str(given), created if name == "starts_at" else start)
                same = wanted is not None and stored is not None and abs(wanted - stored) <= tolerance
        elif name in ("notice_minutes", "drain_minutes"):
            same = str(given).strip() == str(have)
        else:
            same = given == have
        if not same:
            differing.append(name)
    # Left out means off: a window that holds webhooks is not the one an `on` without the option makes.
    if bool(sent.get("pause_webhook_processing")) != bool(window.get("pause_webhook_processing")):
        differing.append("pause_webhook_processing")
    return differing


ACTIVE_FIELDS = (
    "message", "reason", "mode", "scope_paths", "allowed_roles", "allowed_ips", "eta", "ends_at",
)
SCHEDULE_FIELDS = (*ACTIVE_FIELDS, "starts_at", "notice_minutes", "drain_minutes")


# -- the commands ---------------------------------------------------------------------------


def window_fields(args: argparse.Namespace, *, reason: str | None = None) -> dict[str, Any]:
    """Collect the window options given on the command line as API fields."""
    fields: dict[str, Any] = {}
    for name in ("message", "eta", "reason", "mode", "ends_at", "starts_at", "notice_minutes",
                 "drain_minutes"):
        value = getattr(args, name, None)
        if value is not None:
            fields[name] = value
    for name in ("scope_paths", "allowed_roles", "allowed_ips"):
        values = getattr(args, name, None)
        if values:
            fields[name] = values
    if reason is not None:
        fields.setdefault("reason", reason)
    return fields


def command_status(client: PausaClient, args: argparse.Namespace) -> int:
    """Print whether maintenance is on (exit 0 either way)."""
    body = client.status().body
    if args.json:
        say(json.dumps(body, indent=2, sort_keys=True))
        return DONE
    window = body.get("window") if isinstance(body, dict) else None
    if not window:
        say("Maintenance is OFF.")
        return DONE
    now = utcnow()
    say(f"Maintenance is ON ({describe(window, now)}).")
    started = parse_time(window.get("started_at") or window.get("starts_at"))
    by = window.get("started_by") or window.get("created_by") or "?"
    when = f" at {clock(started, now)}" if started else ""
    say(f'  "{one_line(window.get("message") or "")}" (reason {window.get("reason")}, started by {by}{when})')
    return DONE


def turn_on(client: PausaClient, fields: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Start maintenance, or find it already on with these values; return (window, started now)."""
    # A window already active with other values is refused: it may be someone else's (an incident),
    # and changing or later ending it behind their back would be worse than stopping the deploy.
    for _ in range(2):  # a window that ends between our two calls: try once more
        try:
            return client.activate(fields).body["window"], True
        except Refused as refusal:
            if refusal.status != 409:
                raise
        window = client.status().body.get("window")
        if window is None:
            continue
        differing = differences(fields, window, ACTIVE_FIELDS)
        if not differing:
            return window, False
        names = ", ".join(option_name(name) for name in differing)
        raise Failure(
            f"maintenance is already ON (window {window['id']}) with another {names}; change it with "
            "`pausa update ...` or end it with `pausa off` first.",
            REFUSED,
        )
    raise Failure("maintenance keeps changing under us; run `pausa status` and try again.", REFUSED)


def command_on(client: PausaClient, args: argparse.Namespace) -> int:
    """Start maintenance now; already on with the same values is done too."""
    window, started = turn_on(client, window_fields(args))
    if started:
        say(f"Maintenance is ON ({describe(window, utcnow())}).")
    else:
        say(f"Maintenance is already ON with these values ({describe(window, utcnow())}).")
    return DONE


def command_update(client: PausaClient, args: argparse.Namespace) -> int:
    """Change the active window (only the options given)."""
    fields = window_fields(args)
    if not fields:
        raise Failure("give at least one option to change (see `pausa update --help`).", BAD_INPUT)
    try:
        window = client.update(fields).body["window"]
    except Refused as refusal:
        if refusal.status == 404:
            raise Failure(
                "no maintenance is active, so there is nothing to update; start it with `pausa on`.", REFUSED
            ) from None
        raise
    say(f"Maintenance updated ({describe(window, utcnow())}).")
    return DONE


def duration(window: dict[str, Any]) -> str:
    """Say how long an ended window lasted."""
    started = parse_time(window.get("started_at") or window.get("starts_at"))
    ended = parse_time(window.get("ended_at"))
    if started is None or ended is None:
        return ""
    minutes = max(0, round((ended - started).total_seconds() / 60))
    return f" after {minutes} min" if minutes else " after less than a minute"


def command_off(client: PausaClient, args: argparse.Namespace) -> int:
    """End maintenance now; already off is done too."""
    try:
        answer = client.end()
        window = answer.body["window"]
    except Refused as refusal:
        if refusal.status == 404 and refusal.answer.error_code == "not_found":
            say("Maintenance is already OFF.")
            return DONE
        raise
    say(f"Maintenance is OFF ({ended_windows(answer.body, window)} ended{duration(window)}).")
    return DONE


def ended_windows(body: dict[str, Any], window: dict[str, Any]) -> str:
    """Name the windows an end ended: usually one; two when a planned one had started meanwhile."""
    ids = body.get("ended") or [window["id"]]
    if len(ids) == 1:
        return f"window {ids[0]}"
    return "windows " + ", ".join(str(number) for number in ids[:-1]) + f" and {ids[-1]}"


def still_on(body: dict[str, Any]) -> str:
    """Say which window keeps maintenance on after an end, if one does."""
    window = body.get("still_in_effect")
    if not window:
        return ""
    ends = parse_time(window.get("ends_at"))
    until = f" until {clock(ends, utcnow())}" if ends else " until it is ended"
    return f"; maintenance stays ON: window {window['id']} ({window.get('status')}) is in effect{until}"


def command_schedule(client: PausaClient, args: argparse.Namespace) -> int:
    """Plan a window; the same window already planned is done too."""
    fields = window_fields(args)
    now = utcnow()
    try:
        window = client.schedule(fields).body["window"]
    except Refused as refusal:
        if refusal.status != 409:
            raise
        for planned in client.windows().body.get("windows") or []:
            if planned.get("status") == "scheduled" and not differences(fields, planned, SCHEDULE_FIELDS):
                say(f"Window {planned['id']} is already scheduled with these values ({plan(planned, now)}).")
                return DONE
        raise
    say(f"Scheduled window {window['id']} ({plan(window, now)}).")
    return DONE


def plan(window: dict[str, Any], now: datetime) -> str:
    """Summarise a planned window: its start, its end, its mode and its lead times."""
    starts = parse_time(window.get("starts_at"))
    ends = parse_time(window.get("ends_at"))
    parts = [f"starts {clock(starts, now) if starts else '?'}"]
    parts.append(f"ends {clock(ends, now)}" if ends else "lasts until ended")
    parts.append(window.get("mode") or "full")
    for name, label in (("notice_minutes", "notice"), ("drain_minutes", "drain")):
        if window.get(name):
            parts.append(f"{label} {window[name]} min")
    return ", ".join(parts)


def command_cancel(client: PausaClient, args: argparse.Namespace) -> int:
    """Cancel a scheduled window; already cancelled is done too."""
    try:
        window = client.cancel(args.window_id).body["window"]
    except Refused as refusal:
        if refusal.status == 409:
            for known in client.windows().body.get("windows") or []:
                if known.get("id") == args.window_id and known.get("status") == "cancelled":
                    say(f"Window {args.window_id} is already cancelled.")
                    return DONE
        raise
    starts = parse_time(window.get("starts_at"))
    when = f" (it was to start {clock(starts, utcnow())})" if starts else ""
    say(f"Cancelled window {window['id']}{when}.")
    return DONE


# -- pausa run ---------------------------------------------------------------------------------


def note(text: str) -> None:
    """Print a line of `pausa run` on stderr, marked, so the command's stdout stays its own."""
    say(f"pausa: {text}", to_stderr=True)


def resolve(command: Sequence[str]) -> str | None:
    """Return why the command cannot be started, or None when it can."""
    program = command[0]
    if os.sep in program or (os.altsep and os.altsep in program):
        if not os.path.isfile(program):
            return f"{program}: no such file"
        if not os.access(program, os.X_OK):
            return f"{program}: not executable (chmod +x it)"
        return None
    if shutil.which(program) is None:
        return f"{program}: command not found"
    return None


def terminal_sent_it() -> bool:
    """Tell whether a SIGINT most likely came from the terminal (Ctrl-C), not from a process."""
    # The terminal signals the whole foreground process group, the command included: forwarding
    # that SIGINT would deliver it twice. A CI runner signals pausa alone (no terminal there).
    if not hasattr(os, "tcgetpgrp"):
        return False
    for descriptor in (0, 1, 2):
        try:
            if os.isatty(descriptor):
                return os.tcgetpgrp(descriptor) == os.getpgrp()
        except OSError:
            continue
    return False


class NotStarted(Exception):
    """The command could not be started (it exists, but exec refused it): nothing ran."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.message = message
        self.code = code


def run_command(command: Sequence[str]) -> int:
    """Run the command with our stdio, forwarding SIGINT and SIGTERM to it; return its exit code."""
    try:
        child = subprocess.Popen(list(command))  # noqa: S603 - running the operator's command is the point
    except OSError as error:
        # The shell's codes: 127 not found, 126 found but not runnable.
        code = 127 if isinstance(error, FileNotFoundError) else 126
        raise NotStarted(f"could not start {command[0]}: {error.strerror or error}", code) from None

    def forward(signum: int, frame: Any) -> None:
        if signum == signal.SIGINT and terminal_sent_it():
            return
        # It may have just exited; and Windows cannot send every signal: neither must crash pausa.
        with contextlib.suppress(OSError, ValueError):
            child.send_signal(signum)

    handled = [signal.SIGINT, signal.SIGTERM]
    previous = {number: signal.signal(number, forward) for number in handled}
    try:
        code = child.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    # A command killed by a signal exits like a shell reports it: 128 + the signal's number.
    return 128 - code if code < 0 else code


def end_window(client: PausaClient, window_id: int) -> str:
    """End the window `pausa run` started (or continued), and only that one; return what happened."""
    try:
        # Pausa ends it only if it is still the active one: no race with someone starting another.
        body = client.end(window_id).body
        ended = body["window"]
    except Refused as refusal:
        if refusal.status == 404 and refusal.answer.error_code == "not_found":
            return "maintenance was already OFF"
        if refusal.status == 409:
            active = client.status().body.get("window") or {}
            return (f"window {window_id} is over, and window {active.get('id')} (not this run's) is active: "
                    "left ON")
        raise
    if body.get("still_in_effect"):
        return f"window {ended['id']} ended{duration(ended)}{still_on(body)}"
    return f"maintenance is OFF (window {ended['id']} ended{duration(ended)})"


def exit_code(error: ApiError | Failure) -> int:
    """Return the exit code that says what kind of failure this is."""
    if isinstance(error, Failure):
        return error.code
    if isinstance(error, BadInput):
        return BAD_INPUT
    return UNREACHABLE if isinstance(error, Unreachable) else REFUSED


def command_run(client: PausaClient, args: argparse.Namespace) -> int:
    """Turn maintenance on, run the command, and turn it off when the command succeeds."""
    command = args.command
    problem = resolve(command)
    if problem:
        raise Failure(f"{problem}; maintenance was not touched.", BAD_INPUT)
    shown = one_line(shlex.join(command), 120)
    window_id: int | None = None
    started = False
    try:
        window, started = turn_on(client, window_fields(args, reason=RUN_REASON))
    except BadInput:
        raise  # a typo in the deploy script: never run the command around it
    except (ApiError, Failure) as error:
        if not args.run_anyway:
            reason = error.message.rstrip(".")
            raise Failure(f"{reason}; the command was not run.", exit_code(error)) from None
        note(f"could not turn maintenance on ({error.message.rstrip('.')}); running the command anyway "
             "(--run-anyway), without maintenance.")
    else:
        window_id = window["id"]
        state = "ON" if started else "already ON with these values"
        note(f"Maintenance is {state} ({describe(window, utcnow())}); running: {shown}")

    try:
        code = run_command(command)
    except NotStarted as problem:
        if window_id is None or not started:
            raise Failure(f"{problem.message}; maintenance was left as it was.", problem.code) from None
        # Nothing ran, so nothing is half-done: end the window this run has just started.
        try:
            outcome = end_window(client, window_id)
        except ApiError as error:
            reason = error.message.rstrip(".")
            outcome = f"maintenance is still ON (window {window_id}; end it with `pausa off`): {reason}"
        raise Failure(f"{problem.message}; {outcome}.", problem.code) from None

    if window_id is None:
        note(f"the command exited with {code}; this run did not turn maintenance on, so it is left as is.")
        return code
    if code != 0 and not args.end_on_failure:
        note(f"the command failed (exit {code}); maintenance stays ON (window {window_id}) so users are not "
             "served a half-done deploy. Fix it, then end maintenance with `pausa off` "
             "(or re-run this same command: it continues in the same window).")
        return code
    try:
        outcome = end_window(client, window_id)
    except ApiError as error:
        failed = exit_code(error)
        verdict = "succeeded" if code == 0 else f"failed (exit {code})"
        error_line(f"the command {verdict} but maintenance is still ON (window {window_id}): "
                   f"{error.message.rstrip('.')}. End it with `pausa off`.")
        return code or failed
    if code == 0:
        note(f"the command succeeded; {outcome}.")
    else:
        note(f"the command failed (exit {code}); {outcome} (--end-on-failure).")
    return code


# -- the command line --------------------------------------------------------------------------


def positive_seconds(text: str) -> float:
    """Read --timeout: a number of seconds, above 0 and at most 600."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 600:
        raise argparse.ArgumentTypeError("must be between 0 and 600 seconds")
    return value


def window_id_type(text: str) -> int:
    """Read a window id: a positive whole number."""
    if not text.isdigit() or not 1 <= int(text) <= 2**63 - 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a window id (a positive number)")
    return int(text)


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Add --url, --token and --timeout; SUPPRESS lets them go before or after the command."""
    group = parser.add_argument_group("connection")
    group.add_argument("--url", default=argparse.SUPPRESS, help="Pausa's base URL (default: $PAUSA_URL)")
    group.add_argument(
        "--token", default=argparse.SUPPRESS,
        help="token with the admin scope (default: $PAUSA_TOKEN; prefer the variable: "
             "arguments show in process lists)",
    )
    group.add_argument(
        "--timeout", type=positive_seconds, default=argparse.SUPPRESS,
        help=f"seconds to wait for each answer (default: {DEFAULT_TIMEOUT:g})",
    )


def add_window_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of `flask maintenance on`: the window's fields."""
    group = parser.add_argument_group("window")
    group.add_argument("--message", help="text shown to users (at most 500 characters)")
    group.add_argument("--eta", help="expected return: 15m, 2h, 1d (from the start: now, or the planned "
                       "start with `schedule`) or ISO-8601 (UTC without an offset)")
    group.add_argument("--reason", help="deployment, database, testing, incident or other")
    group.add_argument("--mode", help="full (default), read_only or scoped")
    group.add_argument("--scope", dest="scope_paths", action="append", metavar="PATH",
                       help="path prefix to block in scoped mode (repeatable)")
    group.add_argument("--allow-role", dest="allowed_roles", action="append", metavar="ROLE",
                       help="role that bypasses (repeatable)")
    group.add_argument("--allow-ip", dest="allowed_ips", action="append", metavar="CIDR",
                       help="IP or CIDR range that bypasses (repeatable)")
    group.add_argument("--ends-at", dest="ends_at", metavar="WHEN",
                       help="hard automatic end: 30m, 2h (from the start, like --eta) or ISO-8601")


def build_parser() -> argparse.ArgumentParser:
    """Build the command line: the connection options, then one subcommand per action."""
    parser = argparse.ArgumentParser(
        prog="pausa",
        description="Drive a running Pausa's maintenance mode from a deploy pipeline.",
        epilog="Exit codes: 0 done, 1 refused, 2 bad input, 3 Pausa unreachable; "
               "`pausa run` exits with its command's code.",
    )
    parser.add_argument("--version", action="version", version=f"pausa-gate {__version__}")
    add_connection_options(parser)
    commands = parser.add_subparsers(dest="name", metavar="COMMAND")

    def command(name: str, handler: Callable[..., int], text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        add_connection_options(sub)
        sub.set_defaults(handler=handler)
        return sub

    status = command("status", command_status, "Print whether maintenance is on (exit 0 either way).")
    status.add_argument("--json", action="store_true", help="print Pausa's JSON answer, for scripts")

    on = command("on", command_on, "Start maintenance now (already on with the same values: exit 0).")
    add_window_options(on)

    update = command("update", command_update, "Change the active window (only the options given).")
    add_window_options(update)

    command("off", command_off, "End maintenance now (already off: exit 0).")

    schedule = command("schedule", command_schedule, "Plan a window that starts later.")
    schedule.add_argument("--starts-at", "--start", dest="starts_at", required=True, metavar="WHEN",
                          help="when it starts: ISO-8601 (UTC without an offset), or 2h, 1d")
    schedule.add_argument("--notice-minutes", dest="notice_minutes", type=int, metavar="N",
                          help="show the banner this long before the start")
    schedule.add_argument("--drain-minutes", dest="drain_minutes", type=int, metavar="N",
                          help="refuse writes this long before the start")
    add_window_options(schedule)

    cancel = command("cancel", command_cancel, "Cancel a scheduled window before it starts.")
    cancel.add_argument("window_id", metavar="ID", type=window_id_type, help="the window's id")

    run = command(
        "run", command_run,
        "Turn maintenance on, run COMMAND, turn it off when COMMAND succeeds; "
        "when it fails, leave maintenance on and exit with its code.",
    )
    run.usage = "pausa run [options] -- COMMAND [ARGUMENT ...]"
    add_window_options(run)
    run.add_argument("--end-on-failure", action="store_true",
                     help="end maintenance even when COMMAND fails (still exit with its code)")
    run.add_argument("--run-anyway", action="store_true",
                     help="run COMMAND even when maintenance could not be turned on (refused or unreachable)")
    return parser


def split_command(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """Split `pausa run ... -- COMMAND ...` at the first `--`: the command's own options stay its own."""
    if "--" not in argv:
        return argv, None
    at = argv.index("--")
    return argv[:at], argv[at + 1:]


def settings(args: argparse.Namespace) -> tuple[str, str]:
    """Read the URL and the token from the options or the environment; exit 2 naming what is missing."""
    url = (getattr(args, "url", None) or os.environ.get("PAUSA_URL") or "").strip()
    token = (getattr(args, "token", None) or os.environ.get("PAUSA_TOKEN") or "").strip()
    wanted = {
        "PAUSA_URL": "(or --url) to Pausa's base URL",
        "PAUSA_TOKEN": "(or --token) to a token with the admin scope (`flask tokens create NAME` on Pausa)",
    }
    missing = [name for name, value in (("PAUSA_URL", url), ("PAUSA_TOKEN", token)) if not value]
    if missing:
        raise Failure("set " + ", and ".join(f"{name} {wanted[name]}" for name in missing) + ".", BAD_INPUT)
    try:
        url = normalise_base_url(url)
    except ValueError as problem:
        raise Failure(f"PAUSA_URL: {problem}.", BAD_INPUT) from None
    if any(character.isspace() or ord(character) < 32 for character in token):
        raise Failure("PAUSA_TOKEN holds spaces or line breaks; set it to the token alone.", BAD_INPUT)
    return url, token


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `pausa` command line; return its exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    options, command = split_command(arguments)
    args = parser.parse_args(options)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return BAD_INPUT
    if args.name == "run":
        if not command:
            parser.error("run: put the command after --, e.g. pausa run --eta 15m -- ./deploy.sh")
        args.command = command
    elif command is not None:
        parser.error(f"{args.name}: unexpected arguments after --")
    try:
        url, token = settings(args)
        if is_plain_http_to_another_host(url):
            say("Warning: PAUSA_URL is plain http:// to another host; the token crosses the network "
                "unencrypted.", to_stderr=True)
        client = PausaClient(url, token, timeout=getattr(args, "timeout", DEFAULT_TIMEOUT))
        return args.handler(client, args)
    except BadInput as error:
        for field, text in error.fields.items():
            error_line(f"{option_name(field)}: {text}")
        if not error.fields:
            error_line(error.message)
        return BAD_INPUT
    except Refused as error:
        error_line(error.message)
        return REFUSED
    except Unreachable as error:
        error_line(error.message)
        return UNREACHABLE
    except Failure as failure:
        error_line(failure.message)
        return failure.code
    except KeyboardInterrupt:
        error_line("interrupted; check `pausa status`: maintenance may be on.")
        return INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
