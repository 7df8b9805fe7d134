"""The Nu HTML Checker (vnu.jar, from the npm registry, run with the system's Java) on rendered pages.

One Java start checks a whole batch: each document goes to a file named after it, and the
checker's JSON report comes back as each name's errors. Warnings are left to people; an error
fails the test that asked.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

VNU_JAR = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"


def fragment_document(fragment: str, language: str = "en") -> str:
    """Wrap an htmx fragment in the smallest valid document, so only the fragment's own markup is judged."""
    return (f'<!doctype html><html lang="{language}"><head><meta charset="utf-8"><title>fragment</title></head>'
            f"<body>{fragment}</body></html>")


def _file_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")[:120] or "page"


def check_documents(documents: dict[str, str]) -> dict[str, list[str]]:
    """Check every document; return, for each name with errors, one line per error."""
    java = shutil.which("java")
    if java is None:
        pytest.fail("java not found: the Nu HTML Checker cannot run (scripts/install-system-packages.sh)", pytrace=False)
    if not VNU_JAR.exists():
        pytest.fail(f"vnu.jar not found at {VNU_JAR}: run scripts/install-system-packages.sh", pytrace=False)
    with tempfile.TemporaryDirectory(prefix="pausa-vnu-") as folder:
        names: dict[str, str] = {}
        for index, (name, html) in enumerate(documents.items()):
            path = Path(folder) / f"{index:04d}-{_file_name(name)}.html"
            path.write_text(html, encoding="utf-8")
            names[str(path.resolve())] = name
        finished = subprocess.run(
            [java, "-Xss2m", "-jar", str(VNU_JAR), "--format", "json", "--errors-only", "--exit-zero-always",
             *sorted(names)],
            capture_output=True, text=True, timeout=300,
        )
        try:
            report = json.loads(finished.stderr or finished.stdout)
        except json.JSONDecodeError:
            pytest.fail(f"the Nu HTML Checker did not answer in JSON:\n{finished.stderr[-2000:]}", pytrace=False)
    errors: dict[str, list[str]] = {}
    for message in report.get("messages", []):
        if message.get("type") not in ("error", "non-document-error"):
            continue
        url = message.get("url", "")
        name = names.get("/" + url.removeprefix("file:").lstrip("/"), url)  # it writes file:/tmp/…
        where = f"line {message.get('lastLine', '?')}"
        errors.setdefault(name, []).append(f"{where}: {message.get('message')} [{message.get('extract', '').strip()}]")
    return errors


def describe(errors: dict[str, list[str]]) -> str:
    """Format the errors page by page."""
    return "\n".join(f"{name}:\n    " + "\n    ".join(lines) for name, lines in sorted(errors.items()))


def assert_valid(documents: dict[str, str]) -> None:
    """Fail with the checker's errors when any document is not valid HTML."""
    errors = check_documents(documents)
    count = sum(len(lines) for lines in errors.values())
    assert not errors, f"{count} markup error(s) in {len(errors)} of {len(documents)} page(s)\n{describe(errors)}"
