"""The reference stays true: every setting the code reads is documented with its default."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
READ = re.compile(r"""(?:os\.environ\.get|_list|_flag)\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def settings_read_by(path: Path) -> set[str]:
    return set(READ.findall(path.read_text()))


def test_every_setting_is_in_the_configuration_reference():
    reference = (ROOT / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", reference))
    read = settings_read_by(ROOT / "app" / "config.py") | settings_read_by(ROOT / "gunicorn.conf.py")
    assert read, "the pattern found no setting: it is out of date"
    missing = sorted(read - documented)
    assert missing == [], f"settings read by the code but not in docs/configuration.md: {missing}"
