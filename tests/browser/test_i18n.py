"""Portuguese in a real browser: the maintenance page, its countdown and local time, and the banner's close button."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# Brazilian Portuguese writes the units like English ("29 min 58 s"); the words come from <html>.
JS_COUNTDOWN = re.compile(r"^\d+ min \d\d s$")
SAO_PAULO = "America/Sao_Paulo"


def test_portuguese_maintenance_page_with_running_countdown_in_local_time(browser, live_server, console_errors):
    context = browser.new_context(locale="pt-BR", timezone_id=SAO_PAULO)  # sends Accept-Language: pt-BR
    try:
        page = console_errors.watch(context.new_page())
        live_server.activate(message="Atualizando o sistema", eta="30m", reason="database")
        url = f"{live_server.url}/account"
        console_errors.expected_document_status[url] = 503
        response = page.goto(url)
        assert response.status == 503
        expect(page.locator("html")).to_have_attribute("lang", "pt-BR")
        expect(page.get_by_role("heading", level=1)).to_have_text("Voltamos já")
        expect(page.locator("#maintenance-status")).to_contain_text("Trabalho no banco de dados")
        expect(page.locator("#maintenance-status .state")).to_contain_text("De volta em cerca de")

        countdown = page.locator("#maintenance-status [data-countdown]")
        expect(countdown).to_have_text(JS_COUNTDOWN)
        before = countdown.text_content()
        page.wait_for_timeout(2200)
        assert countdown.text_content() != before, "the countdown does not run"

        # The ETA is shown in the viewer's time zone, written the Brazilian way ("23 de nov., 14:05").
        eta = page.locator("#maintenance-status time[data-local]")
        local = datetime.fromisoformat(eta.get_attribute("datetime")).astimezone(ZoneInfo(SAO_PAULO))
        expect(eta).to_contain_text(local.strftime("%H:%M"))
        expect(eta).to_contain_text(re.compile(r"\d+ de [a-z]{3}"))
        assert "UTC" not in eta.text_content()

        # The switcher turns the same URL into English, and back.
        page.get_by_role("link", name="English").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("We’ll be right back")
        assert page.url == url
        expect(page.locator("html")).to_have_attribute("lang", "en")
        assert console_errors.messages == []
    finally:
        context.close()


def test_banner_close_button_hides_it_for_the_session(browser, live_server, console_errors):
    context = browser.new_context(locale="pt-BR")
    try:
        page = console_errors.watch(context.new_page())
        live_server.activate(message="Somente leitura", eta="30m", mode="read_only")
        page.goto(f"{live_server.url}/")
        banner = page.locator("#maintenance-banner .banner")
        expect(banner).to_be_visible()
        expect(banner).to_contain_text("Manutenção em andamento.")
        expect(banner.locator("[data-countdown]")).to_have_text(re.compile(r"^\d+ min \d\d s$"))

        page.get_by_role("button", name="Ocultar este aviso nesta sessão").click()
        expect(banner).to_be_hidden()
        page.wait_for_timeout(2500)  # the banner polls every second: the new copies stay hidden
        expect(page.locator("#maintenance-banner .banner")).to_be_hidden()
        page.reload()
        page.wait_for_timeout(500)
        expect(page.locator("#maintenance-banner .banner")).to_have_count(1)
        expect(page.locator("#maintenance-banner .banner")).to_be_hidden()

        # Another browser session still gets the notice.
        other = context.browser.new_context(locale="pt-BR").new_page()
        try:
            other.goto(f"{live_server.url}/")
            expect(other.locator("#maintenance-banner .banner")).to_be_visible()
        finally:
            other.context.close()
        assert console_errors.messages == []
    finally:
        context.close()
