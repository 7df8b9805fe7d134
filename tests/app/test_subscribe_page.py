"""The subscribe forms' pages of their own (the way without JavaScript) and the markup that moves focus."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from pausa_gate.state import unknown_state

from tests.support.apps import make_app, schedule_in
from tests.support.vnu import assert_valid, fragment_document

HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/maintenance"}
PORTUGUESE = {"Accept-Language": "pt-BR,pt;q=0.9"}
CHECKOUT = "/checkout?x=1&step=2"
FROM_CHECKOUT = {"Referer": f"http://localhost{CHECKOUT}"}


def headings(html: str) -> list[tuple[int, str]]:
    """Return each heading's level and text, in document order."""
    found = re.findall(r"<h([1-6])\b[^>]*>(.*?)</h\1>", html, re.S)
    return [(int(level), re.sub(r"\s+", " ", text).strip()) for level, text in found]


@pytest.fixture
def active(activate):
    return activate(message="Upgrading", eta="1h")


@pytest.fixture
def planned(app):
    """Schedule a window that starts in 19 minutes, already announced (30 minutes' notice)."""
    return schedule_in(app, timedelta(minutes=19))


def back_link(html: str) -> tuple[str, str]:
    """Return the subscribe page's way back: its address and its words."""
    found = re.findall(r'<p><a href="([^"]*)">((?:Back to|Voltar) [^<]*)</a></p>', html)  # en, pt-BR
    assert len(found) == 1, found
    return found[0]


def form_fields(html: str) -> dict[str, str]:
    """Return the hidden fields of the page's form, by name."""
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', html))


@pytest.mark.parametrize("path", ["/maintenance/subscribe", "/_pausa/subscribe"])
def test_the_subscribe_form_has_a_page_of_its_own_that_does_not_reload(client, active, path):
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert headings(html) == [(1, "Email me when it’s back")]
    assert '<label for="subscribe-email">' in html and 'action="/_pausa/subscribe"' in html
    assert 'http-equiv="refresh"' not in html, "a reload would wipe what the visitor types"
    # Through the edge gate only the visitors' prefix reaches Pausa: assets and links stay under it.
    assert 'href="/_pausa/static/css/app.css' in html and 'href="/_pausa"' in html


def test_the_page_of_its_own_says_when_there_is_nothing_to_wait_for(client):
    html = client.get("/_pausa/subscribe").get_data(as_text=True)
    assert "Maintenance is over: there is nothing to wait for." in html
    assert 'id="subscribe-email"' not in html and headings(html)[0][0] == 1


def test_before_maintenance_starts_the_page_says_so_and_links_the_status_page(client, planned):
    assert "Maintenance is planned" in client.get("/_pausa").get_data(as_text=True)
    html = client.get("/_pausa/subscribe").get_data(as_text=True)
    assert "Maintenance has not started yet: once it starts, this page can email you when the site is back." in html
    assert "Maintenance is over" not in html and 'id="subscribe-email"' not in html
    assert '<a href="/_pausa/status/">Status page and maintenance calendar</a>' in html
    refused = client.post("/_pausa/subscribe", data={"email": "ana@example.com"})
    assert refused.status_code == 422 and "Maintenance has not started yet" in refused.get_data(as_text=True)


def test_no_form_for_the_fail_modes_stand_in_like_the_maintenance_page(client, monkeypatch):
    # The database is down and nothing was ever known: the gate blocks with a window of id -1,
    # which no subscriber can be stored for.
    monkeypatch.setattr("app.blueprints.public.gate_state", unknown_state)
    assert 'id="subscribe-email"' not in client.get("/_pausa").get_data(as_text=True)
    html = client.get("/_pausa/subscribe").get_data(as_text=True)
    unavailable = "Email sign-up is not available right now. Please try again in a few minutes."
    assert unavailable in html and 'id="subscribe-email"' not in html
    assert "Maintenance is over" not in html and headings(html) == [(1, "Email me when it’s back")]
    refused = client.post("/_pausa/subscribe", data={"email": "ana@example.com"})
    assert refused.status_code == 422 and unavailable in refused.get_data(as_text=True)


