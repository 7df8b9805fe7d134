"""Branding from configuration: the site's name, logo and accent on every page visitors see (issue 13).

The maintenance page is rendered once per window and shared (app/gate/pages.py),
so the branding is part of that rendering: the in-app gate, the edge's /gate/page
and the state feed all carry it. An operator may also override the page's blocks
from a directory of their own without losing its countdown, poll or live region.
"""

from __future__ import annotations

import re

import pytest
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow

from app import create_app
from app.maintenance.branding import (
    BLACK,
    WHITE,
    accent_stylesheet,
    contrast_ratio,
    ink_on,
    parse_accent,
    parse_logo_url,
    readable_on_white,
)
from app.maintenance.validation import validate_window
from app.services import maintenance as maintenance_service
from app.services import tokens as token_service
from tests.support.apps import make_app

SITE = "Acme Shop"
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40">'
    '<rect width="120" height="40" fill="#7b1fa2"/></svg>'
)


def activate(app, **fields) -> None:
    with app.app_context():
        data = {"message": "Upgrading the database", "eta": "2h", **fields}
        maintenance_service.activate_window(validate_window(data, utcnow()), Actor("cli:test"))


def title_and_heading(html: str) -> tuple[str, str]:
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    heading = re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S)
    assert title and heading, html
    return " ".join(title.group(1).split()), " ".join(re.sub(r"<[^>]+>", "", heading.group(1)).split())


# --- The accent: strictly checked, always readable --------------------------------------------


@pytest.mark.parametrize("text, expected", [("#0B5CAD", "#0b5cad"), ("#abc", "#aabbcc"), (" #7b1fa2 ", "#7b1fa2")])
def test_an_accent_is_a_hex_colour(text, expected):
    assert parse_accent(text) == expected


@pytest.mark.parametrize("text", ["red", "#12345", "#1234567", "rgb(0,0,0)", "#0b5cad;}body{display:none",
                                  "#0b5cad /*", "0b5cad", "#ggg", ""])
def test_anything_else_is_refused_with_the_expected_format(text):
    with pytest.raises(ValueError, match=r"#rgb or #rrggbb"):
        parse_accent(text)


def test_contrast_follows_wcag():
    assert contrast_ratio(WHITE, BLACK) == pytest.approx(21)
    assert contrast_ratio("#777777", WHITE) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("accent", ["#0b5cad", "#7b1fa2", "#000000", "#767676"])
def test_a_dark_accent_keeps_white_text(accent):
    assert ink_on(accent) == WHITE
    assert readable_on_white(accent) == accent


@pytest.mark.parametrize("accent", ["#ffd54f", "#ffffff", "#777777", "#4caf50", "#00bcd4"])
def test_a_light_accent_gets_dark_text_and_a_darker_shade_for_text_on_white(accent):
    assert contrast_ratio(accent, WHITE) < 4.5
    assert ink_on(accent) == BLACK
    assert contrast_ratio(accent, ink_on(accent)) >= 4.5
    text = readable_on_white(accent)
    assert contrast_ratio(text, WHITE) >= 4.5
    assert contrast_ratio(text, WHITE) < 5.0, "darkened just enough, not to black"


def test_the_stylesheet_sets_the_accent_and_its_readable_companions():
    sheet = accent_stylesheet("#ffd54f")
    assert "--accent: #ffd54f;" in sheet
    assert "--accent-ink: #000000;" in sheet
    assert f"--accent-text: {readable_on_white('#ffd54f')};" in sheet


# --- Startup refuses settings that would break the pages ---------------------------------------


@pytest.mark.parametrize("overrides, named", [
    ({"ACCENT_COLOR": "red"}, "PAUSA_ACCENT_COLOR"),
    ({"ACCENT_COLOR": "#fff;} body {display:none"}, "PAUSA_ACCENT_COLOR"),
    ({"SITE_NAME": SITE, "LOGO_URL": "javascript:alert(1)"}, "PAUSA_LOGO_URL"),
    ({"SITE_NAME": SITE, "LOGO_URL": "http://cdn.example.com/logo.svg"}, "PAUSA_LOGO_URL"),
    ({"SITE_NAME": SITE, "LOGO_URL": '/logo.svg" onerror="x'}, "PAUSA_LOGO_URL"),
    ({"SITE_NAME": SITE, "LOGO_URL": "//cdn.example.com/logo.svg"}, "PAUSA_LOGO_URL"),
    ({"LOGO_URL": "/_pausa/brand/logo.svg"}, "PAUSA_SITE_NAME"),
    ({"TEMPLATES_DIR": "/nonexistent/pausa-templates"}, "PAUSA_TEMPLATES_DIR"),
])
def test_bad_branding_stops_the_app_at_startup(overrides, named):
    with pytest.raises(RuntimeError, match=named):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", **overrides})


