"""Reading weighted header lists (Accept, Accept-Language) the one way every gate reads them."""

from __future__ import annotations


def weighted(header: str) -> list[tuple[str, float]]:
    """Return each value of a `value;q=0.8, other` list, lowercased, with its weight (default 1)."""
    values = []
    for part in header.split(","):
        value, _, parameters = part.strip().partition(";")
        value = value.strip().lower()
        if not value:
            continue
        quality = 1.0
        for parameter in parameters.split(";"):
            name, _, number = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    quality = max(0.0, min(1.0, float(number)))
                except ValueError:
                    quality = 0.0
        values.append((value, quality))
    return values
