"""The site's branding from configuration: name, logo, accent colour, and colours that stay readable.

Pure rules (no Flask): the values are checked once at startup, because the
accent goes into a stylesheet and the logo into every shared maintenance page.
See docs/branding.md.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

# Only #rgb or #rrggbb: anything else (a name, rgb(), a stray ";") could break out into CSS.
ACCENT_FORMAT = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
WHITE = "#ffffff"
BLACK = "#000000"
# WCAG 2 AA for normal text.
MINIMUM_CONTRAST = 4.5
SITE_NAME_MAX_LENGTH = 80


@dataclass(frozen=True)
class Branding:
    """What the pages show of the site: its name, its logo and its accent colours."""

    site_name: str = ""
    logo_url: str | None = None
    accent: str | None = None

    @cached_property
    def stylesheet(self) -> str | None:
        """Return the accent's stylesheet, or None when no accent is configured."""
        return None if self.accent is None else accent_stylesheet(self.accent)

    @cached_property
    def stylesheet_version(self) -> str | None:
        """Return a short digest of the stylesheet, so a changed accent is never served from a cache."""
        sheet = self.stylesheet
        return None if sheet is None else hashlib.sha256(sheet.encode()).hexdigest()[:12]

    @property
    def image_origin(self) -> str | None:
        """Return the logo's origin when it lives on another site (the CSP must allow it)."""
        if self.logo_url is None or not self.logo_url.startswith("https://"):
            return None
        parts = urlsplit(self.logo_url)
        return f"https://{parts.netloc}"


def parse_accent(text: str) -> str:
    """Return an accent colour as #rrggbb in lower case; refuse anything but #rgb or #rrggbb."""
    value = text.strip()
    if not ACCENT_FORMAT.fullmatch(value):
        raise ValueError(
            f"PAUSA_ACCENT_COLOR={text!r} is not a colour Pausa accepts: write it as #rgb or #rrggbb "
            "(for example #0b5cad)."
        )
    digits = value[1:].lower()
    if len(digits) == 3:
        digits = "".join(digit * 2 for digit in digits)
    return "#" + digits


def parse_logo_url(text: str) -> str:
    """Return a logo address: a path on this site (/…) or an https URL; refuse anything else."""
    value = text.strip()
    if any(ord(char) < 33 or char in "\"'<>\\`" for char in value):
        raise ValueError(f"PAUSA_LOGO_URL={text!r} contains spaces, quotes or control characters.")
    parts = urlsplit(value)
    if value.startswith("/") and not value.startswith("//"):
        return value
    if parts.scheme == "https" and parts.netloc and not parts.username and not parts.password:
        return value
    raise ValueError(
        f"PAUSA_LOGO_URL={text!r} must be a path on this site (/_pausa/brand/logo.svg) or an https URL."
    )


def branding_from(config: Mapping[str, Any]) -> Branding:
    """Read and check the branding settings; a ValueError says which one is wrong and how."""
    site_name = " ".join((config.get("SITE_NAME") or "").split())
    if len(site_name) > SITE_NAME_MAX_LENGTH:
        raise ValueError(f"PAUSA_SITE_NAME is longer than {SITE_NAME_MAX_LENGTH} characters.")
    logo = config.get("LOGO_URL") or None
    logo_url = parse_logo_url(logo) if logo else None
    if logo_url and not site_name:
        raise ValueError(
            "PAUSA_LOGO_URL needs PAUSA_SITE_NAME: the site name is the logo's text alternative."
        )
    accent = config.get("ACCENT_COLOR") or None
    return Branding(site_name=site_name, logo_url=logo_url, accent=parse_accent(accent) if accent else None)


def _channels(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def relative_luminance(colour: str) -> float:
    """Return a #rrggbb colour's relative luminance (WCAG 2)."""

    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in _channels(colour))
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def contrast_ratio(first: str, second: str) -> float:
    """Return the WCAG contrast ratio of two #rrggbb colours (1 to 21)."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_on(accent: str) -> str:
    """Return the text colour for a button of the accent colour: white, or black when white is unreadable.

    When white falls short of 4.5:1 the accent is light, and black then always reaches it.
    """
    return WHITE if contrast_ratio(accent, WHITE) >= MINIMUM_CONTRAST else BLACK


def readable_on_white(accent: str) -> str:
    """Return the accent as text on the white page: itself, or darkened just enough to reach 4.5:1."""
    red, green, blue = _channels(accent)
    colour = accent
    for step in range(1, 101):
        if contrast_ratio(colour, WHITE) >= MINIMUM_CONTRAST:
            return colour
        keep = 1 - step / 100
        colour = f"#{round(red * keep):02x}{round(green * keep):02x}{round(blue * keep):02x}"
    return BLACK


def accent_stylesheet(accent: str) -> str:
    """Return the stylesheet that sets the accent's custom properties (static/css/app.css uses them)."""
    return (
        "/* Pausa branding: PAUSA_ACCENT_COLOR (docs/branding.md). */\n"
        ":root {\n"
        f"  --accent: {accent};\n"
        f"  --accent-ink: {ink_on(accent)};\n"
        f"  --accent-text: {readable_on_white(accent)};\n"
        "}\n"
    )
