"""`python -m app.doctor`: the doctor's report even when the settings stop the app from starting.

`flask doctor` needs the app; with a setting production refuses, `flask` stops before any
command runs. This entry checks the settings first, then names the refusal (docs/doctor.md).
"""

from __future__ import annotations

import sys

import click

from . import create_app
from .cli import print_doctor_report
from .config import Config
from .services import doctor as doctor_service


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def main(as_json: bool) -> None:
    """Run every check; when the app refuses to start, check the settings and say why."""
    try:
        app = create_app()
    except Exception as error:  # the refusal is the finding: report it as a line, not a traceback
        settings = {name: getattr(Config, name) for name in dir(Config) if name.isupper()}
        results = doctor_service.check_settings(settings)
        refusal = f"the app refuses to start: {error}"
        results.append(doctor_service.Result("startup", doctor_service.FAIL, refusal))
        results += [doctor_service.Result(name, doctor_service.SKIP, "skipped: the app does not start")
                    for name in ("database", "redis", *doctor_service.DATABASE_CHECKS)]
        print_doctor_report(results, as_json)
        return
    with app.app_context():
        print_doctor_report(doctor_service.run_checks(), as_json)


if __name__ == "__main__":
    main(sys.argv[1:])
