"""The sample protected app: the demo shop that Pausa guards when it runs on its own.

Pausa's own pages (admin, API, maintenance page, status page) live in app/blueprints/. This
package is only what a visitor reaches at `/`, `/account` and `/api/v1/…` in a local trial, so
that turning maintenance on has something to block. A real deployment protects its own app
instead, through the edge gate (docs/edge.md) or the embedded gate (docs/embedded.md); the
in-app gate guards whatever blueprints share Pausa's Flask app, this one included.

Its table, demo_items, joins `db.metadata` here: create_app imports this package (for the blueprint),
so create_all and Alembic (migrations/env.py runs create_app) see it beside app.models' tables.
"""

from .models import DemoItem

__all__ = ["DemoItem"]