def test_the_way_back_is_the_page_the_visitor_was_blocked_on(client, active):
    page = client.get("/_pausa/subscribe", headers=FROM_CHECKOUT)
    html = page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store", "the way back is this visitor's own"
    assert back_link(html) == ("/checkout?x=1&amp;step=2", "Back to the page you were on")
    assert form_fields(html) == {"next": "/checkout?x=1&amp;step=2"}

    done = client.post("/_pausa/subscribe", data={"email": "ana@example.com", "next": CHECKOUT},
                       headers={"Referer": "http://localhost/_pausa/subscribe"})
    assert done.headers["Cache-Control"] == "no-store"
    assert "we will send one email to ana@example.com" in done.get_data(as_text=True)
    assert back_link(done.get_data(as_text=True)) == ("/checkout?x=1&amp;step=2", "Back to the page you were on")
    refused = client.post("/_pausa/subscribe", data={"email": "ana@localhost", "next": CHECKOUT}).get_data(as_text=True)
    assert form_fields(refused) == {"next": "/checkout?x=1&amp;step=2"}, "a second try keeps the way back"

    # A new language comes back to this page with the same way back.
    portuguese = unescape(re.search(r'<a href="([^"]+)"\s+lang="pt-BR"', html).group(1))
    switched = client.get(portuguese, headers={"Referer": "http://localhost/_pausa/subscribe"}, follow_redirects=True)
    assert '<html lang="pt-BR"' in switched.get_data(as_text=True)
    assert back_link(switched.get_data(as_text=True))[0] == "/checkout?x=1&amp;step=2"


@pytest.mark.parametrize(("query", "headers"), [
    ({}, {"Referer": "https://evil.example/checkout?x=1"}),
    ({}, {"Referer": "http://localhost.evil.example/checkout"}),
    ({"next": "https://evil.example/checkout"}, {}),
    ({"next": "//evil.example/checkout"}, {}),
    ({"next": "/\\evil.example"}, {}),
    ({}, {"Referer": "http://localhost/_pausa/subscribe"}),  # the page itself is no way back
    ({}, {}),
])
def test_any_other_way_back_is_the_maintenance_page(client, active, query, headers):
    html = client.get("/_pausa/subscribe", query_string=query, headers=headers).get_data(as_text=True)
    assert back_link(html) == ("/_pausa", "Back to the maintenance page")
    assert form_fields(html) == {} and "evil" not in html


def test_a_foreign_next_sent_with_the_form_falls_back_to_the_maintenance_page(client, active):
    html = client.post("/_pausa/subscribe", data={"email": "ana@example.com", "next": "https://evil.example"},
                       headers=FROM_CHECKOUT).get_data(as_text=True)
    assert "we will send one email to ana@example.com" in html
    assert back_link(html) == ("/_pausa", "Back to the maintenance page") and "evil" not in html


def test_through_the_edge_gate_the_protected_sites_referer_is_a_way_back(tmp_path):
    app = make_app(tmp_path, GATE_SITE_URL="https://shop.example")
    html = app.test_client().get("/_pausa/subscribe", headers={"Referer": "https://shop.example/cart"})
    assert back_link(html.get_data(as_text=True)) == ("/cart", "Back to the page you were on")


