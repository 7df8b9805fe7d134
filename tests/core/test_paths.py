"""Path normalisation and segment-boundary prefix matching."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pausa_gate.paths import is_under, is_under_any, normalise_path

from .factories import PROPERTY, raw_paths


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/", "/"),
        ("", "/"),
        ("//", "/"),
        ("/./", "/"),
        ("/account", "/account"),
        ("/account/", "/account"),
        ("//account//settings//", "/account/settings"),
        ("/a/./b/../c/", "/a/c"),
        ("/a/b/..", "/a"),
        ("/..", "/"),
        ("/../../etc/passwd", "/etc/passwd"),
        ("/webhooks/../admin", "/admin"),
        ("/webhooks/../account", "/account"),
        ("/static/../../account", "/account"),
        ("/webhooksx", "/webhooksx"),
        ("\\admin", "/admin"),
        ("/admin\\..\\account", "/account"),
        ("\\\\billing\\\\x", "/billing/x"),
        ("account/settings", "/account/settings"),
        ("/a/.../b", "/a/.../b"),
        ("/a/..b/c.", "/a/..b/c."),
        ("/Billing/Invoices", "/Billing/Invoices"),
        ("/%2e%2e/admin", "/%2e%2e/admin"),
    ],
    ids=lambda value: repr(value),
)
def test_normalise_path(raw, expected):
    assert normalise_path(raw) == expected


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/webhooks", "/webhooks", True),
        ("/webhooks/stripe", "/webhooks", True),
        ("/webhooks/a/b/c", "/webhooks", True),
        ("/webhooksx", "/webhooks", False),
        ("/webhooks-legacy/x", "/webhooks", False),
        ("/webhook", "/webhooks", False),
        ("/", "/webhooks", False),
        ("/api/admin/x", "/api/admin", True),
        ("/api/adminx", "/api/admin", False),
        ("/api", "/api/admin", False),
        ("/webhooks/stripe", "/webhooks/", True),
        ("/webhooks/stripe", "webhooks", True),
        ("/webhooks/stripe", "//webhooks/./", True),
        ("/anything/at/all", "/", True),
        ("/ADMIN", "/admin", False),
        ("/admin", "/Admin", False),
    ],
    ids=lambda value: repr(value),
)
def test_is_under_on_segment_boundaries(path, prefix, expected):
    assert is_under(path, prefix) is expected


@pytest.mark.parametrize(
    ("path", "prefix", "expected"),
    [
        ("/Billing", "/billing", True),
        ("/BILLING/invoices", "/billing", True),
        ("/billing", "/Billing", True),
        ("/billingX", "/billing", False),
        ("/Bill", "/billing", False),
    ],
    ids=lambda value: repr(value),
)
def test_is_under_ignoring_case(path, prefix, expected):
    assert is_under(path, prefix, ignore_case=True) is expected


def test_is_under_any_accepts_tuples_lists_and_nothing():
    assert is_under_any("/b/x", ("/a", "/b"))
    assert is_under_any("/b/x", ["/a", "/b"])
    assert not is_under_any("/c", ("/a", "/b"))
    assert not is_under_any("/c", ())


@PROPERTY
@given(raw_paths())
def test_normalise_is_idempotent(raw):
    once = normalise_path(raw)
    assert normalise_path(once) == once


@PROPERTY
@given(st.one_of(raw_paths(), st.text(max_size=40)))
def test_normalised_path_is_canonical(raw):
    path = normalise_path(raw)
    assert path.startswith("/")
    assert "\\" not in path
    assert path == "/" or not path.endswith("/")
    segments = path.split("/")[1:]
    if path != "/":
        assert all(segment not in ("", ".", "..") for segment in segments)


@PROPERTY
@given(raw_paths(), raw_paths())
def test_a_dot_dot_never_climbs_out_of_a_prefix_match(prefix, raw):
    """Whatever the spelling, matching is decided on the normalised form only."""
    path = normalise_path(raw)
    normal_prefix = normalise_path(prefix)
    expected = normal_prefix == "/" or path == normal_prefix or path.startswith(normal_prefix + "/")
    assert is_under(path, prefix) is expected


@PROPERTY
@given(st.text(st.characters(codec="ascii", exclude_characters="/\\"), min_size=1, max_size=10))
def test_a_longer_first_segment_is_never_under_the_prefix(suffix):
    assert not is_under(normalise_path("/webhooks" + suffix), "/webhooks")
    if suffix not in (".", ".."):
        assert is_under(normalise_path("/webhooks/" + suffix), "/webhooks")
