"""The `flask` commands operators and deploy scripts rely on, one module per command group."""

from .audit import audit_cli
from .backup import backup_cli
from .common import SafeGroup, boxed, cli_actor
from .doctor import doctor_command, print_doctor_report
from .maintenance import maintenance_cli
from .recurrences import recurrences_cli
from .retention import retention_cli
from .tokens import tokens_cli
from .users import users_cli
from .webhooks import webhooks_cli
from .worker import worker_command

# What the app factory adds to `flask` (app/__init__.py: register_commands).
COMMANDS = (
    maintenance_cli, users_cli, tokens_cli, audit_cli, worker_command, webhooks_cli, recurrences_cli,
    doctor_command, retention_cli, backup_cli,
)

__all__ = ["COMMANDS", "SafeGroup", "boxed", "cli_actor", "print_doctor_report"]