@pytest.mark.parametrize("url", ["/_pausa/brand/logo.svg", "https://cdn.example.com/acme/logo.png"])
def test_a_logo_is_a_path_here_or_an_https_url(url):
    assert parse_logo_url(url) == url


# --- The maintenance page names the site, shows the logo and the zone of its times ----------------


@pytest.fixture
def branded(tmp_path):
    static = tmp_path / "brand" / "static"
    static.mkdir(parents=True)
    (static / "logo.svg").write_text(LOGO_SVG)
    return make_app(tmp_path, SITE_NAME=SITE, LOGO_URL="/_pausa/brand/logo.svg", ACCENT_COLOR="#7B1FA2",
                    TEMPLATES_DIR=str(tmp_path / "brand"))


def test_the_maintenance_page_names_the_site_in_its_title_and_heading(branded):
    activate(branded)
    response = branded.test_client().get("/account")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    assert title_and_heading(html) == (f"{SITE} is down for maintenance", f"{SITE} is down for maintenance")
    assert f'<img class="brand-logo" src="/_pausa/brand/logo.svg" alt="{SITE}"' in html


def test_without_a_site_name_the_page_keeps_its_generic_wording(app):
    activate(app)
    html = app.test_client().get("/account").get_data(as_text=True)
    assert title_and_heading(html) == ("Down for maintenance", "We’ll be right back")
    assert "brand-logo" not in html
    assert "brand.css" not in html


def test_the_site_name_is_translated_around_and_escaped(tmp_path):
    app = make_app(tmp_path, SITE_NAME="<b>Acme</b> & Co")
    activate(app)
    html = app.test_client().get("/account", headers={"Accept-Language": "pt-BR"}).get_data(as_text=True)
    assert "<b>Acme</b>" not in html
    title, heading = title_and_heading(html)
    assert "&lt;b&gt;Acme&lt;/b&gt; &amp; Co" in title and heading == title


def test_the_expected_return_time_says_its_time_zone(branded):
    activate(branded)
    html = branded.test_client().get("/maintenance").get_data(as_text=True)
    eta = re.search(r"<time datetime=\"[^\"]+\" data-local>(.*?)</time>", html)
    assert eta, html
    assert eta.group(1).endswith(" UTC"), eta.group(1)


def test_the_accent_is_served_as_a_stylesheet_the_csp_allows(branded):
    activate(branded)
    client = branded.test_client()
    html = client.get("/account").get_data(as_text=True)
    link = re.search(r'<link rel="stylesheet" href="(/_pausa/brand\.css\?v=[0-9a-f]+)">', html)
    assert link, "the maintenance page links the accent stylesheet"
    sheet = client.get(link.group(1))
    assert sheet.status_code == 200
    assert sheet.mimetype == "text/css"
    assert "--accent: #7b1fa2;" in sheet.get_data(as_text=True)
    assert "max-age=" in sheet.headers["Cache-Control"] and "public" in sheet.headers["Cache-Control"]
    assert client.get(link.group(1), headers={"If-None-Match": sheet.headers["ETag"]}).status_code == 304
    # No inline style anywhere: the CSP stays as strict as it was.
    assert "style=" not in html and "<style" not in html
    assert "style-src 'self'" in sheet.headers["Content-Security-Policy"]


