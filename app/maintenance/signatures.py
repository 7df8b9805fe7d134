"""Webhook signature checks (Stripe's scheme), pure and constant-time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

STRIPE_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """Raised with a reason a sender's developer can act on."""


def stripe_signature(secret: str, timestamp: int, payload: bytes) -> str:
    """Compute Stripe's v1 signature: HMAC-SHA256 over `{t}.{raw body}`."""
    signed = f"{timestamp}.".encode() + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify_stripe(
    header: str | None,
    payload: bytes,
    secrets: Iterable[str],
    now: float,
    tolerance: int = STRIPE_TOLERANCE_SECONDS,
) -> int:
    """Check a `Stripe-Signature` header against every secret; return its timestamp.

    Any `v1` signature matching any secret passes (secret rotation); the
    timestamp must be within `tolerance` seconds of `now` either way.
    """
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("timestamp is not an integer") from None
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None:
        raise SignatureError("no timestamp in Stripe-Signature")
    if not candidates:
        raise SignatureError("no v1 signature in Stripe-Signature")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("timestamp outside the tolerance")
    secrets = [secret for secret in secrets if secret]
    if not secrets:
        raise SignatureError("no signing secret configured")
    matched = False
    for secret in secrets:
        expected = stripe_signature(secret, timestamp, payload)
        for candidate in candidates:
            # Keep comparing after a match so timing does not reveal which one matched.
            # Compare bytes: compare_digest raises TypeError on non-ASCII text, and a
            # header may carry any latin-1 character.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("no signature matches")
    return timestamp
