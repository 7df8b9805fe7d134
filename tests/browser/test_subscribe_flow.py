"""A visitor waiting on the maintenance page leaves an email and gets exactly one message at the end."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app import mail
from app.extensions import db
from app.models import Delivery, Subscriber
from app.services import notifications

from .test_maintenance_flow import HOME_H1, MAINTENANCE_H1

pytestmark = pytest.mark.browser


def test_subscribe_on_the_maintenance_page_then_one_email(browser, live_server, console_errors):
    live_server.activate(message="Deploying v2")
    context = browser.new_context()
    try:
        page = console_errors.watch(context.new_page())
        console_errors.expected_document_status[f"{live_server.url}/?from=mail"] = 503
        page.goto(f"{live_server.url}/?from=mail")
        expect(page.get_by_role("heading", level=1)).to_have_text(MAINTENANCE_H1)
        page.get_by_label("Your email address").fill("Visitor@Example.com")
        page.get_by_role("button", name="Notify me").click()
        expect(page.locator("#subscribe")).to_contain_text("we will send one email to visitor@example.com")
        # The status poll keeps running beside the confirmation, and never wipes it.
        page.wait_for_timeout(2_500)
        expect(page.locator("#subscribe")).to_contain_text("visitor@example.com")

        live_server.end()
        expect(page.get_by_role("heading", level=1)).to_have_text(HOME_H1, timeout=10_000)
        assert page.url == f"{live_server.url}/?from=mail"
        app = live_server.app
        with app.app_context():
            # Skip the NOTIFY_DELAY_SECONDS wait, then run the worker's sending pass twice.
            db.session.query(Delivery).update({"not_before": Delivery.created_at})
            db.session.commit()
            notifications.send_due_deliveries()
            notifications.send_due_deliveries()
            recipients = [email for call in mail.outbox() for email in call["recipients"]]
            assert db.session.query(Subscriber).filter_by(email="visitor@example.com").count() == 1
        assert recipients.count("visitor@example.com") == 1
        assert console_errors.messages == []
    finally:
        context.close()
