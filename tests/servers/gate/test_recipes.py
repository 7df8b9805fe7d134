"""The recipes in examples/ use options a real Pausa accepts, and wrap their command the way they say."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from tests.support.gate import CHECK_ACTIVE

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def run_line(text: str) -> tuple[list[str], list[str]]:
    """Split a `pausa run OPTIONS -- COMMAND` line into its options and its command."""
    words = shlex.split(text)
    assert words[:2] == ["pausa", "run"], text
    at = words.index("--")
    return words[2:at], words[at + 1:]


def check_against_pausa(pausa, options: list[str]) -> None:
    """Run the recipe's options around a command that checks maintenance is on, then that it is off."""
    message = options[options.index("--message") + 1]
    done = pausa.cli("run", *options, "--", sys.executable, "-c", CHECK_ACTIVE, message)
    assert done.returncode == 0, done.stderr
    (window,) = pausa.windows()
    assert window.status == "completed" and window.message == message


def test_github_actions_workflow(pausa):
    workflow = (EXAMPLES / "github-actions" / "deploy.yml").read_text()
    block = re.search(r"run: >-\n((?:\s+\S.*\n)+?)\s+-- \./deploy\.sh\n", workflow)
    assert block, "the workflow's `pausa run` step is not where the test looks for it"
    text = " ".join(line.strip() for line in block.group(1).splitlines()) + " -- ./deploy.sh"
    options, command = run_line(text.replace("${{ github.sha }}", "0123abc"))
    assert command == ["./deploy.sh"]
    assert "secrets.PAUSA_URL" in workflow and "secrets.PAUSA_TOKEN" in workflow
    check_against_pausa(pausa, options)


def test_heroku_release_phase(pausa):
    procfile = (EXAMPLES / "heroku" / "Procfile").read_text()
    (release,) = [line for line in procfile.splitlines() if line.startswith("release:")]
    options, command = run_line(release.removeprefix("release:").strip())
    assert command == ["python", "manage.py", "migrate", "--noinput"]
    check_against_pausa(pausa, options)
    requirements = (EXAMPLES / "heroku" / "requirements.txt").read_text()
    assert "pausa-gate @ git+" in requirements and "#subdirectory=gate" in requirements
