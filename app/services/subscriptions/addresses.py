"""Email addresses as subscribers give them: validated, normalised, hashed."""

from __future__ import annotations

import hashlib

from email_validator import EmailNotValidError, validate_email

from .. import ServiceError

EMAIL_MAX = 254


class InvalidEmail(ServiceError):
    """The address is not one we can send to."""

    status = 400


class EmailDisabled(ServiceError):
    """MAIL_BACKEND=disabled: the site sends no email, so it takes no subscriptions."""

    status = 404


def normalise_email(raw: str) -> str:
    """Validate an address and return its one canonical form (raises InvalidEmail).

    email-validator checks the syntax, lowercases and IDNA-normalises the domain
    and NFC-normalises the local part; the local part is lowercased too, since
    practically every mail system treats it case-insensitively and two
    subscriptions for `Ana@x` and `ana@x` would email the same person twice.
    """
    text = (raw or "").strip()
    if not text or len(text) > EMAIL_MAX:
        raise InvalidEmail("invalid email")
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    return result.normalized.lower()


def email_hash(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()
