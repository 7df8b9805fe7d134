"""The Heroku path works first time: app.json and the Procfile agree with the code, the first admin
gets a one-time set-password link instead of a password in a log, and rediss:// with a self-signed
certificate connects (docs/deploy.md, "Heroku").
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import re
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from flask.cli import FlaskGroup
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from pausa_gate.state import Actor
from pausa_gate.windows import utcnow
from sqlalchemy import select

from app import create_app
from app.extensions import NOTIFIER_KEY, db
from app.maintenance.validation import validate_window
from app.models import AuditEntry, MaintenanceState, User
from app.services import maintenance as maintenance_service
from app.services import password_links
from tests.core.test_configuration_docs import settings_read_by
from tests.support.apps import PASSWORD, USERS, AuthActions, csrf_from, make_app

ROOT = Path(__file__).resolve().parents[2]
APP_JSON = json.loads((ROOT / "app.json").read_text())
PROCFILE = dict(
    line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
)
PROCFILE = {name.strip(): command.strip() for name, command in PROCFILE.items()}
# Heroku refuses more than one dyno of these sizes per process type.
SINGLE_DYNO_SIZES = {"eco", "basic"}
DYNO_SIZES = SINGLE_DYNO_SIZES | {
    "standard-1x", "standard-2x", "performance-m", "performance-l", "performance-l-ram",
    "performance-xl", "performance-2xl", "private-s", "private-m", "private-l", "shield-s", "shield-m",
    "shield-l",
}
# The Python buildpack's supported versions (docs/deploy.md).
SUPPORTED_PYTHONS = {"3.10", "3.11", "3.12", "3.13"}
NGINX_BUILDPACK = "heroku-community/nginx"
# Read by something else than app/config.py: the `flask` command itself, and gunicorn.conf.py.
READ_ELSEWHERE = {"FLASK_APP"}
NEW_PASSWORD = "a brand new long password"


def heroku_environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment a dyno gets from app.json: its values, a generated secret, the add-ons' URLs."""
    env = {key: value for key, value in os.environ.items() if key not in {
        name for name in APP_JSON["env"]} | {"DATABASE_URL", "REDIS_URL", "PROMETHEUS_MULTIPROC_DIR"}}
    for name, spec in APP_JSON["env"].items():
        if "value" in spec:
            env[name] = spec["value"]
        elif spec.get("generator") == "secret":
            env[name] = "generated-" + "s" * 54
    env["ADMIN_EMAIL"] = "ops@example.com"  # the one value app.json asks the person deploying for
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'heroku.db'}"
    env.update(extra)
    return env


