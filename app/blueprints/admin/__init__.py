"""The admin dashboard under /admin: a parent blueprint (the page, its polls, the admin guard) and
one small blueprint per concern nested in it, so endpoints read `admin.<concern>.<view>`.

The views pass each card its data (panels.py); no template fetches its own.
"""

from __future__ import annotations

from . import bypass, recurrences, schedule, tokens, webhooks, windows
from .dashboard import bp

for _concern in (windows, schedule, bypass, webhooks, recurrences, tokens):
    bp.register_blueprint(_concern.bp)

__all__ = ["bp"]
