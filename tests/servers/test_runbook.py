"""docs/runbook.md is tested: every command in its ```console blocks runs, as written, against a real Pausa.

Each console block runs in a fresh temporary directory on a freshly migrated SQLite database: its
`$ command` lines run in order with bash (so `$ export NAME=value` carries on to the next line), and
each must exit 0 unless the comment line just above it says otherwise (`# exit 1`). Lines without
`$ ` are example output and are not compared (ids and times differ from run to run). The runbook's
example address, https://pausa.example.com, is a live Pausa served on the same database for the
block, so `pausa …` and `curl …` talk to it, and a block that runs `flask doctor` has a
`flask worker` running beside it, as on Pausa's host. Commands that cannot run here (heroku, systemctl, git
push) live in ```sh blocks; the last tests make sure no `flask`/`pausa` command escapes testing.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from app import create_app
from tests.support.apps import _CREATED_APPS
from tests.support.live_server import serve

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK = ROOT / "docs" / "runbook.md"
# The address the runbook uses for Pausa; each block gets a live Pausa in its place.
SITE = "https://pausa.example.com"
BIN = Path(sys.executable).parent  # where `flask` and `pausa` are installed
FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^(#{2,3}) (.+)$", re.MULTILINE)
EXPECTED_EXIT = re.compile(r"^# exit (\d+)\s*$")
# What names a command: `flask` and its group and subcommand, or `pausa` and its subcommand.
COMMAND = re.compile(r"\b(flask(?: [a-z][a-z-]*){1,2}|pausa [a-z][a-z-]*)")
COMMAND_TIMEOUT = 60


@dataclass(frozen=True)
class Step:
    command: str
    expected_exit: int
    line: int


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    line: int
    heading: str


def blocks(text: str) -> list[Block]:
    """Return the fenced blocks of a Markdown text with the heading each sits under."""
    headings = [(match.start(), match.group(2).strip()) for match in HEADING.finditer(text)]
    found = []
    for match in FENCE.finditer(text):
        above = [title for start, title in headings if start < match.start()]
        found.append(
            Block(match.group(1), match.group(2), text.count("\n", 0, match.start()) + 2,
                  above[-1] if above else "top")
        )
    return found


def steps(block: Block) -> list[Step]:
    """Read a console block: `$ ` lines (a trailing backslash continues one), `# exit N` before one."""
    found: list[Step] = []
    expected = 0
    lines = block.text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        number = block.line + index
        index += 1
        marker = EXPECTED_EXIT.match(line)
        if marker:
            expected = int(marker.group(1))
            continue
        if not line.startswith("$ "):
            continue  # a comment or example output
        command = line[2:]
        while command.endswith("\\") and index < len(lines):
            command = command[:-1] + lines[index].strip()
            index += 1
        found.append(Step(command.strip(), expected, number))
        expected = 0
    return found


def console_blocks() -> list[Block]:
    return [block for block in blocks(RUNBOOK.read_text()) if block.language == "console"]


def block_id(block: Block) -> str:
    return f"line {block.line}: {block.heading}"


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """Migrate one SQLite database with `flask db upgrade`; each block starts from a copy of it."""
    directory = tmp_path_factory.mktemp("runbook-template")
    done = subprocess.run(
        [str(BIN / "flask"), "db", "upgrade"], cwd=directory, env=environment(directory),
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
    )
    assert done.returncode == 0, done.stderr
    return directory / "pausa.db"


def environment(directory: Path) -> dict[str, str]:
    """The shell of an operator on Pausa's host: this clone's code, the block's database, no outside setting."""
    kept = {name: os.environ[name] for name in ("HOME", "LANG", "LC_ALL", "TMPDIR", "USER") if name in os.environ}
    return {
        **kept,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'gate'}",
        "FLASK_APP": str(ROOT / "wsgi.py"),
        "DATABASE_URL": f"sqlite:///{directory / 'pausa.db'}",
        # Kept out of the clone's instance/ directory, which belongs to whoever runs `make run`.
        "SECRET_KEY": "runbook-test-secret-key",
        "MAINTENANCE_STATE_FILE": str(directory / "gate-state.json"),
        "PAUSA_CLI_ACTOR": "runbook",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def live_pausa(directory: Path) -> tuple[str, callable]:
    """Serve Pausa on the block's database, as the site the runbook calls https://pausa.example.com."""
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{directory / 'pausa.db'}",
        "STATE_CHANGE_RATE_LIMIT": "1000 per minute",
    })
    _CREATED_APPS.append(app)
    return serve(app)


