"""The `pausa` CLI against a real running Pausa: what a deploy pipeline relies on, exit codes included."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from pausa_gate.cli import clock

from app.services import tokens as token_service
from tests.support.gate import CHECK_ACTIVE, GATE_DIR, pausa_cli


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


# -- status ------------------------------------------------------------------------------------


def test_status_when_off(pausa):
    done = pausa.cli("status")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Maintenance is OFF."

    as_json = json.loads(pausa.cli("status", "--json").stdout)
    assert as_json["active"] is False and as_json["window"] is None


def test_status_when_on(pausa):
    assert pausa.cli("on", "--message", "Deploying v2", "--eta", "15m").returncode == 0
    window = pausa.active()

    before = datetime.now(UTC)
    done = pausa.cli("status")
    after = datetime.now(UTC)
    assert done.returncode == 0, done.stderr
    first, second = lines(done.stdout)
    # The hour alone when the ETA is today, with its date after midnight: today as the command saw it.
    shown = {f"Maintenance is ON (window {window.id}, full, back ~{clock(window.eta, now)})." for now in (before, after)}
    assert first in shown
    assert '"Deploying v2"' in second and "token:deploy" in second

    as_json = json.loads(pausa.cli("status", "--json").stdout)
    assert as_json["active"] is True
    assert as_json["window"]["id"] == window.id and as_json["window"]["message"] == "Deploying v2"


def test_options_may_come_before_or_after_the_command(pausa):
    env = pausa.env(PAUSA_URL="", PAUSA_TOKEN="")
    assert pausa.cli("--url", pausa.url, "--token", pausa.token, "status", env=env).returncode == 0
    assert pausa.cli("status", "--url", pausa.url, "--token", pausa.token, env=env).returncode == 0


# -- on, update, off ---------------------------------------------------------------------------


def test_on_starts_maintenance_with_every_option(pausa):
    done = pausa.cli(
        "on", "--message", "Deploying v2", "--eta", "15m", "--reason", "deployment", "--mode", "scoped",
        "--scope", "/billing", "--allow-ip", "10.0.0.0/8", "--allow-role", "qa", "--ends-at", "1h",
    )
    assert done.returncode == 0, done.stderr
    window = pausa.active()
    assert done.stdout.startswith(f"Maintenance is ON (window {window.id}, scoped to /billing, back ~")
    assert (window.message, window.reason, window.mode) == ("Deploying v2", "deployment", "scoped")
    assert (window.scope_paths, window.allowed_ips, window.allowed_roles) == (["/billing"], ["10.0.0.0/8"], ["qa"])
    assert pausa.public_status()["active"] is True


def test_on_again_with_the_same_values_is_done(pausa):
    options = ("on", "--message", "Deploying v2", "--eta", "15m", "--reason", "deployment")
    assert pausa.cli(*options).returncode == 0
    again = pausa.cli(*options)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Maintenance is already ON with these values (window ")
    assert len(pausa.windows()) == 1


@pytest.mark.parametrize(
    "options",
    [
        (),  # the defaults, Pausa's default message included
        ("--eta", (datetime.now(UTC) + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")),  # UTC, no offset
        ("--mode", "scoped", "--scope", "/billing/", "--scope", "/billing", "--allow-ip", "10.1.2.3/8"),
        ("--allow-role", "qa", "--allow-role", "developer", "--ends-at", "2h", "--reason", "DATABASE"),
    ],
    ids=["defaults", "absolute-eta", "normalised-lists", "roles-and-end"],
)
def test_same_values_are_recognised_as_pausa_stores_them(pausa, options):
    assert pausa.cli("on", *options).returncode == 0
    again = pausa.cli("on", *options)
    assert again.returncode == 0, again.stderr
    assert "already ON with these values" in again.stdout


def test_on_with_other_values_is_refused_and_names_pausa_update(pausa):
    assert pausa.cli("on", "--message", "Incident: database failover", "--reason", "incident").returncode == 0
    window = pausa.active()

    done = pausa.cli("on", "--message", "Deploying v2", "--eta", "15m")
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = lines(done.stderr)
    assert f"already ON (window {window.id})" in line
    assert "--message" in line and "--reason" in line and "--eta" in line
    assert "pausa update" in line
    still = pausa.active()
    assert (still.id, still.message) == (window.id, "Incident: database failover")


def test_update_changes_only_the_options_given(pausa):
    assert pausa.cli("on", "--message", "Deploying v2", "--eta", "15m").returncode == 0
    done = pausa.cli("update", "--mode", "read_only", "--eta", "1h")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Maintenance updated (window ")
    window = pausa.active()
    assert (window.mode, window.message) == ("read_only", "Deploying v2")

    nothing = pausa.cli("update")
    assert nothing.returncode == 2 and "at least one option" in nothing.stderr


def test_update_when_off_is_refused(pausa):
    done = pausa.cli("update", "--eta", "1h")
    assert done.returncode == 1
    assert "pausa on" in done.stderr


def test_off_then_off_again_is_done(pausa):
    assert pausa.cli("on").returncode == 0
    window = pausa.active()
    done = pausa.cli("off")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Maintenance is OFF (window {window.id} ended")
    assert pausa.active() is None and pausa.public_status()["active"] is False

    again = pausa.cli("off")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "Maintenance is already OFF."


# -- bad input, refusals, an unreachable Pausa ------------------------------------------------


@pytest.mark.parametrize(
    "options, named",
    [
        (("--eta", "yesterday"), "--eta: Use a time like"),
        (("--allow-ip", "not-an-ip"), "--allow-ip: 'not-an-ip' is not an IP address"),
        (("--mode", "scoped"), "--scope: Scoped mode needs at least one path."),
        (("--reason", "vacation"), "--reason: Must be one of:"),
        (("--eta", "2h", "--ends-at", "1h"), "--ends-at: The automatic end must not come before the ETA."),
    ],
)
def test_bad_input_exits_2_naming_the_option(pausa, options, named):
    done = pausa.cli("on", *options)
    assert done.returncode == 2
    assert done.stderr.startswith(f"Error: {named}"), done.stderr
    assert pausa.windows() == []


def test_bad_usage_exits_2(pausa):
    assert pausa.cli("cancel", "seven").returncode == 2
    assert pausa.cli("launch").returncode == 2
    assert pausa.cli().returncode == 2
    assert pausa.cli("status", "--timeout", "-1").returncode == 2


def test_wrong_token_is_refused_with_1(pausa):
    done = pausa.cli("on", PAUSA_TOKEN="pausa_not-the-right-one")
    assert done.returncode == 1
    (line,) = lines(done.stderr)
    assert "HTTP 401" in line and "PAUSA_TOKEN" in line
    assert "pausa_not-the-right-one" not in done.stdout + done.stderr
    assert pausa.windows() == []


def test_token_without_admin_scope_is_refused_with_1(pausa):
    from pausa_gate.state import Actor

    with pausa.app.app_context():
        _, smoke = token_service.create_token("smoke", ["bypass"], Actor("cli:test"))
    done = pausa.cli("off", PAUSA_TOKEN=smoke)
    assert done.returncode == 1
    assert "HTTP 403" in done.stderr and "admin scope" in done.stderr
    assert smoke not in done.stdout + done.stderr


@pytest.mark.parametrize("missing", ["PAUSA_URL", "PAUSA_TOKEN"])
def test_missing_settings_exit_2_with_one_line(pausa, missing):
    done = pausa.cli("status", **{missing: ""})
    assert done.returncode == 2
    (line,) = lines(done.stderr)
    assert line.startswith(f"Error: set {missing} (or --")


def test_unreachable_pausa_exits_3_quickly(pausa, closed_port):
    started = time.monotonic()
    done = pausa.cli("on", "--eta", "15m", PAUSA_URL=f"http://127.0.0.1:{closed_port}")
    elapsed = time.monotonic() - started
    assert done.returncode == 3
    (line,) = lines(done.stderr)
    assert f"Cannot reach Pausa at http://127.0.0.1:{closed_port}: connection refused" in line
    assert elapsed < 6, f"took {elapsed:.1f} s"


def test_rate_limited_beyond_what_is_worth_waiting_for_is_refused_at_once(start_pausa):
    pausa = start_pausa(STATE_CHANGE_RATE_LIMIT="1 per minute")
    assert pausa.cli("on").returncode == 0
    started = time.monotonic()
    done = pausa.cli("off")
    assert done.returncode == 1
    assert "too many requests; try again in" in done.stderr
    assert time.monotonic() - started < 5  # Pausa asks for up to a minute: not waited for
    assert pausa.active() is not None


# -- schedule and cancel -----------------------------------------------------------------------


def test_schedule_twice_then_cancel_twice(pausa):
    start = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    options = ("schedule", "--starts-at", start.isoformat(), "--ends-at", (start + timedelta(hours=1)).isoformat(),
               "--notice-minutes", "60", "--message", "Database upgrade", "--reason", "database")
    done = pausa.cli(*options)
    assert done.returncode == 0, done.stderr
    (window,) = pausa.windows()
    assert done.stdout.startswith(f"Scheduled window {window.id} (starts {start:%Y-%m-%d %H:%M} UTC")
    assert (window.status, window.notice_minutes, window.reason) == ("scheduled", 60, "database")

    again = pausa.cli(*options)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith(f"Window {window.id} is already scheduled with these values")

    clash = pausa.cli("schedule", "--start", (start + timedelta(minutes=30)).isoformat(), "--ends-at", "3d")
    assert clash.returncode == 1 and f"overlaps window {window.id}" in clash.stderr

    cancelled = pausa.cli("cancel", str(window.id))
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"Cancelled window {window.id}")
    twice = pausa.cli("cancel", str(window.id))
    assert twice.returncode == 0 and twice.stdout.strip() == f"Window {window.id} is already cancelled."

    unknown = pausa.cli("cancel", "999")
    assert unknown.returncode == 1 and "no window 999" in unknown.stderr


def test_schedule_in_the_past_exits_2(pausa):
    done = pausa.cli("schedule", "--starts-at", "2001-01-01T00:00Z")
    assert done.returncode == 2
    assert done.stderr.startswith("Error: --starts-at:")


# -- run -----------------------------------------------------------------------------------------


def test_run_holds_maintenance_while_the_command_runs_then_ends_it(pausa):
    done = pausa.cli("run", "--message", "Deploying abc123", "--eta", "15m", "--",
                     sys.executable, "-c", CHECK_ACTIVE, "Deploying abc123")
    assert done.returncode == 0, done.stderr
    (window,) = pausa.windows()
    assert window.status == "completed" and window.reason == "deployment"  # run's default reason
    assert pausa.public_status()["active"] is False
    first, last = lines(done.stderr)
    assert first.startswith(f"pausa: Maintenance is ON (window {window.id}, full, back ~")
    assert last.startswith(f"pausa: the command succeeded; maintenance is OFF (window {window.id} ended")


def test_run_passes_the_command_its_stdio_and_arguments(pausa):
    done = pausa.cli("run", "--", sys.executable, "-c", "import sys; print(sys.argv[1:])", "--eta", "a b")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "['--eta', 'a b']\n"  # only the command writes to stdout


def test_run_with_a_failing_command_leaves_maintenance_on(pausa):
    done = pausa.cli("run", "--message", "Deploying abc123", "--eta", "15m", "--",
                     sys.executable, "-c", "import sys; sys.exit(7)")
    assert done.returncode == 7
    window = pausa.active()
    assert window is not None and window.message == "Deploying abc123"
    assert pausa.public_status()["active"] is True
    last = lines(done.stderr)[-1]
    assert f"the command failed (exit 7); maintenance stays ON (window {window.id})" in last
    assert "pausa off" in last


def test_run_again_after_a_failure_continues_in_the_same_window(pausa):
    options = ("run", "--message", "Deploying abc123", "--eta", "15m", "--")
    assert pausa.cli(*options, sys.executable, "-c", "import sys; sys.exit(7)").returncode == 7
    done = pausa.cli(*options, sys.executable, "-c", CHECK_ACTIVE, "Deploying abc123")
    assert done.returncode == 0, done.stderr
    (window,) = pausa.windows()
    assert "already ON with these values" in done.stderr
    assert window.status == "completed"


def test_run_end_on_failure_ends_maintenance_and_keeps_the_code(pausa):
    done = pausa.cli("run", "--end-on-failure", "--eta", "15m", "--", sys.executable, "-c", "import sys; sys.exit(7)")
    assert done.returncode == 7
    assert pausa.active() is None
    assert "maintenance is OFF" in lines(done.stderr)[-1] and "--end-on-failure" in done.stderr


def test_run_refused_does_not_run_the_command(pausa, tmp_path):
    assert pausa.cli("on", "--message", "Incident", "--reason", "incident").returncode == 0
    marker = tmp_path / "ran"
    done = pausa.cli("run", "--message", "Deploying abc123", "--",
                     sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    assert done.returncode == 1
    assert not marker.exists()
    assert "the command was not run" in done.stderr
    assert pausa.active().message == "Incident"


def test_run_unreachable_does_not_run_the_command_unless_told(pausa, tmp_path, closed_port):
    marker = tmp_path / "ran"
    command = ("--", sys.executable, "-c", f"open({str(marker)!r}, 'w').close(); raise SystemExit(5)")
    unreachable = f"http://127.0.0.1:{closed_port}"
    done = pausa.cli("run", *command, PAUSA_URL=unreachable)
    assert done.returncode == 3 and not marker.exists()
    assert "the command was not run" in done.stderr

    anyway = pausa.cli("run", "--run-anyway", *command, PAUSA_URL=unreachable)
    assert anyway.returncode == 5 and marker.exists()
    assert "running the command anyway" in anyway.stderr


def test_run_bad_input_never_runs_the_command(pausa, tmp_path):
    marker = tmp_path / "ran"
    done = pausa.cli("run", "--run-anyway", "--eta", "soon", "--",
                     sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    assert done.returncode == 2 and not marker.exists()
    assert done.stderr.startswith("Error: --eta:")


def test_run_a_missing_command_touches_nothing(pausa, tmp_path):
    done = pausa.cli("run", "--", str(tmp_path / "deploy.sh"))
    assert done.returncode == 2 and "no such file" in done.stderr
    assert pausa.cli("run", "--", "no-such-command-here").returncode == 2
    assert pausa.cli("run", "--eta", "15m").returncode == 2  # no command at all
    assert pausa.windows() == []


def test_run_a_command_the_system_cannot_start_ends_the_window_it_started(pausa, tmp_path):
    program = tmp_path / "deploy"
    program.write_bytes(b"\x7fELF not really\x00")  # executable, yet no program: exec refuses it
    program.chmod(0o755)
    done = pausa.cli("run", "--", str(program))
    assert done.returncode == 126
    assert "could not start" in done.stderr and "maintenance is OFF" in done.stderr
    (window,) = pausa.windows()
    assert window.status == "completed"


def test_run_exits_non_zero_when_maintenance_cannot_be_ended(pausa, tmp_path):
    ready, go = tmp_path / "ready", tmp_path / "go"
    waits = (f"import os, time\nopen({str(ready)!r}, 'w').close()\n"
             f"while not os.path.exists({str(go)!r}): time.sleep(0.05)\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "pausa_gate.cli", "run", "--eta", "15m", "--", sys.executable, "-c", waits],
        env=pausa.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    wait_for(ready, process)
    pausa.stop()  # Pausa goes away while the deploy runs
    go.touch()
    stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 3
    last = lines(stderr)[-1]
    assert "the command succeeded but maintenance is still ON" in last and "pausa off" in last
    assert pausa.active() is not None
    assert pausa.token not in stdout + stderr


def test_run_never_ends_a_window_that_is_not_its_own(pausa):
    # The command ends this run's window and starts another one (as an operator might meanwhile).
    swap = (
        "import json, os, urllib.request\n"
        "def call(method, body=None):\n"
        "    request = urllib.request.Request(os.environ['PAUSA_URL'] + '/api/admin/maintenance',\n"
        "        method=method, data=json.dumps(body).encode() if body else None,\n"
        "        headers={'Authorization': 'Bearer ' + os.environ['PAUSA_TOKEN'],\n"
        "                 'Content-Type': 'application/json'})\n"
        "    urllib.request.urlopen(request).read()\n"
        "call('DELETE'); call('POST', {'message': 'Incident', 'reason': 'incident'})\n"
    )
    done = pausa.cli("run", "--", sys.executable, "-c", swap)
    assert done.returncode == 0, done.stderr
    assert pausa.active().message == "Incident"
    assert "not this run's" in lines(done.stderr)[-1]


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_run_forwards_signals_to_the_command(pausa, tmp_path, number):
    ready = tmp_path / "ready"
    # The command exits 42 when the signal reaches it: proof it was forwarded, not just fatal to pausa.
    catches = (
        "import signal, sys, time\n"
        f"signal.signal({int(number)}, lambda *_: sys.exit(42))\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "time.sleep(30)\n"
        "sys.exit(0)\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pausa_gate.cli", "run", "--eta", "15m", "--", sys.executable, "-c", catches],
        env=pausa.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,  # no terminal: a signal reaches pausa alone, as from a CI runner
    )
    wait_for(ready, process)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 42, stderr
    assert pausa.active() is not None  # the deploy was interrupted: maintenance stays on
    assert "the command failed (exit 42)" in stderr


def wait_for(path, process, seconds: float = 20) -> None:
    """Wait until the command run by `pausa run` says it is running."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            pytest.fail(f"pausa exited early ({process.returncode}): {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the command never started")
        time.sleep(0.05)


# -- the package -------------------------------------------------------------------------------


def test_version_and_help_need_no_settings():
    env = {"PYTHONPATH": str(GATE_DIR)}
    version = pausa_cli("--version", env=env)
    assert version.returncode == 0 and version.stdout.startswith("pausa-gate ")
    help_text = pausa_cli("run", "--help", env=env)
    assert help_text.returncode == 0
    assert "--end-on-failure" in help_text.stdout and "--run-anyway" in help_text.stdout


def test_ctrl_c_in_a_terminal_reaches_the_command_once(pausa, tmp_path):
    import pty

    ready, count = tmp_path / "ready", tmp_path / "count"
    # Counts the SIGINTs it gets over a second: the terminal signals pausa and the command alike,
    # so a forwarded copy would make two.
    counts = (
        "import signal, sys, time\n"
        "got = []\n"
        "signal.signal(signal.SIGINT, lambda *_: got.append(1))\n"
        f"open({str(ready)!r}, 'w').close()\n"
        "while not got: time.sleep(0.01)\n"
        "time.sleep(1)\n"
        f"open({str(count)!r}, 'w').write(str(len(got)))\n"
        "sys.exit(42)\n"
    )
    argv = [sys.executable, "-m", "pausa_gate.cli", "run", "--eta", "15m", "--", sys.executable, "-c", counts]
    child, terminal = pty.fork()
    if child == 0:  # the new process: a session of its own whose controlling terminal is the pty
        os.execve(sys.executable, argv, pausa.env())
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert time.monotonic() < deadline, "the command never started"
            _drain(terminal)
        os.write(terminal, b"\x03")  # Ctrl-C
        while True:
            _drain(terminal)
            finished, status = os.waitpid(child, os.WNOHANG)
            if finished:
                break
            assert time.monotonic() < deadline + 10, "pausa never exited"
    finally:
        os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == 42
    assert count.read_text() == "1"
    assert pausa.active() is not None


def _drain(terminal: int) -> None:
    """Read what the pty printed so the processes writing to it never block."""
    import select

    readable, _, _ = select.select([terminal], [], [], 0.05)
    if readable:
        try:
            os.read(terminal, 4096)
        except OSError:  # the other side closed: the processes are exiting
            time.sleep(0.05)
