"""The UI in English and Brazilian Portuguese: the catalog, the language choice, the switcher."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from app.i18n import choose_language
from tests.support.apps import make_app

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "translations" / "pt_BR" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
PT = {"Accept-Language": "pt-BR,pt;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
HX = {"HX-Request": "true"}


def read_catalog():
    with PO.open("rb") as handle:
        return read_po(handle, locale="pt_BR")


# --- The catalog -------------------------------------------------------------------------------


def test_every_message_is_translated_and_none_is_fuzzy():
    catalog = read_catalog()
    untranslated = [m.id for m in catalog if m.id and not m.string]
    fuzzy = [m.id for m in catalog if m.id and m.fuzzy]
    assert not untranslated, f"untranslated in {PO.name}: {untranslated}"
    assert not fuzzy, f"fuzzy in {PO.name} (check the translation, then drop the flag): {fuzzy}"
    # Placeholders must survive translation: %(name)s in the msgid, the same in the msgstr.
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check() if errors]
    assert not problems, problems


def test_compiled_catalog_matches_the_po_file():
    """The committed .mo is what `make translations-compile` would write from the .po today."""
    fresh = io.BytesIO()
    write_mo(fresh, read_catalog())
    fresh.seek(0)
    def entries(catalog):
        # Plural entries come back as lists: make them hashable tuples.
        def freeze(value):
            return tuple(value) if isinstance(value, list | tuple) else value

        return {freeze(m.id): freeze(m.string) for m in catalog if m.id}

    with MO.open("rb") as handle:
        committed = entries(read_mo(handle))
    compiled = entries(read_mo(fresh))
    assert committed == compiled, "translations/…/messages.mo is out of date: run `make translations-compile`"


def test_every_string_in_the_code_is_in_the_catalog():
    """A string wrapped in _() or gettext() but missing from the .po would show in English."""
    method_map = [("app/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}
    found = {
        (message if isinstance(message, str) else message[0], filename)
        for filename, _lineno, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map=method_map, keywords=keywords
        )
    }
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in read_catalog()}
    missing = sorted(f"{filename}: {message!r}" for message, filename in found if message not in known)
    assert not missing, "run `make translations-extract`, translate, `make translations-compile`:\n" + "\n".join(
        missing
    )


# --- Choosing the language ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "cookie", "expected"),
    [
        ("pt-BR,pt;q=0.9", None, "pt_BR"),
        ("pt-PT", None, "pt_BR"),
        ("en-US,en;q=0.9,pt-BR;q=0.8", None, "en"),
        ("de-DE", None, "en"),
        (None, None, "en"),
        ("pt-BR", "en", "en"),
        ("en", "pt_BR", "pt_BR"),
        ("pt-BR", "klingon", "pt_BR"),
    ],
)
def test_choose_language(accept, cookie, expected):
    assert choose_language(accept, cookie) == expected


def test_portuguese_maintenance_page_in_place_and_its_partial(client, activate):
    activate(message="Atualizando", eta="30m", reason="database")
    page = client.get("/account", headers=PT)
    html = page.get_data(as_text=True)
    assert page.status_code == 503
    assert '<html lang="pt-BR"' in html
    assert "Voltamos já" in html and "Trabalho no banco de dados" in html
    assert "De volta em cerca de" in html and "Previsão de volta" in html
    assert 'data-i18n-countdown-soon="a qualquer momento"' in html
    assert "Accept-Language" in page.headers["Vary"]

    partial = client.get("/maintenance/status?active=1", headers={**PT, **HX})
    text = partial.get_data(as_text=True)
    assert "Esta página vai recarregar sozinha." in text and "<html" not in text

    english = client.get("/account", headers=EN).get_data(as_text=True)
    assert '<html lang="en"' in english and "We’ll be right back" in english


# --- The window's message in the visitor's language ---------------------------------------------


def test_each_visitor_reads_the_message_written_in_their_language(client, activate):
    activate(message="Upgrading the database", messages={"pt-BR": "Atualizando o banco de dados"}, eta="30m")
    portuguese = client.get("/account", headers=PT).get_data(as_text=True)
    english = client.get("/account", headers=EN).get_data(as_text=True)
    assert "Atualizando o banco de dados" in portuguese and "Upgrading the database" not in portuguese
    assert "Upgrading the database" in english and "Atualizando o banco de dados" not in english
    # The poll partial that replaces the page's text says the same.
    poll = client.get("/maintenance/status?active=1", headers={**PT, **HX}).get_data(as_text=True)
    assert "Atualizando o banco de dados" in poll
    # The switcher's cookie chooses the message too.
    client.get("/maintenance/language?lang=pt_BR&next=/", headers=EN)
    assert "Atualizando o banco de dados" in client.get("/account", headers=EN).get_data(as_text=True)


def test_a_window_without_a_portuguese_message_shows_the_default_to_everyone(client, activate):
    activate(message="Upgrading the database", eta="30m")
    for headers in (PT, EN):
        assert "Upgrading the database" in client.get("/account", headers=headers).get_data(as_text=True)


def test_the_edge_page_says_the_message_in_the_visitors_language(tmp_path):
    app = make_app(tmp_path)
    with app.app_context():
        from pausa_gate.state import Actor
        from pausa_gate.windows import utcnow

        from app.maintenance.validation import validate_window
        from app.services import maintenance as maintenance_service

        maintenance_service.activate_window(
            validate_window({"message": "Deploying", "messages": {"pt-BR": "Implantando"}}, utcnow()), Actor("t")
        )
    client = app.test_client(use_cookies=False)
    asked = {"X-Forwarded-Uri": "/account", "X-Forwarded-Method": "GET"}
    portuguese = client.get("/gate/check", headers={**asked, **PT}).get_data(as_text=True)
    english = client.get("/gate/check", headers={**asked, **EN}).get_data(as_text=True)
    assert "Implantando" in portuguese and "Deploying" not in portuguese
    assert "Deploying" in english and "Implantando" not in english
    nginx = {"X-Original-URI": "/account", "X-Original-Method": "GET"}
    assert "Implantando" in client.get("/gate/page", headers={**nginx, **PT}).get_data(as_text=True)


def test_the_state_feed_carries_the_messages_and_each_languages_page(tmp_path):
    from pausa_gate.feed import Feed
    from pausa_gate.state import Actor
    from pausa_gate.windows import utcnow, window_in_effect

    from app.maintenance.validation import validate_window
    from app.services import maintenance as maintenance_service
    from app.services import tokens as token_service

    app = make_app(tmp_path)
    with app.app_context():
        maintenance_service.activate_window(
            validate_window({"message": "Deploying", "messages": {"pt-BR": "Implantando"}}, utcnow()), Actor("t")
        )
        _, raw = token_service.create_token("shop", ["gate"], Actor("t"))
    answer = app.test_client().get("/gate/state", headers={"Authorization": f"Bearer {raw}"})
    assert answer.json["state"]["windows"][0]["messages"] == {"pt-BR": "Implantando"}
    feed = Feed.from_json(answer.json)
    now = utcnow()
    window = window_in_effect(feed.state, now)
    assert window.message_in("pt_BR") == "Implantando"
    portuguese = feed.pages.page(window, now, "pt_BR")
    english = feed.pages.page(window, now, "en")
    assert "Implantando" in portuguese and "Deploying" not in portuguese
    assert "Deploying" in english and "Implantando" not in english


DASHBOARD_HX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/admin"}


def test_the_dashboard_asks_the_message_in_portuguese_and_pt_visitors_read_it(app, client, auth):
    from app.extensions import db
    from app.models import AuditEntry

    auth.login("admin")
    idle = client.get("/admin").get_data(as_text=True)
    assert '<label for="message-pt-BR">Message in Português (Brasil)' in idle
    assert 'name="messages.pt-BR" lang="pt-BR"' in idle
    assert 'name="messages.en"' not in idle  # English is the default language: it is `message`
    form = {"csrf_token": auth.csrf(), "roles_present": "1", "reason": "database", "mode": "full",
            "message": "Upgrading the database", "messages.pt-BR": "Atualizando o banco de dados"}
    started = client.post("/admin/maintenance/activate", data=form, headers=DASHBOARD_HX)
    assert started.status_code == 200
    assert ">Atualizando o banco de dados</textarea>" in started.get_data(as_text=True)  # the update form
    visitor = app.test_client()  # the admin's own session goes through
    assert "Atualizando o banco de dados" in visitor.get("/account", headers=PT).get_data(as_text=True)
    assert "Upgrading the database" in visitor.get("/account", headers=EN).get_data(as_text=True)

    updated = client.post("/admin/maintenance/update", data={**form, "messages.pt-BR": "Quase lá"},
                          headers=DASHBOARD_HX)
    assert updated.status_code == 200
    assert "Quase lá" in visitor.get("/account", headers=PT).get_data(as_text=True)
    with app.app_context():
        entry = db.session.query(AuditEntry).filter_by(action="maintenance.updated").one()
        assert entry.details == {"before": {"messages": {"pt-BR": "Atualizando o banco de dados"}},
                                 "after": {"messages": {"pt-BR": "Quase lá"}}}

    too_long = client.post("/admin/maintenance/update", data={**form, "messages.pt-BR": "x" * 501},
                           headers=DASHBOARD_HX)
    html = too_long.get_data(as_text=True)
    assert too_long.status_code == 422
    assert 'aria-describedby="messages.pt-BR-error"' in html
    assert '<p class="error" id="messages.pt-BR-error">At most 500 characters (got 501).</p>' in html


def test_with_portuguese_as_the_operators_language_the_dashboard_asks_the_english_message(tmp_path):
    from tests.support.apps import AuthActions

    app = make_app(tmp_path, BABEL_DEFAULT_LOCALE="pt_BR")
    client = app.test_client()
    AuthActions(client).login("admin")
    html = client.get("/admin", headers=EN).get_data(as_text=True)
    assert '<label for="message-en">Message in English' in html and 'name="messages.pt-BR"' not in html


def test_portuguese_banner(client, activate):
    activate(message="Leitura", eta="1h", mode="read_only")
    banner = client.get("/maintenance/banner", headers={**PT, **HX, "HX-Current-URL": "http://localhost/"})
    html = banner.get_data(as_text=True)
    assert "Manutenção em andamento." in html and "Previsão de volta em" in html
    assert 'aria-label="Ocultar este aviso nesta sessão"' in html
    assert "<button" in html and "data-dismiss-banner" in html


def test_portuguese_bypass_ribbon(client, auth, activate):
    activate(message="Tudo", eta="1h", mode="full")
    auth.login("admin")
    ribbon = client.get("/maintenance/banner", headers={**PT, **HX, "HX-Current-URL": "http://localhost/"})
    assert "Manutenção ativa — você está com acesso liberado." in ribbon.get_data(as_text=True)


def test_portuguese_login_and_dashboard(client, auth):
    login = client.get("/auth/login", headers=PT).get_data(as_text=True)
    assert "<h1>Entrar</h1>" in login and "Senha" in login and '<html lang="pt-BR"' in login
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = PT["Accept-Language"]
    failed = auth.login("admin", password="wrong")
    assert "O e-mail ou a senha não estão corretos." in failed.get_data(as_text=True)
    auth.login("admin")
    dashboard = client.get("/admin").get_data(as_text=True)
    assert "Painel de manutenção" in dashboard
    assert "A manutenção está desativada." in dashboard and "Ativar a manutenção agora" in dashboard
    assert "Mensagem aos usuários" in dashboard and "somente leitura" in dashboard


def test_portuguese_error_page(client):
    missing = client.get("/nowhere", headers=PT)
    html = missing.get_data(as_text=True)
    assert missing.status_code == 404
    assert '<html lang="pt-BR">' in html and "Página não encontrada" in html
    assert "Não há nenhuma página neste endereço." in html


# --- The switcher ------------------------------------------------------------------------------


def test_switcher_sets_the_cookie_which_wins_over_accept_language(client):
    response = client.get("/maintenance/language?lang=en&next=/account?tab=1", headers=PT)
    assert response.status_code == 303
    assert response.headers["Location"] == "/account?tab=1"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("pausa_lang=en;")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie and "HttpOnly" in cookie
    home = client.get("/", headers=PT).get_data(as_text=True)
    assert '<html lang="en"' in home and "Welcome to the demo shop" in home

    client.get("/maintenance/language?lang=pt_BR&next=/", headers=EN)
    home = client.get("/", headers=EN)
    assert "Boas-vindas à loja de demonstração" in home.get_data(as_text=True)
    assert "Cookie" in home.headers["Vary"] and "Accept-Language" in home.headers["Vary"]


def test_every_page_links_to_the_switcher(client, activate):
    home = client.get("/?q=1").get_data(as_text=True)
    assert 'href="/maintenance/language?lang=pt_BR&amp;next=/?q%3D1"' in home
    assert 'aria-current="true">English</a>' in home
    activate(message="x")
    page = client.get("/account").get_data(as_text=True)
    # The shared maintenance page goes back through the Referer, so it names no URL.
    assert 'href="/_pausa/language?lang=pt_BR"' in page


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "evil", "/%0d\r\nx"],
)
def test_switcher_refuses_unsafe_next(client, target):
    response = client.get("/maintenance/language", query_string={"lang": "pt_BR", "next": target})
    assert response.status_code == 303
    assert response.headers["Location"] == "/"


def test_switcher_goes_back_to_a_same_site_referer_only(client):
    back = client.get("/maintenance/language?lang=pt_BR", headers={"Referer": "http://localhost/account?x=1"})
    assert back.headers["Location"] == "/account?x=1"
    foreign = client.get("/maintenance/language?lang=pt_BR", headers={"Referer": "https://evil.example/account"})
    assert foreign.headers["Location"] == "/"


def test_switcher_refuses_unknown_languages(client):
    response = client.get("/maintenance/language?lang=fr&next=/")
    assert response.status_code == 400
    assert "pausa_lang" not in response.headers.get("Set-Cookie", "")


def test_switcher_works_during_maintenance(client, activate):
    activate(message="x", mode="full")
    response = client.get("/maintenance/language?lang=pt_BR&next=/account")
    assert response.status_code == 303 and response.headers["Location"] == "/account"
    assert "Voltamos já" in client.get("/account").get_data(as_text=True)


# --- The fast path keeps languages apart -------------------------------------------------------


def test_fast_path_serves_each_browser_its_language(tmp_path):
    from flask import request_started
    from pausa_gate.state import Actor
    from pausa_gate.windows import utcnow

    from app.maintenance.validation import validate_window
    from app.services import maintenance as maintenance_service

    app = make_app(tmp_path, MAINTENANCE_STATE_TTL=60.0)
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "Rápido", "eta": "2h"}, utcnow()), Actor("t"))
    flask_requests: list[int] = []
    request_started.connect(lambda sender, **extra: flask_requests.append(1), app, weak=False)
    client = app.test_client()
    switched = app.test_client()
    switched.set_cookie("pausa_lang", "en")  # the switcher's cookie beats a Portuguese browser
    for _ in range(6):
        pt = client.get("/account", headers=PT).get_data(as_text=True)
        en = client.get("/account", headers=EN).get_data(as_text=True)
        cookie_en = switched.get("/account", headers=PT).get_data(as_text=True)
        poll_pt = client.get("/maintenance/status?active=1", headers={**PT, **HX}).get_data(as_text=True)
        poll_en = client.get("/maintenance/status?active=1", headers={**EN, **HX}).get_data(as_text=True)
        assert "Voltamos já" in pt and '<html lang="pt-BR"' in pt
        assert "We’ll be right back" in en and '<html lang="en"' in en
        assert "We’ll be right back" in cookie_en
        assert "Esta página vai recarregar sozinha." in poll_pt
        assert "This page will reload by itself." in poll_en
    # 30 answers; Flask rendered each (language, template) once a second, the rest came from the cache.
    assert len(flask_requests) <= 12, len(flask_requests)


# --- The operator's language ---------------------------------------------------------------------


def test_an_unknown_operator_language_stops_startup(tmp_path):
    with pytest.raises(RuntimeError, match="BABEL_DEFAULT_LOCALE must be one of: en, pt_BR"):
        make_app(tmp_path, BABEL_DEFAULT_LOCALE="fr")


# --- Helpers -----------------------------------------------------------------------------------


def test_countdown_words_follow_the_locale(app):
    from flask_babel import force_locale

    from app.i18n import format_countdown, utc_datetime

    with app.test_request_context():
        assert format_countdown(3725) == "1 h 02 min"
        assert format_countdown(125) == "2 min 05 s"
        assert format_countdown(9) == "9 s"
        assert format_countdown(0) == "any moment now"
        with force_locale("pt_BR"):
            assert format_countdown(0) == "a qualquer momento"
            from datetime import UTC, datetime

            assert utc_datetime(datetime(2026, 1, 31, 2, 5, tzinfo=UTC)) == "31/01/2026 02:05 UTC"
