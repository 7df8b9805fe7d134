"""Webhook signature checks (Stripe's scheme and Standard Webhooks), pure and constant-time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Iterable

STRIPE_TOLERANCE_SECONDS = 300
STANDARD_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """Raised with a reason a sender's developer can act on.

    `reason` sorts it for counting: malformed, stale_timestamp, future_timestamp,
    signature or not_configured; `skew` is this clock minus the sender's
    timestamp, in seconds, when the timestamp was read.
    """

    def __init__(self, message: str, reason: str = "malformed", skew: float | None = None):
        super().__init__(message)
        self.reason = reason
        self.skew = skew


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
    _check_fresh_and_signed(
        timestamp, now, tolerance, candidates, secrets,
        lambda secret: stripe_signature(secret, timestamp, payload),
    )
    return timestamp


def _check_fresh_and_signed(
    timestamp: int,
    now: float,
    tolerance: int,
    candidates: list[str],
    secrets: Iterable[str],
    expected_for: Callable[[str], str],
) -> None:
    """Refuse a stale timestamp, then accept when any candidate matches any secret's signature."""
    skew = now - timestamp
    if abs(skew) > tolerance:
        reason = "stale_timestamp" if skew > 0 else "future_timestamp"
        raise SignatureError("timestamp outside the tolerance", reason, skew)
    secrets = [secret for secret in secrets if secret]
    if not secrets:
        raise SignatureError("no signing secret configured", "not_configured")
    matched = False
    for secret in secrets:
        expected = expected_for(secret)
        for candidate in candidates:
            # Keep comparing after a match so timing does not reveal which one matched.
            # Compare bytes: compare_digest raises TypeError on non-ASCII text, and a
            # header may carry any latin-1 character.
            matched |= hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace"))
    if not matched:
        raise SignatureError("no signature matches", "signature", skew)


# -- Standard Webhooks (https://www.standardwebhooks.com/) ------------------------------------


def standard_key(secret: str) -> bytes:
    """Decode a `whsec_<base64>` secret into its HMAC key (a bare base64 key is accepted too)."""
    encoded = secret[len("whsec_"):] if secret.startswith("whsec_") else secret
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("a configured secret is not valid whsec_<base64>", "not_configured") from None


def standard_signature(secret: str, message_id: str, timestamp: int, payload: bytes) -> str:
    """Compute a Standard Webhooks `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`."""
    signed = f"{message_id}.{timestamp}.".encode() + payload
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def standard_headers(secret: str, message_id: str, timestamp: int, payload: bytes) -> dict[str, str]:
    """The three headers a Standard Webhooks sender puts on a request."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, message_id, timestamp, payload),
    }


def verify_standard(
    message_id: str | None,
    timestamp_header: str | None,
    signature_header: str | None,
    payload: bytes,
    secrets: Iterable[str],
    now: float,
    tolerance: int = STANDARD_TOLERANCE_SECONDS,
) -> int:
    """Check Standard Webhooks headers against every secret; return the timestamp.

    `webhook-signature` holds space-separated `v1,<base64>` signatures; any one
    matching any secret passes (rotation). Other versions are ignored.
    """
    if not message_id:
        raise SignatureError("missing webhook-id header")
    if not timestamp_header:
        raise SignatureError("missing webhook-timestamp header")
    if not signature_header:
        raise SignatureError("missing webhook-signature header")
    try:
        timestamp = int(timestamp_header)
    except ValueError:
        raise SignatureError("webhook-timestamp is not an integer") from None
    candidates = []
    for part in signature_header.split(" "):
        version, _, value = part.partition(",")
        if version == "v1" and value:
            candidates.append(value)
    if not candidates:
        raise SignatureError("no v1 signature in webhook-signature")
    _check_fresh_and_signed(
        timestamp, now, tolerance, candidates, secrets,
        lambda secret: standard_signature(secret, message_id, timestamp, payload)[len("v1,"):],
    )
    return timestamp
