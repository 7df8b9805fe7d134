"""The audit history: filtered, paged newest first, exported as CSV, and its chain verified."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, Response, request, stream_with_context
from flask_babel import gettext
from pausa_gate.windows import parse_moment, utcnow

from ..htmx import is_fragment_request, render
from ..inputs import database_id
from ..maintenance.audit_view import csv_lines, diff
from ..maintenance.validation import has_unstorable_text
from ..services import audit as audit_service
from .auth import admin_required

bp = Blueprint("audit", __name__, url_prefix="/admin/audit")

PAGE_SIZE = 50
FILTER_KEYS = ("action", "actor", "since", "until")


bp.add_app_template_global(diff, "audit_diff")


@bp.before_request
@admin_required
def guard() -> None:
    """Only admins read the audit trail."""


def _date(name: str, errors: dict[str, str]) -> datetime | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    try:
        moment = parse_moment(raw, utcnow())
    except ValueError:
        errors[name] = gettext("Use an ISO-8601 date, like 2026-01-31 or 2026-01-31T02:00Z.")
        return None
    return moment.astimezone(UTC)


def _filters() -> tuple[audit_service.AuditFilters, dict[str, str], dict[str, str]]:
    """Read the filters from the query string: the parsed filters, the raw values, the errors."""
    errors: dict[str, str] = {}
    since, until = _date("since", errors), _date("until", errors)
    for key in ("action", "actor"):
        if has_unstorable_text(request.args.get(key, "")):
            errors[key] = gettext("Remove the invalid characters (such as a NUL byte).")
    filters = audit_service.AuditFilters(
        action=request.args.get("action", "").strip(),
        actor=request.args.get("actor", "").strip(),
        since=since,
        until=until,
    )
    raw = {key: request.args.get(key, "").strip() for key in FILTER_KEYS}
    return filters, {key: value for key, value in raw.items() if value}, errors


@bp.get("")
def history() -> Response:
    """List entries newest first, with keyset paging on the id (`?before=<id>`).

    A bad filter is a 400, for htmx too: the form comes back with the message next to the
    field, and htmx swaps only the form (app.js swaps a 400 for forms marked
    data-swap-bad-request), so the results and the URL stay as they were.
    """
    filters, raw, errors = _filters()
    before = request.args.get("before", type=database_id)
    rows, next_before = ([], None) if errors else audit_service.page(filters, before, PAGE_SIZE)
    response = render(
        "audit/list.html",
        "audit/partials/filters.html" if errors else "audit/partials/history.html",
        status=400 if errors else 200,
        entries=rows,
        errors=errors,
        filters={key: raw.get(key, "") for key in FILTER_KEYS},
        active_filters=raw,
        first_page=not before,
        next_before=next_before,
    )
    if errors and is_fragment_request():
        response.headers["HX-Retarget"] = "#audit-filters"
        response.headers["HX-Reswap"] = "outerHTML"
        response.headers["HX-Push-Url"] = "false"
    return response


@bp.get("/export.csv")
def export_csv() -> Response:
    """Stream the filtered entries, oldest first, as formula-safe CSV."""
    filters, _raw, errors = _filters()
    if errors:
        return Response("\n".join(errors.values()) + "\n", status=400, mimetype="text/plain")
    body = stream_with_context(csv_lines(audit_service.iter_filtered(filters)))
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = 'attachment; filename="audit.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/verify")
def verify() -> Response:
    """Walk the hash chain (result reused briefly unless `?force=1`) and say where it breaks."""
    report = audit_service.cached_verify(force=request.args.get("force") == "1")
    return render("audit/verify.html", "audit/partials/verify.html", report=report)
