"""axe-core in a Playwright page: run every rule on what the page shows now, fail on any violation.

axe-core comes from the npm registry into tests/tools/node_modules (scripts/install-system-packages.sh);
it is evaluated through the browser's debugging protocol, never served by Pausa, so the page's
Content-Security-Policy stays exactly what users get.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

AXE_SOURCE = Path(__file__).resolve().parents[1] / "tools" / "node_modules" / "axe-core" / "axe.min.js"

# What each violation keeps: enough to find the element and read why without opening a browser.
_RUN = """async ([context, disabled]) => {
  const rules = Object.fromEntries(disabled.map((id) => [id, {enabled: false}]));
  const results = await window.axe.run(context || document, {resultTypes: ["violations"], rules});
  return results.violations.map((violation) => ({
    id: violation.id,
    impact: violation.impact,
    help: violation.help,
    nodes: violation.nodes.map((node) => ({
      target: node.target.join(" "),
      html: node.html.slice(0, 200),
      summary: node.failureSummary,
    })),
  }));
}"""


@cache
def axe_source() -> str:
    """Return axe-core's script; fail loudly when the install script has not fetched it."""
    if not AXE_SOURCE.exists():
        pytest.fail(f"axe-core not found at {AXE_SOURCE}: run scripts/install-system-packages.sh", pytrace=False)
    return AXE_SOURCE.read_text(encoding="utf-8")


def axe_violations(page, context: str | None = None, disabled: tuple[str, ...] = ()) -> list[dict]:
    """Run axe-core's rules (but `disabled`) on `page` or the part `context` selects; return the violations."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    return page.evaluate(_RUN, [context, list(disabled)])


def describe(violations: list[dict]) -> str:
    """Format violations one per line, with each failing element under its rule."""
    lines = []
    for violation in violations:
        lines.append(f"{violation['id']} ({violation['impact']}): {violation['help']}")
        for node in violation["nodes"]:
            lines.append(f"    {node['target']}: {node['html']}")
            lines.append("      " + (node["summary"] or "").replace("\n", "\n      "))
    return "\n".join(lines)


# The one rule a page may be excused from, each with the reason docs/accessibility.md gives.
EXCUSES = {
    # Without JavaScript the maintenance page reloads itself (<noscript> meta refresh): it is how a
    # visitor without scripts gets back once maintenance ends. The reload never takes typing away
    # (the form is on a page that does not reload) and a visitor with JavaScript never gets it.
    "meta-refresh": "the maintenance page's reload without JavaScript",
}


def assert_accessible(page, label: str, context: str | None = None, excused: tuple[str, ...] = ()) -> None:
    """Fail with axe-core's findings when `page` has any accessibility violation (but the `excused` rules)."""
    unknown = set(excused) - set(EXCUSES)
    assert not unknown, f"no documented reason to excuse {sorted(unknown)}: add it to EXCUSES and docs/accessibility.md"
    violations = axe_violations(page, context, excused)
    assert not violations, f"{label}: {len(violations)} accessibility violation(s)\n{describe(violations)}"


# Where scripts are off, timers never fire, and axe-core waits on them: run them as microtasks instead.
_TIMERS_AS_MICROTASKS = """() => {
  window.setTimeout = (callback, delay, ...values) => { Promise.resolve().then(() => callback(...values)); return 0; };
  window.clearTimeout = () => {};
}"""


def assert_accessible_without_javascript(page, label: str, excused: tuple[str, ...] = ()) -> None:
    """Run axe-core on a page whose scripts are off (a context with java_script_enabled=False)."""
    page.evaluate(_TIMERS_AS_MICROTASKS)
    assert_accessible(page, label, excused=excused)