def running_worker(directory: Path, env: dict[str, str]) -> callable:
    """Start `flask worker` on the block's database, as on Pausa's host; return once it has beaten."""
    worker = subprocess.Popen(
        [str(BIN / "flask"), "worker", "--interval", "1"], cwd=directory, env=env,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        worker.terminate()
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    deadline = time.monotonic() + COMMAND_TIMEOUT
    while time.monotonic() < deadline and worker.poll() is None:
        with closing(sqlite3.connect(directory / "pausa.db", timeout=5)) as connection:
            if connection.execute("SELECT count(*) FROM worker_heartbeats").fetchone()[0]:
                return stop
        time.sleep(0.2)
    stop()
    raise AssertionError(f"`flask worker` never reported (exit code {worker.returncode})")


def run_step(step: Step, directory: Path, env: dict[str, str], site: str) -> subprocess.CompletedProcess:
    """Run one command in bash, carrying exported variables over from the previous commands."""
    saved = directory / ".runbook-env"
    script = (
        f'[ -f "{saved}" ] && source "{saved}"\n'
        f"{step.command.replace(SITE, site)}\n"
        "status=$?\n"
        f'export -p > "{saved}"\n'
        "exit $status\n"
    )
    return subprocess.run(
        ["bash", "-c", script], cwd=directory, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=COMMAND_TIMEOUT, check=False,
    )


def test_the_runbook_has_console_blocks_and_each_has_commands():
    found = console_blocks()
    assert len(found) >= 8, "the runbook lost its tested procedures"
    for block in found:
        assert steps(block), f"console block at line {block.line} has no `$ ` command"


def run_block(block: Block, migrated: Path, directory: Path) -> list[str]:
    """Run a block's commands in order on a fresh copy of the database; return what went wrong."""
    directory.mkdir()
    shutil.copyfile(migrated, directory / "pausa.db")
    env = environment(directory)
    stops = []
    site = SITE
    if SITE in block.text:
        site, stop = live_pausa(directory)
        stops.append(stop)
    if "flask doctor" in block.text:  # it checks that a worker runs, as one does beside Pausa
        stops.append(running_worker(directory, env))
    failures = []
    try:
        for step in steps(block):
            done = run_step(step, directory, env, site)
            if done.returncode != step.expected_exit:
                failures.append(
                    f"docs/runbook.md:{step.line}: `{step.command}` exited {done.returncode}, "
                    f"expected {step.expected_exit}\n{(done.stdout + done.stderr).strip()[-1500:]}"
                )
    finally:
        for stop in stops:
            stop()
    return failures


@pytest.fixture(scope="module")
def outcomes(migrated, tmp_path_factory) -> dict[int, list[str]]:
    """Run every console block at once, one per core: each is a separate database and directory."""
    root = tmp_path_factory.mktemp("runbook-blocks")
    found = console_blocks()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {block.line: pool.submit(run_block, block, migrated, root / str(block.line)) for block in found}
        return {line: future.result() for line, future in futures.items()}


@pytest.mark.parametrize("block", console_blocks(), ids=block_id)
def test_every_console_command_runs_as_written(block, outcomes):
    failures = outcomes[block.line]
    assert not failures, "\n\n".join(failures)


def commands_in(text: str) -> set[str]:
    return {match.group(1) for match in COMMAND.finditer(text)}


def test_every_flask_and_pausa_command_of_the_runbook_is_tested():
    text = RUNBOOK.read_text()
    tested = set()
    for block in console_blocks():
        for step in steps(block):
            tested |= commands_in(step.command)
    code = "\n".join(block.text for block in blocks(text)) + "\n" + "\n".join(
        re.findall(r"`([^`\n]+)`", FENCE.sub("", text))
    )
    # `flask maintenance` in a sentence is tested by any `flask maintenance …` that runs.
    untested = sorted(name for name in commands_in(code) if not any(
        run == name or run.startswith(name + " ") for run in tested
    ))
    assert untested == [], f"commands the runbook names but no console block runs: {untested}"


def kinds_raised() -> set[str]:
    """Every alert kind passed to raise_alert anywhere in app/: a literal, or a module-level constant."""
    kinds = set()
    for path in (ROOT / "app").rglob("*.py"):
        tree = ast.parse(path.read_text())
        constants = {
            target.id: node.value.value
            for node in tree.body if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
            for target in node.targets if isinstance(target, ast.Name)
        }
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                    == "raise_alert" and len(node.args) >= 2):
                kind = node.args[1]
                if isinstance(kind, ast.Constant):
                    kinds.add(kind.value)
                elif isinstance(kind, ast.Name) and kind.id in constants:
                    kinds.add(constants[kind.id])
                else:
                    pytest.fail(f"{path}: raise_alert with a kind this test cannot read: {ast.unparse(kind)}")
    return kinds


def test_every_admin_alert_kind_has_its_procedure_in_the_runbook():
    from app.services.alerts import KINDS

    section = RUNBOOK.read_text().split("## 7.", 1)[1].split("\n## ", 1)[0]
    kinds = set(KINDS) | kinds_raised()
    assert {"unplanned", "overdue", "ceiling", "circuit_open", "dead_letter"} <= kinds, "the search is broken"
    missing = sorted(kind for kind in kinds if f"`{kind}`" not in section)
    assert missing == [], f"admin alert kinds without a row in the runbook's section 7: {missing}"
