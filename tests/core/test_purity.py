"""The core stays pure: standard library and its own modules only, so it can be tested without an app."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[2] / "app" / "maintenance"
MODULES = sorted(CORE.glob("*.py"))


def imported_roots(source: str) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_every_core_module_is_checked():
    assert {path.name for path in MODULES} >= {
        "state.py", "windows.py", "paths.py", "gate.py", "validation.py", "cache.py", "audit_chain.py",
        "signatures.py",
    }


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_core_imports_only_the_standard_library(path):
    outside = imported_roots(path.read_text()) - set(sys.stdlib_module_names) - {"__future__"}
    assert outside == set(), f"{path.name} imports {sorted(outside)}"
