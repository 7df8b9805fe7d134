"""Security defaults: headers, cookies, secrets, sizes, config parsing."""

from __future__ import annotations

import pytest

from app import create_app
from app.config import Config, database_url


def test_security_headers_on_every_response(client, activate):
    for response in (client.get("/"), client.get("/auth/login"), client.get("/nope")):
        csp = response.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    activate()
    assert "Content-Security-Policy" in client.get("/").headers


def test_no_inline_script_in_pages(client, auth, activate):
    auth.login("admin")
    pages = [client.get("/").get_data(as_text=True), client.get("/admin").get_data(as_text=True)]
    activate()
    pages.append(client.get("/maintenance").get_data(as_text=True))
    for html in pages:
        for chunk in html.split("<script")[1:]:
            assert chunk.lstrip().startswith("src="), "inline script found"
        assert " style=" not in html
        assert "cdn" not in html.lower()


def test_production_refuses_to_start_without_secret(monkeypatch):
    monkeypatch.setattr(Config, "ENVIRONMENT", "production")
    monkeypatch.setattr(Config, "SECRET_KEY", None)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


def test_production_cookies(monkeypatch, tmp_path):
    monkeypatch.setattr(Config, "ENVIRONMENT", "production")
    monkeypatch.setattr(Config, "SECRET_KEY", "s" * 32)
    monkeypatch.setattr(Config, "SESSION_COOKIE_SECURE", True)
    monkeypatch.setattr(Config, "MAIL_BACKEND", "disabled")  # production needs an explicit mail choice
    monkeypatch.setattr(Config, "SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'p.db'}")
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    response = app.test_client().get("/auth/login")
    cookie = response.headers.get("Set-Cookie", "")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Strict-Transport-Security" in response.headers


def test_development_keeps_a_generated_secret(monkeypatch, tmp_path):
    monkeypatch.setattr(Config, "SECRET_KEY", None)
    monkeypatch.setattr(Config, "ENVIRONMENT", "development")
    monkeypatch.setattr(Config, "SQLALCHEMY_DATABASE_URI", f"sqlite:///{tmp_path / 'd.db'}")
    instance = str(tmp_path / "instance")
    first = create_app(instance_path=instance).config["SECRET_KEY"]
    second = create_app(instance_path=instance).config["SECRET_KEY"]
    assert first == second and len(first) >= 32
    assert (tmp_path / "instance" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_forms(raw, expected):
    assert database_url(raw) == expected


def test_request_body_limit(client):
    response = client.post("/api/v1/items", data="x" * (1024 * 1024 + 1), content_type="application/json")
    assert response.status_code == 413


def test_errors_never_show_a_stack_trace(app, client):
    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = client.get("/boom")
    assert response.status_code == 500
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    api = client.get("/boom", headers={"Accept": "application/json"})
    assert api.json == {"error": "internal", "message": "Something went wrong on our side. It has been logged."}


@pytest.mark.parametrize("entry", ["/", "//", "/./"])
def test_allowlist_cannot_allow_everything(entry):
    with pytest.raises(RuntimeError, match="MAINTENANCE_ALLOWLIST"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "MAINTENANCE_ALLOWLIST": ("/api/v1/ping", entry)})
