"""The pages that leave Pausa as data: the maintenance pages in the state feed, which host apps'
gates serve (pausa_gate.pages), and the HTML emails, rendered as sent; collected for test_markup.py.

No test here: test_markup.py sends these documents to the Nu HTML Checker with the other tours'.
"""

from __future__ import annotations

from datetime import timedelta

from pausa_gate.feed import Feed
from pausa_gate.pages import FeedPages
from pausa_gate.windows import utcnow, window_in_effect
from sqlalchemy import select

from app import mail
from app.extensions import db
from app.models import MaintenanceWindow
from app.services import tokens as token_service
from tests.support.apps import schedule_in

from .test_markup_visitors import CLI, Tour, activate, cancel, end

FEED_LANGUAGES = ("en", "pt_BR")


def feed_pages(tour: Tour, app, raw_token: str, state: str, *, draining: bool = False) -> None:
    """Every page the feed carries for the window of `state`, filled as a host app's gate fills them."""
    response = app.test_client().get("/gate/state", headers={"Authorization": f"Bearer {raw_token}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    feed = Feed.from_json(response.json)
    now = utcnow()
    window = feed.state.windows[0] if draining else window_in_effect(feed.state, now)
    assert window is not None, state
    moments = {"": now}
    if window.eta is not None and not draining:
        moments[", overdue"] = window.eta + timedelta(minutes=5)
    for language in FEED_LANGUAGES:
        for late, moment in moments.items():
            for kind in ("read", "write"):
                page = feed.pages.page(window, moment, language, blocked_write=kind == "write", draining=draining)
                tour.documents[f"feed, {state}{late} {language}: {kind}"] = page
        generic = feed.pages.page(None, now, language, blocked_write=False)
        tour.documents[f"feed, unavailable {language}"] = generic
        tour.documents[f"feed, unavailable {language}: write"] = feed.pages.page(None, now, language, blocked_write=True)
    tour.documents["host gate, no feed yet"] = FeedPages({}).page(None, now, "en")


def gate_tour(folder) -> Tour:
    """The feed's pages for a window on (with an ETA, overdue, without one) and one draining."""
    tour = Tour()
    app = tour.app(folder)
    with app.app_context():
        _, raw = token_service.create_token("host-gate", ["gate"], CLI)
    activate(app, message="Deploying v2", reason="deployment", eta="30m")
    feed_pages(tour, app, raw, "on, with an ETA")
    end(app)
    activate(app, message="Incident")
    feed_pages(tour, app, raw, "on, without an ETA")
    end(app)
    draining = schedule_in(app, timedelta(minutes=10), eta_in=timedelta(minutes=40), drain_minutes="15")
    feed_pages(tour, app, raw, "draining", draining=True)
    cancel(app, draining)
    emails(tour, app)
    return tour


def emails(tour: Tour, app) -> None:
    """The HTML emails in both languages, personalised for one recipient as the backends send them."""
    recipient = mail.Recipient("ana@example.com", "https://status.example.com/unsubscribe/x",
                               confirm_url="https://status.example.com/confirm/x", one_click=True)
    with app.app_context():
        window = db.session.scalars(select(MaintenanceWindow).where(MaintenanceWindow.ended_at.is_not(None))).first()
        assert window is not None
        for language in FEED_LANGUAGES:
            messages = {"back online": mail.back_online_message(window, language, [recipient]),
                        "confirm": mail.confirm_message(language, [recipient])}
            for kind in mail.NOTICE_KINDS:
                messages[f"notice {kind}"] = mail.notice_message(window, kind, language, [recipient])
            for name, message in messages.items():
                _, html = message.personalised(recipient)
                tour.documents[f"email, {name} {language}"] = html
