"""The dashboard's live preview follows the message as the admin types it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_preview_follows_the_message_while_typing(browser, live_server, admin_storage, console_errors):
    context = browser.new_context(storage_state=admin_storage)
    try:
        page = console_errors.watch(context.new_page())
        page.goto(f"{live_server.url}/admin")
        preview = page.locator("#maintenance-preview")
        expect(preview).to_contain_text("We are performing scheduled maintenance")
        page.get_by_label("Message to users").fill("Swapping the <database> disks")
        page.get_by_role("region", name="Activate maintenance now").get_by_label("Reason").select_option("database")
        expect(preview).to_contain_text("Swapping the <database> disks")
        expect(preview).to_contain_text("Database work")
        assert not live_server.is_active(), "typing must not activate anything"
        assert console_errors.messages == []
    finally:
        context.close()