def test_without_javascript_a_stylesheet_hides_the_form_that_the_reload_would_wipe(client, active):
    html = client.get("/account").get_data(as_text=True)
    head = html[:html.index("</head>")]
    # <noscript>, not the `scripting` media feature, which Chrome < 120, Firefox < 113 and Safari < 17 ignore.
    stylesheet = '<noscript><link rel="stylesheet" href="/_pausa/static/css/noscript.css"></noscript>'
    assert stylesheet in head, "under the visitors' prefix: the edge gate routes only that to Pausa"
    css = client.get("/_pausa/static/css/noscript.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert ".subscribe-inline .form { display: none; }" in css.get_data(as_text=True)
    assert "style-src 'self'" in client.get("/account").headers["Content-Security-Policy"]


def test_no_page_of_its_own_when_the_site_sends_no_email(tmp_path, activate):
    app = make_app(tmp_path, MAIL_BACKEND="disabled")
    assert app.test_client().get("/_pausa/subscribe").status_code == 404


def test_the_confirmation_without_javascript_is_a_page_with_an_h1(client, active):
    html = client.post("/_pausa/subscribe", data={"email": "ana@example.com"}).get_data(as_text=True)
    assert headings(html) == [(1, "Email me when it’s back")]
    assert "we will send one email to ana@example.com" in html
    assert 'href="/_pausa"' in html, "the way back to the maintenance page"


@pytest.mark.parametrize("prefix", ["", "/_pausa"])
def test_the_standing_subscription_pages_have_an_h1_and_assets_under_their_prefix(client, prefix):
    form = client.post(f"{prefix}/status/subscribe", data={"email": "nope"}).get_data(as_text=True)
    done = client.post(f"{prefix}/status/subscribe", data={"email": "ana@example.com"}).get_data(as_text=True)
    for html in (form, done):
        assert headings(html) == [(1, "Get maintenance notices by email")]
        assert 'href="/_pausa/static/css/app.css' in html


def test_without_javascript_the_maintenance_page_links_to_the_form_that_does_not_reload(client, active):
    html = client.get("/account").get_data(as_text=True)
    section = html[html.index('id="subscribe"'):]
    assert 'class="subscribe subscribe-inline"' in html  # static/css/noscript.css hides its form without scripting
    link = re.search(r'<noscript><p><a href="([^"]+)">([^<]+)</a></p></noscript>', section)
    assert link and link.groups() == ("/_pausa/subscribe", "Enter your email address on a page that does not reload")
    assert 'id="subscribe-email"' in section, "with JavaScript the form stays where it is"
    assert headings(html) == [(1, "We’ll be right back"), (2, "Email me when it’s back")]


def test_the_answers_swapped_in_mark_what_takes_the_focus(client, active):
    done = client.post("/_pausa/subscribe", data={"email": "ana@example.com"}, headers=HTMX).get_data(as_text=True)
    assert re.search(r'<p role="status" tabindex="-1" data-focus-on-swap>Done: we will send one email to '
                     r"ana@example.com", done)
    refused = client.post("/_pausa/subscribe", data={"email": "ana@localhost"}, headers=HTMX).get_data(as_text=True)
    field = re.search(r'<input id="subscribe-email"[^>]*>', refused).group(0)
    assert 'aria-invalid="true"' in field and "data-focus-on-swap" in field
    assert 'aria-describedby="subscribe-hint subscribe-error"' in field
    assert refused.count("data-focus-on-swap") == 1
    standing = client.post("/status/subscribe", data={"email": "ana@example.com"}, headers=HTMX).get_data(as_text=True)
    assert re.search(r'<p role="status" tabindex="-1" data-focus-on-swap>Check your inbox', standing)
    # Never on a page as first loaded: nothing would move the focus there, and nothing should.
    assert "data-focus-on-swap" not in client.get("/account").get_data(as_text=True)


def test_the_pages_in_portuguese(client, active):
    page = client.get("/_pausa/subscribe", headers=PORTUGUESE).get_data(as_text=True)
    assert '<html lang="pt-BR"' in page and headings(page) == [(1, "Me avise por e-mail quando voltar")]
    maintenance = client.get("/account", headers=PORTUGUESE).get_data(as_text=True)
    assert '<noscript><p><a href="/_pausa/subscribe">' in maintenance


def test_the_pages_are_valid_html(client, active):
    maintenance = client.get("/account").get_data(as_text=True)
    section = maintenance[maintenance.index('<section id="subscribe"'):]
    assert_valid({
        # The rest of the maintenance page is checked where it is tested; here, the part this file is about.
        "maintenance page's subscribe section": fragment_document(section[:section.index("</section>") + 10]),
        "subscribe page": client.get("/_pausa/subscribe").get_data(as_text=True),
        "subscribe page, pt-BR": client.get("/_pausa/subscribe", headers=PORTUGUESE).get_data(as_text=True),
        "subscribe page with the way back": client.get("/_pausa/subscribe", headers=FROM_CHECKOUT).get_data(as_text=True),
        "maintenance page's head": maintenance[:maintenance.index("</head>")] + "</head><body></body></html>",
        "refused, no JavaScript": client.post("/_pausa/subscribe", data={"email": "ana@localhost"}).get_data(as_text=True),
        "confirmation, no JavaScript": client.post(
            "/_pausa/subscribe", data={"email": "ana@example.com", "next": CHECKOUT}).get_data(as_text=True),
        "confirmation fragment": fragment_document(
            client.post("/_pausa/subscribe", data={"email": "bea@example.com"}, headers=HTMX).get_data(as_text=True)),
        "standing page": client.post("/status/subscribe", data={"email": "ana@example.com"}).get_data(as_text=True),
    })
