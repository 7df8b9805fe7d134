"""A Django host app under Pausa's embedded gate: settings, views and the WSGI entry point."""