def run_process(command: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """Run a Procfile or app.json command as a dyno would (its programs from this Python's venv)."""
    argv = shlex.split(command)
    if argv[0] == "flask":
        argv = [sys.executable, "-m", "flask", *argv[1:]]
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def flask_commands() -> list[tuple[str, str]]:
    """Every `flask …` command Heroku runs: Procfile processes and app.json scripts."""
    commands = [(name, command) for name, command in PROCFILE.items() if command.startswith("flask ")]
    commands += [(f"scripts.{name}", command) for name, command in APP_JSON.get("scripts", {}).items()]
    return commands


# -- the Procfile -----------------------------------------------------------------------------------


def test_the_procfile_has_the_release_web_and_worker_processes():
    assert set(PROCFILE) == {"release", "web", "worker"}
    assert shlex.split(PROCFILE["release"]) == ["flask", "db", "upgrade"]


@pytest.mark.parametrize(("where", "command"), flask_commands())
def test_every_flask_command_heroku_runs_exists_with_its_options(tmp_path, where, command):
    assert command.startswith("flask "), f"{where} is not a flask command: {command}"
    app = make_app(tmp_path)
    group = FlaskGroup(create_app=lambda: app)
    result = app.test_cli_runner().invoke(group, [*shlex.split(command)[1:], "--help"])
    assert result.exit_code == 0, f"{where}: `{command}` does not resolve: {result.output}"
    assert "Usage:" in result.output


def test_the_web_process_is_gunicorn_on_the_nginx_buildpack_socket_and_its_config_loads(tmp_path):
    argv = shlex.split(PROCFILE["web"])
    assert argv[0] == "bin/start-nginx"  # installed into bin/ by the nginx buildpack at build time
    assert NGINX_BUILDPACK in [pack["url"] for pack in APP_JSON["buildpacks"]]
    assert not (ROOT / "bin" / "start-nginx").exists(), "the buildpack's copy would replace ours"
    gunicorn = argv[1:]
    assert gunicorn[0] == "gunicorn" and gunicorn[-1] == "wsgi:app"
    assert gunicorn[gunicorn.index("-c") + 1] == "gunicorn.conf.py"
    socket_path = gunicorn[gunicorn.index("--bind") + 1]
    template = (ROOT / "config" / "nginx.conf.erb").read_text()
    assert f"server {socket_path} " in template and 'listen <%= ENV["PORT"] %>;' in template
    # gunicorn parses the command line, reads its config file and imports wsgi:app with app.json's env.
    check = subprocess.run(
        [sys.executable, "-m", "gunicorn", *gunicorn[1:-1], "--check-config", gunicorn[-1]],
        cwd=ROOT, env=heroku_environment(tmp_path), capture_output=True, text=True, timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_gunicorn_tells_start_nginx_it_is_ready_once_bound_to_the_socket(tmp_path):
    """start-nginx waits for /tmp/app-initialized: gunicorn.conf.py's when_ready must touch it."""
    import runpy

    settings = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert settings["NGINX_BUILDPACK_READY"] == "/tmp/app-initialized"
    assert settings["NGINX_BUILDPACK_SOCKET"] == "unix:" + "/tmp/nginx.socket"
    ready = tmp_path / "app-initialized"
    settings["when_ready"].__globals__["NGINX_BUILDPACK_READY"] = str(ready)

    class Server:  # what gunicorn passes to the hook: its configuration's bind list
        class cfg:
            bind = shlex.split(PROCFILE["web"])[shlex.split(PROCFILE["web"]).index("--bind") + 1:][:1]

    settings["when_ready"](Server)
    assert ready.exists()


def test_a_failed_migration_fails_the_release(tmp_path):
    """A non-zero exit from the release command stops Heroku from starting the new release."""
    env = heroku_environment(tmp_path)
    database = tmp_path / "heroku.db"
    with sqlite3.connect(database) as connection:  # a table in the way of the first migration
        connection.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    result = run_process(PROCFILE["release"], env)
    assert result.returncode != 0
    assert "users" in result.stderr and "already exists" in result.stderr


def test_release_then_postdeploy_on_a_fresh_database_print_a_working_link_and_no_password(tmp_path):
    env = heroku_environment(tmp_path)
    release = run_process(PROCFILE["release"], env)
    assert release.returncode == 0, release.stderr
    postdeploy = run_process(APP_JSON["scripts"]["postdeploy"], env)
    assert postdeploy.returncode == 0, postdeploy.stderr
    output = postdeploy.stdout + postdeploy.stderr
    assert "ops@example.com" in output and "password:" not in output
    assert "Put this app's address in front" in output  # PUBLIC_URL is not set on a new Heroku app
    path = re.search(r"^\s+(/auth/set-password/\S+)$", postdeploy.stdout, re.MULTILINE).group(1)
    again = run_process(APP_JSON["scripts"]["postdeploy"], env)
    assert again.returncode == 0 and "already exists" in again.stdout and "/auth/" not in again.stdout
    # The link works on the app the dyno runs (same database, same SECRET_KEY).
    app = create_app({"SQLALCHEMY_DATABASE_URI": env["DATABASE_URL"], "SECRET_KEY": env["SECRET_KEY"]})
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200 and "ops@example.com" in page.get_data(as_text=True)
    assert choose_password(client, path).headers["Location"] == "/admin"
    assert client.get("/admin").status_code == 200


# -- app.json -----------------------------------------------------------------------------------------


def test_every_app_json_setting_is_one_pausa_reads():
    read = settings_read_by(ROOT / "app" / "config.py") | settings_read_by(ROOT / "gunicorn.conf.py")
    unknown = sorted(set(APP_JSON["env"]) - read - READ_ELSEWHERE)
    assert unknown == [], f"app.json sets what nothing reads: {unknown}"


def test_app_json_asks_for_the_admin_email_and_accepts_heroku_redis_certificates():
    admin = APP_JSON["env"]["ADMIN_EMAIL"]
    assert admin["required"] is True and "value" not in admin and admin["description"]
    assert APP_JSON["env"]["REDIS_SSL_CERT_REQS"]["value"] == "none"
    assert all(spec.get("description") for spec in APP_JSON["env"].values())


@pytest.mark.parametrize(("process", "formation"), sorted(APP_JSON["formation"].items()))
def test_the_formation_is_one_heroku_accepts(process, formation):
    assert process in PROCFILE and process != "release"
    assert formation["size"] in DYNO_SIZES
    if formation["size"] in SINGLE_DYNO_SIZES:
        assert formation["quantity"] == 1, f"Heroku refuses {formation['quantity']} {formation['size']} dynos"
    assert formation["quantity"] >= 1


def test_add_ons_name_their_plans_and_the_buildpacks_are_listed():
    plans = [addon["plan"] for addon in APP_JSON["addons"]]
    assert {plan.split(":")[0] for plan in plans} == {"heroku-postgresql", "heroku-redis"}
    assert all(re.fullmatch(r"[a-z-]+:[a-z0-9-]+", plan) for plan in plans), plans
    assert [pack["url"] for pack in APP_JSON["buildpacks"]] == ["heroku/python", NGINX_BUILDPACK]


def test_python_version_matches_the_running_python_and_the_buildpack_supports_it():
    pinned = (ROOT / ".python-version").read_text().strip()
    assert pinned == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert pinned in SUPPORTED_PYTHONS
    assert not (ROOT / "runtime.txt").exists(), "runtime.txt would pin another version"


def test_app_json_values_pass_the_production_checks(tmp_path):
    env = heroku_environment(tmp_path)
    assert env["PAUSA_ENV"] == "production"
    started = subprocess.run(
        [sys.executable, "-c", "from app import create_app; app = create_app(); print(app.config['ENVIRONMENT'])"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "production"


# -- the one-time set-password link --------------------------------------------------------------------


def choose_password(client, path: str, password: str = NEW_PASSWORD, confirmation: str | None = None):
    page = client.get(path)
    return client.post(path, data={
        "csrf_token": csrf_from(page.get_data(as_text=True)), "password": password,
        "password_confirmation": password if confirmation is None else confirmation,
    })


def link_from(output: str) -> str:
    return re.search(r"^\s+(\S*/auth/set-password/\S+)$", output, re.MULTILINE).group(1)


def link_for(app, role: str = "admin") -> str:
    result = app.test_cli_runner().invoke(args=["users", "set-password", USERS[role], "--link"])
    assert result.exit_code == 0, result.output
    return link_from(result.output)


def password_hash(app, role: str = "admin") -> str:
    with app.app_context():
        return db.session.scalar(select(User.password_hash).where(User.email == USERS[role]))


def audited(app, action: str) -> list[AuditEntry]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


@pytest.fixture
def fresh(tmp_path):
    """An app on a migrated-looking database with no user at all, as on a new Heroku app."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'fresh.db'}", "ADMIN_EMAIL": "ops@example.com"})
    with app.app_context():
        db.create_all()
        db.session.add(MaintenanceState(id=1, version=1))
        db.session.commit()
    return app


@pytest.mark.parametrize(("environment", "args", "prints_link"), [
    ("production", [], True),
    ("production", ["--show-password"], False),
    ("development", [], False),
    ("development", ["--link"], True),
])
def test_bootstrap_prints_a_link_in_production_and_a_password_elsewhere(fresh, environment, args, prints_link):
    fresh.config["ENVIRONMENT"] = environment
    result = fresh.test_cli_runner().invoke(args=["users", "bootstrap", *args])
    assert result.exit_code == 0, result.output
    assert "ops@example.com" in result.output  # ADMIN_EMAIL, with no --email
    assert ("/auth/set-password/" in result.output) is prints_link
    assert ("password:" in result.output) is not prints_link


def test_the_link_sets_the_password_once_signs_in_and_is_audited(app, client):
    path = link_for(app)
    before = password_hash(app)
    old_client = app.test_client()
    AuthActions(old_client).login()  # a session from before: setting the password ends it
    page = client.get(path)
    assert page.status_code == 200 and USERS["admin"] in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    done = choose_password(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/admin"
    assert client.get("/admin").status_code == 200  # signed in
    assert old_client.get("/admin").status_code == 302  # the other session ended
    assert password_hash(app) != before
    [entry] = audited(app, "user.password_set")
    assert entry.target == f"user:{USERS['admin']}" and NEW_PASSWORD not in json.dumps(entry.details)
    assert len(audited(app, "user.password_link_issued")) == 1
    # Used: a second visit and a second POST change nothing.
    after = password_hash(app)
    assert client.get(path).status_code == 410
    assert choose_password_without_form(client, path, "yet another long password").status_code == 410
    assert password_hash(app) == after
    fresh_client = app.test_client()
    assert AuthActions(fresh_client).login(password=NEW_PASSWORD).headers["Location"] == "/admin"


def choose_password_without_form(client, path: str, password: str):
    """POST to a link whose page no longer shows a form, with a CSRF token from another page."""
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    return client.post(path, data={"csrf_token": token, "password": password, "password_confirmation": password})


def test_a_newer_password_from_the_cli_makes_the_link_unusable(app, client):
    path = link_for(app)
    result = app.test_cli_runner().invoke(args=["users", "set-password", USERS["admin"], "--password", NEW_PASSWORD])
    assert result.exit_code == 0
    assert client.get(path).status_code == 410


def test_an_expired_link_is_refused_and_changes_nothing(app, client):
    path = link_for(app)
    token = path.rsplit("/", 1)[1]

    class IssuedADayAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 24 * 3600 - 60

    with app.app_context():
        payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=password_links.SALT).loads(token)
    old = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=password_links.SALT, signer=IssuedADayAgo)
    expired = f"/auth/set-password/{old.dumps(payload)}"
    before = password_hash(app)
    page = client.get(expired)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert choose_password_without_form(client, expired, NEW_PASSWORD).status_code == 410
    assert password_hash(app) == before and audited(app, "user.password_set") == []
    app.config["PASSWORD_LINK_HOURS"] = 48  # the setting decides how long a link works
    assert client.get(expired).status_code == 200


def forged_paths(app, path: str) -> list[str]:
    token = path.rsplit("/", 1)[1]
    with app.app_context():
        payload = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=password_links.SALT).loads(token)
    other_key = URLSafeTimedSerializer("another-secret-key", salt=password_links.SALT).dumps(payload)
    other_salt = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="pausa.other").dumps(payload)
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    return [f"/auth/set-password/{forged}" for forged in (other_key, other_salt, tampered, "not-a-token")]


def test_forged_links_are_refused_and_change_nothing(app, client):
    path = link_for(app)
    before = password_hash(app)
    for forged in forged_paths(app, path):
        page = client.get(forged)
        assert page.status_code == 400, forged
        assert "not valid" in page.get_data(as_text=True)
        assert choose_password_without_form(client, forged, NEW_PASSWORD).status_code == 400
    assert password_hash(app) == before and audited(app, "user.password_set") == []
    assert client.get(path).status_code == 200  # the real link still works


def test_the_form_needs_its_csrf_token(app, client):
    path = link_for(app)
    before = password_hash(app)
    client.get(path)
    refused = client.post(path, data={"password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD})
    assert refused.status_code == 400
    assert password_hash(app) == before
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(("password", "confirmation", "says"), [
    ("short", "short", "at least 10 characters"),
    (NEW_PASSWORD, "a different long password", "not the same"),
])
def test_password_rules_are_those_of_the_cli_and_nothing_changes(app, client, password, confirmation, says):
    path = link_for(app)
    before = password_hash(app)
    refused = choose_password(client, path, password, confirmation)
    assert refused.status_code == 400 and says in refused.get_data(as_text=True)
    assert password_hash(app) == before
    assert client.get(path).status_code == 200  # still usable


@pytest.mark.parametrize(("args", "exit_code", "says"), [
    (["ghost@example.com", "--link"], 1, "No user"),
    (["not-an-email", "--link"], 2, "@"),
    ([USERS["admin"], "--link", "--password", NEW_PASSWORD], 2, "do not go together"),
])
def test_set_password_link_refuses_bad_input_with_one_line(app, args, exit_code, says):
    before = password_hash(app)
    result = app.test_cli_runner().invoke(args=["users", "set-password", *args])
    assert result.exit_code == exit_code and says in result.output
    assert "Traceback" not in result.output and password_hash(app) == before


@pytest.mark.parametrize(("public_url", "starts"), [
    (None, "/auth/set-password/"),
    ("https://pausa.example.com/", "https://pausa.example.com/auth/set-password/"),
])
def test_the_link_is_on_public_url_or_a_path_to_prefix(tmp_path, public_url, starts):
    app = make_app(tmp_path, PUBLIC_URL=public_url)
    result = app.test_cli_runner().invoke(args=["users", "set-password", USERS["qa"], "--link"])
    assert link_from(result.output).startswith(starts)
    assert ("Put this app's address in front" in result.output) is (public_url is None)


def test_a_non_admin_lands_on_the_home_page_signed_in(app, client):
    done = choose_password(client, link_for(app, "qa"))
    assert done.status_code == 302 and done.headers["Location"] == "/"
    assert AuthActions(app.test_client()).login("qa", password=PASSWORD).status_code == 401


# -- rediss:// with a self-signed certificate ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and localhost (as Heroku Redis has), and its key."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "redis.crt", directory / "redis.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory):
    """A real redis-server that speaks only TLS, with a self-signed certificate; yields (url, cert)."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (scripts/install-system-packages.sh installs it)")
    directory = tmp_path_factory.mktemp("tls-redis")
    cert_file, key_file = self_signed_certificate(directory)
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert_file),
         "--tls-key-file", str(key_file), "--tls-auth-clients", "no", "--save", "", "--appendonly", "no",
         "--dir", str(directory)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"redis-server with TLS did not start: {process.stdout.read().decode()[-500:]}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("redis-server with TLS did not listen within 10 s")
    yield f"rediss://127.0.0.1:{port}/0", cert_file
    process.terminate()
    process.wait(timeout=10)


def tls_app(tmp_path, url: str, **settings):
    return make_app(tmp_path, REDIS_URL=url, RATELIMIT_STORAGE_URI=url, **settings)


def connects(app, client, what: str) -> bool:
    """Tell whether one of the app's Redis clients gets an answer from the server."""
    if what == "health check":
        return client.get("/health/ready").json["checks"]["redis"]["ok"]
    if what == "notifier":
        notifier = app.extensions[NOTIFIER_KEY]
        try:
            notifier.read()
        except Exception:  # the notifier raises what Redis raised; the test only asks whether it answered
            return False
        return True
    if what == "state listener":
        notifier = app.extensions[NOTIFIER_KEY]
        notifier.ensure_listening()
        try:
            return notifier.subscribed.wait(3)
        finally:
            notifier.stop()
    if what == "rate limits":
        from app.extensions import limiter

        return limiter.storage.check()
    raise AssertionError(what)


REDIS_CLIENTS = ["health check", "notifier", "state listener", "rate limits"]


@pytest.mark.parametrize("what", REDIS_CLIENTS)
def test_every_redis_client_connects_to_a_self_signed_rediss_with_cert_reqs_none(tmp_path, tls_redis, what):
    url, _ = tls_redis
    app = tls_app(tmp_path, url, REDIS_SSL_CERT_REQS="none")
    assert connects(app, app.test_client(), what)


@pytest.mark.parametrize("what", REDIS_CLIENTS)
def test_every_redis_client_refuses_the_self_signed_certificate_by_default(tmp_path, tls_redis, what):
    url, _ = tls_redis
    app = tls_app(tmp_path, url)
    assert app.config["REDIS_SSL_CERT_REQS"] == "required"
    assert not connects(app, app.test_client(), what)


def test_a_refused_certificate_is_named_in_the_health_check_and_visitors_see_no_error(tmp_path, tls_redis):
    url, _ = tls_redis
    app = tls_app(tmp_path, url)
    client = app.test_client()
    redis_check = client.get("/health/ready").json["checks"]["redis"]
    assert redis_check["ok"] is False and "certificate verify failed" in redis_check["error"].lower()
    home = client.get("/")
    assert home.status_code == 200 and "Traceback" not in home.get_data(as_text=True)


@pytest.mark.parametrize("what", REDIS_CLIENTS)
def test_redis_ssl_ca_certs_trusts_a_private_certificate_authority(tmp_path, tls_redis, what):
    url, cert_file = tls_redis
    app = tls_app(tmp_path, url, REDIS_SSL_CA_CERTS=str(cert_file))
    assert connects(app, app.test_client(), what)


@pytest.mark.parametrize(("settings", "named"), [
    ({"REDIS_SSL_CERT_REQS": "maybe"}, "REDIS_SSL_CERT_REQS"),
    ({"REDIS_SSL_CA_CERTS": "/nonexistent/ca.pem"}, "REDIS_SSL_CA_CERTS"),
])
def test_unusable_tls_settings_stop_the_app_at_start(tmp_path, settings, named):
    with pytest.raises(RuntimeError, match=named):
        make_app(tmp_path, **settings)


def test_two_uses_of_one_link_at_the_same_moment_set_the_password_once(app):
    from pausa_gate.state import Actor

    from tests.support.apps import race

    token = link_for(app).rsplit("/", 1)[1]
    passwords = iter(["first long password", "second long password"])
    results, errors = race(app, lambda: password_links.set_password(token, next(passwords), Actor("holder")))
    assert len(results) == 1, errors
    assert [type(error) for error in errors] == [password_links.LinkGone]
    assert len(audited(app, "user.password_set")) == 1


def test_the_link_works_during_maintenance_so_an_operator_locked_out_can_get_back_in(app, client):
    path = link_for(app)
    with app.app_context():
        maintenance_service.activate_window(validate_window({"message": "Upgrading"}, utcnow()), Actor("cli:ops"))
    assert client.get("/").status_code == 503
    assert client.get(path).status_code == 200
    done = choose_password(client, path)
    assert done.status_code == 302 and done.headers["Location"] == "/admin"
    assert client.get("/admin").status_code == 200
