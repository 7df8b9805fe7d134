"""Stripe webhook signatures: HMAC-SHA256 over `{t}.{raw body}`, 300 s tolerance, rotation."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from app.maintenance.signatures import (
    STRIPE_TOLERANCE_SECONDS,
    SignatureError,
    stripe_signature,
    verify_stripe,
)

from .factories import PROPERTY

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
T = 1_773_489_600  # 2026-03-14T12:00:00Z
BODY = b'{"id":"evt_1","type":"invoice.paid","data":{"object":{"amount":4200,"note":"\xc3\xa7\xc3\xa3o"}}}'


def sign(body: bytes = BODY, secret: str = SECRET, t: int = T) -> str:
    """Sign as the published algorithm says, independently of the code under test."""
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def header(*signatures: str, t: int | str = T) -> str:
    return ",".join([f"t={t}"] + [f"v1={s}" for s in signatures])


def rejected(head, *, body=BODY, secrets=(SECRET,), now=T) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_stripe(head, body, secrets, now)
    return str(caught.value)


def test_stripe_signature_is_the_published_algorithm():
    assert stripe_signature(SECRET, T, BODY) == sign()
    assert stripe_signature("k", 0, b"") == hmac.new(b"k", b"0.", hashlib.sha256).hexdigest()


def test_a_good_signature_returns_its_timestamp():
    assert verify_stripe(header(sign()), BODY, [SECRET], T) == T


def test_an_empty_body_can_be_signed():
    assert verify_stripe(header(sign(b"")), b"", [SECRET], T) == T


# ---------------------------------------------------------------- tolerance


@pytest.mark.parametrize(
    ("now", "ok"),
    [
        (T, True),
        (T + 300, True),
        (T + 300.0, True),
        (T + 300.4, False),
        (T + 301, False),
        (T - 300, True),  # a sender clock slightly ahead
        (T - 301, False),
        (T + 86_400, False),  # a replay a day later
    ],
    ids=["same-second", "exactly-300s-late", "300.0s", "300.4s", "301s-late", "300s-early", "301s-early", "a-day"],
)
def test_tolerance_edges(now, ok):
    head = header(sign())
    if ok:
        assert verify_stripe(head, BODY, [SECRET], now) == T
    else:
        assert rejected(head, now=now) == "timestamp outside the tolerance"


def test_the_default_tolerance_is_five_minutes_and_can_be_changed():
    assert STRIPE_TOLERANCE_SECONDS == 300
    assert verify_stripe(header(sign()), BODY, [SECRET], T + 600, tolerance=600) == T
    with pytest.raises(SignatureError):
        verify_stripe(header(sign()), BODY, [SECRET], T + 11, tolerance=10)


def test_a_stale_timestamp_fails_even_with_a_good_signature():
    old = T - 3600
    assert rejected(header(sign(t=old), t=old)) == "timestamp outside the tolerance"


# ---------------------------------------------------------------- several signatures, rotated secrets


@pytest.mark.parametrize(
    "head",
    [
        header(sign()),
        header("0" * 64, sign()),
        header(sign(), "f" * 64),
        header(sign(secret=OLD_SECRET), sign()),
        f"t={T},v0={'0' * 64},v1={sign()}",
        f"v1={sign()},t={T}",  # order does not matter
        f" t={T} , v1={sign()} ",
        f"t={T},v1={sign()},scheme=future,x",
    ],
    ids=["one", "bad-then-good", "good-then-bad", "old-and-new", "with-v0", "reversed", "spaces", "unknown-parts"],
)
def test_any_v1_signature_may_match(head):
    assert verify_stripe(head, BODY, [SECRET], T) == T


@pytest.mark.parametrize(
    ("secrets", "signed_with", "ok"),
    [
        ([SECRET, OLD_SECRET], SECRET, True),
        ([SECRET, OLD_SECRET], OLD_SECRET, True),
        ((s for s in [OLD_SECRET, SECRET]), SECRET, True),  # any iterable
        ([SECRET], OLD_SECRET, False),  # the old secret was retired
        (["", SECRET], SECRET, True),  # blank entries are skipped
        ([SECRET], "whsec_someone_else", False),
    ],
    ids=["new-of-two", "old-of-two", "generator", "retired", "blank-entry", "foreign"],
)
def test_rotated_secrets(secrets, signed_with, ok):
    head = header(sign(secret=signed_with))
    if ok:
        assert verify_stripe(head, BODY, secrets, T) == T
    else:
        assert rejected(head, secrets=secrets) == "no signature matches"


@pytest.mark.parametrize("secrets", [[], [""], ("", "")], ids=["none", "blank", "blanks"])
def test_no_secret_configured_never_passes(secrets):
    assert rejected(header(sign(secret="")), secrets=secrets) == "no signing secret configured"


# ---------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    ("head", "body"),
    [
        (header(sign()), BODY + b" "),
        (header(sign()), BODY.replace(b"4200", b"9999")),
        (header(sign()), BODY.decode().encode("latin-1", "replace")),
        (header(sign(t=T - 1)), BODY),  # a signature moved to a fresher timestamp
        (header(sign().upper()), BODY),
        (header(sign()[:-1]), BODY),
        (header(sign() + "0"), BODY),
        (header(" " + sign() + "x"), BODY),
    ],
    ids=["trailing-space", "changed-amount", "re-encoded", "replayed-timestamp", "upper-hex", "truncated",
         "extended", "garbled"],
)
def test_tampering_fails(head, body):
    assert rejected(head, body=body) == "no signature matches"


# ---------------------------------------------------------------- malformed headers


@pytest.mark.parametrize(
    ("head", "reason"),
    [
        (None, "missing Stripe-Signature header"),
        ("", "missing Stripe-Signature header"),
        (f"v1={sign()}", "no timestamp in Stripe-Signature"),
        (f"T={T},v1={sign()}", "no timestamp in Stripe-Signature"),
        (f"t={T}", "no v1 signature in Stripe-Signature"),
        (f"t={T},v1=", "no v1 signature in Stripe-Signature"),
        (f"t={T},v0={sign()}", "no v1 signature in Stripe-Signature"),
        (f"t={T},V1={sign()}", "no v1 signature in Stripe-Signature"),
        (f"t=abc,v1={sign()}", "timestamp is not an integer"),
        (f"t=,v1={sign()}", "timestamp is not an integer"),
        (f"t={T}.5,v1={sign()}", "timestamp is not an integer"),
        (f"t=1e9,v1={sign()}", "timestamp is not an integer"),
        (f"t={T};v1={sign()}", "timestamp is not an integer"),
        (f"{sign()}", "no timestamp in Stripe-Signature"),
        (",,,", "no timestamp in Stripe-Signature"),
    ],
    ids=["none", "empty", "no-t", "upper-T", "no-v1", "empty-v1", "only-v0", "upper-V1", "t-word", "t-empty",
         "t-float", "t-exponent", "semicolon", "bare-signature", "commas"],
)
def test_malformed_headers(head, reason):
    assert rejected(head) == reason


@pytest.mark.parametrize(
    "candidate",
    ["é" * 64, "ä", "\u00ff" * 64, "０" * 64, "sig\u2028"],
    ids=["accented", "short-accented", "latin-1", "fullwidth-digits", "line-separator"],
)
def test_a_non_ascii_signature_is_a_signature_error_not_a_crash(candidate):
    """WSGI hands headers over as latin-1 text, so any byte can arrive; the answer must be a 400."""
    assert rejected(header(candidate)) == "no signature matches"
    assert verify_stripe(header(candidate, sign()), BODY, [SECRET], T) == T


header_parts = st.one_of(
    st.builds("v1={}".format, st.one_of(st.text(max_size=70), st.just(sign()))),
    st.builds("t={}".format, st.text(max_size=12)),
    st.text(max_size=20),
)
headers = st.one_of(
    st.none(),
    st.text(max_size=120),
    st.builds(
        lambda t, parts: ",".join([f"t={t}", *parts]),
        st.integers(T - 400, T + 400),
        st.lists(header_parts, min_size=1, max_size=4),
    ),
)


@PROPERTY
@given(headers, st.sampled_from([BODY, b"", b"\xff\x00"]))
def test_any_header_is_either_verified_or_a_signature_error(head, body):
    try:
        result = verify_stripe(head, body, [SECRET], T)
    except SignatureError:
        return
    assert isinstance(result, int)


@PROPERTY
@given(st.binary(max_size=256), st.integers(T - 300, T + 300), st.text(min_size=1, max_size=40))
def test_what_we_sign_we_verify(body, t, secret):
    head = header(stripe_signature(secret, t, body), t=t)
    assert verify_stripe(head, body, [secret], T) == t


# ---------------------------------------------------------------- Stripe's own library



def test_a_header_made_by_stripes_helper_passes():
    body = BODY.decode()
    head = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=T)
    assert verify_stripe(head, BODY, [OLD_SECRET, SECRET], T + 299) == T


def test_a_header_made_by_stripes_helper_with_another_secret_fails():
    head = stripe.WebhookSignature.generate_signature_header(BODY.decode(), OLD_SECRET, timestamp=T)
    assert rejected(head) == "no signature matches"


def test_stripes_library_accepts_our_signature():
    head = header(stripe_signature(SECRET, T, BODY))
    assert stripe.WebhookSignature.verify_header(BODY, head, SECRET, tolerance=None) is True
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(BODY + b"x", head, SECRET, tolerance=None)
