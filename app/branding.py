"""The site's branding in the app: checked settings, the accent stylesheet, brand files, template overrides.

Everything here comes from configuration, so the shared maintenance page
(app/gate/pages.py) renders it once like the rest of the page. See docs/branding.md.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, current_app, request, send_from_directory
from jinja2 import ChoiceLoader, FileSystemLoader, PrefixLoader, TemplateSyntaxError

from .extensions import BRANDING_KEY
from .maintenance.branding import Branding, branding_from

# An override of a built-in template extends the original under this prefix: "pausa/public/maintenance.html".
BUILT_IN_PREFIX = "pausa"
# The stylesheet's address carries a digest of its content, so browsers and proxies may keep it long.
STYLESHEET_MAX_AGE = 7 * 24 * 3600
BRAND_FILES_MAX_AGE = 3600


def check_branding(app: Flask) -> Branding:
    """Refuse, at startup, branding settings that would break the pages; return the checked branding."""
    try:
        branding = branding_from(app.config)
    except ValueError as error:
        raise RuntimeError(str(error)) from None
    directory = app.config.get("TEMPLATES_DIR")
    if directory and not Path(directory).is_dir():
        raise RuntimeError(f"PAUSA_TEMPLATES_DIR={directory!r} is not a directory.")
    if directory:
        check_templates(app, Path(directory))
    return branding


def check_templates(app: Flask, directory: Path) -> None:
    """Compile the operator's templates, so a typo stops the app now, not when the first window starts."""
    for path in sorted(directory.rglob("*.html")):
        if "static" in path.relative_to(directory).parts:
            continue
        name = path.relative_to(directory).as_posix()
        try:
            app.jinja_env.parse(path.read_text(encoding="utf-8"), name=name, filename=str(path))
        except TemplateSyntaxError as error:
            raise RuntimeError(
                f"PAUSA_TEMPLATES_DIR: {name}, line {error.lineno}: {error.message}"
            ) from None


def init_branding(app: Flask) -> None:
    """Install the branding: its template helpers, the operator's templates first, and its two routes."""
    branding = check_branding(app)
    app.extensions[BRANDING_KEY] = branding
    app.add_template_global(branding, "branding")
    directory = app.config.get("TEMPLATES_DIR")
    if directory:
        built_in = app.jinja_env.loader
        assert built_in is not None
        app.jinja_env.loader = ChoiceLoader(
            [FileSystemLoader(directory), built_in, PrefixLoader({BUILT_IN_PREFIX: built_in})]
        )
    prefix = app.config["GATE_PUBLIC_PREFIX"]
    # Under the visitors' prefix: a proxy routes it to Pausa and no window ever blocks it.
    app.add_url_rule(prefix + "/brand.css", "brand_stylesheet", brand_stylesheet, methods=["GET"])
    app.add_url_rule(prefix + "/brand/<path:filename>", "brand_file", brand_file, methods=["GET"])


def brand_stylesheet() -> Response:
    """Serve the accent's custom properties (the CSP forbids inline styles)."""
    branding: Branding = current_app.extensions[BRANDING_KEY]
    if branding.stylesheet is None:
        abort(404)
    response = Response(branding.stylesheet, mimetype="text/css")
    response.headers["Cache-Control"] = f"public, max-age={STYLESHEET_MAX_AGE}"
    response.set_etag(branding.stylesheet_version or "")
    return response.make_conditional(request)


def brand_file(filename: str) -> Response:
    """Serve a file of the operator's (the logo) from PAUSA_TEMPLATES_DIR/static."""
    directory = current_app.config.get("TEMPLATES_DIR")
    if not directory:
        abort(404)
    return send_from_directory(Path(directory) / "static", filename, max_age=BRAND_FILES_MAX_AGE)