def test_the_logo_file_is_served_under_the_visitors_prefix_during_maintenance(branded):
    client = branded.test_client()
    # Only the static folder: the database beside it is out of reach.
    assert client.get("/_pausa/brand/..%2f..%2fpausa.db").status_code == 404
    activate(branded)
    response = client.get("/_pausa/brand/logo.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"


def test_an_https_logo_is_allowed_by_the_content_security_policy(tmp_path):
    app = make_app(tmp_path, SITE_NAME=SITE, LOGO_URL="https://cdn.example.com/acme/logo.png")
    activate(app)
    response = app.test_client().get("/account")
    assert 'src="https://cdn.example.com/acme/logo.png"' in response.get_data(as_text=True)
    images = [part for part in response.headers["Content-Security-Policy"].split(";") if "img-src" in part]
    assert images == [" img-src 'self' data: https://cdn.example.com"]


def test_the_edge_page_and_the_state_feed_carry_the_branding(branded):
    activate(branded)
    client = branded.test_client(use_cookies=False)
    page = client.get("/gate/page", headers={"X-Original-URI": "/cart", "X-Original-Method": "GET"})
    assert page.status_code == 503
    html = page.get_data(as_text=True)
    assert title_and_heading(html)[1] == f"{SITE} is down for maintenance"
    assert "/_pausa/brand.css?v=" in html and 'src="/_pausa/brand/logo.svg"' in html
    # A host app's gate serves the pages the feed carries: the same branded rendering.
    with branded.app_context():
        _, raw = token_service.create_token("host-app", ["gate"], Actor("t"))
    feed = branded.test_client().get("/gate/state", headers={"Authorization": f"Bearer {raw}"})
    assert feed.status_code == 200
    assert f"{SITE} is down for maintenance" in feed.get_data(as_text=True)


def test_the_app_chrome_shows_the_site_name_logo_and_accent(branded):
    html = branded.test_client().get("/").get_data(as_text=True)
    header = re.search(r'<header class="site-header">(.*?)</header>', html, re.S)
    assert header, html
    assert f'alt="{SITE}"' in header.group(1) or SITE in header.group(1)
    assert "/_pausa/brand.css?v=" in html
    assert re.search(r"<title>\s*" + SITE, html)


def test_a_template_that_does_not_compile_stops_the_app_at_startup(tmp_path):
    (tmp_path / "public").mkdir()
    (tmp_path / "public" / "maintenance.html").write_text(
        '{% extends "pausa/public/maintenance.html" %}\n{% block extra %}<p>Call us{% endblok %}\n'
    )
    with pytest.raises(RuntimeError, match=r"public/maintenance\.html, line 2"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TEMPLATES_DIR": str(tmp_path)})


# --- An operator's own maintenance page, extending the built-in one -------------------------------

OVERRIDE = """{% extends "pausa/public/maintenance.html" %}
{% block brand %}<p class="acme-banner">Acme Shop · since 1999</p>{% endblock %}
{% block message %}<p class="acme-message">Our elves are polishing the shelves.</p>{% endblock %}
{% block extra %}<p class="acme-contact">{% trans %}Urgent? Call +1 555 0100.{% endtrans %}</p>{% endblock %}
"""


def test_an_override_changes_its_blocks_and_keeps_the_countdown_poll_and_live_region(tmp_path):
    directory = tmp_path / "templates"
    (directory / "public").mkdir(parents=True)
    (directory / "public" / "maintenance.html").write_text(OVERRIDE)
    app = make_app(tmp_path, SITE_NAME=SITE, TEMPLATES_DIR=str(directory))
    activate(app)
    response = app.test_client().get("/account")
    assert response.status_code == 503
    html = response.get_data(as_text=True)
    for mine in ("acme-banner", "Our elves are polishing the shelves.", "Urgent? Call +1 555 0100."):
        assert mine in html
    # What the built-in page guarantees is still there.
    assert re.search(r'<html lang="en"', html)
    assert title_and_heading(html)[1] == f"{SITE} is down for maintenance"
    assert re.search(r'data-countdown data-seconds="\d+"', html), "the countdown"
    assert 'data-hx-get="/_pausa/status?active=1"' in html, "the poll that brings the visitor back"
    assert re.search(r'<meta http-equiv="refresh" content="\d+">', html), "the return without JavaScript"
    # The live region is app.js's own (outside every swap); the page keeps what it announces.
    assert 'data-live-text="maintenance-state"' in html and 'role="timer"' in html, "the announced status"
    assert "Upgrading the database" in html
    # The poll partial swapped into the page is the built-in one.
    poll = app.test_client().get("/_pausa/status?active=1", headers={"HX-Request": "true"})
    assert 'data-live-text="maintenance-state"' in poll.get_data(as_text=True)
