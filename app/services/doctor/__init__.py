"""`flask doctor`: check the settings, the database, Redis, the worker and the queues, one result each.

Every check returns a Result and never raises: a failure is reported as FAIL with what to do,
and the checks that need a database that does not answer are skipped (docs/doctor.md).

Modules: `results` (Result and its statuses), `settings` (pure checks of a configuration
mapping) and `runtime` (checks of the running system, and `run_checks`). Every public name is
re-exported here, so `from app.services import doctor` keeps working.
"""

from .results import FAIL, OK, SKIP, WARN, Result, failed
from .runtime import (
    AUDIT_ENTRIES_CHECKED,
    CLOCK_FAIL_SECONDS,
    CLOCK_WARN_SECONDS,
    DATABASE_CHECKS,
    NOT_BACKLOGS,
    check_audit_chain,
    check_backlogs,
    check_clock,
    check_database,
    check_dead_letters,
    check_mail_circuit,
    check_migrations,
    check_redis,
    check_worker,
    run_checks,
)
from .settings import (
    KNOWN_SECRET_KEYS,
    MAX_PROXY_COUNT,
    SECRET_KEY_MIN_LENGTH,
    SETTINGS_CHECKS,
    check_gate_settings,
    check_mail_settings,
    check_proxy_settings,
    check_redis_settings,
    check_secret_key,
    check_settings,
    check_webhook_settings,
)

__all__ = [
    "AUDIT_ENTRIES_CHECKED",
    "CLOCK_FAIL_SECONDS",
    "CLOCK_WARN_SECONDS",
    "DATABASE_CHECKS",
    "FAIL",
    "KNOWN_SECRET_KEYS",
    "MAX_PROXY_COUNT",
    "NOT_BACKLOGS",
    "OK",
    "SECRET_KEY_MIN_LENGTH",
    "SETTINGS_CHECKS",
    "SKIP",
    "WARN",
    "Result",
    "check_audit_chain",
    "check_backlogs",
    "check_clock",
    "check_database",
    "check_dead_letters",
    "check_gate_settings",
    "check_mail_circuit",
    "check_mail_settings",
    "check_migrations",
    "check_proxy_settings",
    "check_redis",
    "check_redis_settings",
    "check_secret_key",
    "check_settings",
    "check_webhook_settings",
    "check_worker",
    "failed",
    "run_checks",
]
