"""The JSON admin API for deploy pipelines: windows, recurrences, bypass links, webhook subscribers, tokens.

One blueprint, "api" under /api/admin (app/blueprints/api/common.py: who may call it, errors); each
module below adds the routes of one resource to it.
"""

from . import bypass_links, recurrences, subscribers, tokens, windows
from .common import bp

__all__ = ["bp", "bypass_links", "recurrences", "subscribers", "tokens", "windows"]
