"""The cores stay pure: standard library and their own modules only, so they run without an app.

`pausa_gate` (gate/) is installed into other people's apps: it must not drag Flask, SQLAlchemy or
anything else in. `app/maintenance` holds the server's pure rules, testable without an app.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "gate" / "pausa_gate"
SERVER_CORE = ROOT / "app" / "maintenance"
MODULES = sorted([*GATE.glob("*.py"), *SERVER_CORE.glob("*.py")])


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_core_module_is_checked():
    assert {path.name for path in GATE.glob("*.py")} >= {
        "state.py", "windows.py", "paths.py", "decision.py", "cache.py", "document.py", "languages.py",
    }
    assert {path.name for path in SERVER_CORE.glob("*.py")} >= {"validation.py", "audit_chain.py", "signatures.py"}


@pytest.mark.parametrize("path", MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_core_imports_only_the_standard_library(path):
    allowed = set(sys.stdlib_module_names) | {"__future__"}
    if path.parent == SERVER_CORE:
        allowed.add("pausa_gate")  # the server's rules build on the gate's core
    if path == SERVER_CORE / "recurrence.py":
        allowed.add("dateutil")  # rrule: pure, no app; recurrence rules are not reinvented here
    outside = imported_roots(path.read_text()) - allowed
    assert outside == set(), f"{path.name} imports {sorted(outside)}"
