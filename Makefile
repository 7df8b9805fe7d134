# make run  — start Pausa on SQLite at http://127.0.0.1:5000, web and worker (prints a first admin once)
# make test — ruff, then the whole test suite, every layer below (what CI runs, on SQLite then PostgreSQL)
#   Each layer also runs alone; a missing server or program fails its tests, never skips them:
#   make test-core    — tests/core: the pure cores (pausa_gate, app/maintenance), no app; seconds
#   make test-app     — tests/app: the Flask app through its test client, on SQLite or TEST_DATABASE_URL
#                       (three tests also need Redis: TEST_REDIS_URL)
#   make test-servers — tests/servers: real processes (gunicorn, nginx, Caddy, the pausa CLI, host apps)
#                       and PostgreSQL/Redis races and outages (TEST_POSTGRES_URL, TEST_REDIS_URL)
#   make test-browser — tests/browser: the pages in a headless Chromium
# make bench — the performance budgets of docs/performance.md (needs wrk, PostgreSQL and Redis; see bench/__main__.py)
# make translations-extract — collect the UI's strings into translations/ (then translate the new ones)
# make translations-compile — compile the .po files into the .mo files the app reads (commit both)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test test-core test-app test-servers test-browser lint venv migrate clean bench system-packages translations-extract translations-compile

$(BIN)/activate: requirements.txt requirements-dev.txt gate/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

venv: $(BIN)/activate

migrate: venv
	$(BIN)/flask db upgrade

# The web server and the worker (Procfile.dev); the first admin's password comes last, boxed.
run: migrate
	$(BIN)/python scripts/dev.py

lint: venv
	$(BIN)/ruff check .

# Chromium, nginx, caddy and wrk: the one script CI calls too (does nothing once they are there).
system-packages:
	bash scripts/install-system-packages.sh

test: system-packages lint
	$(BIN)/python -m pytest

test-core: venv
	$(BIN)/python -m pytest tests/core

# promtool (tests/app/test_observability.py) comes with the system packages.
test-app: system-packages venv
	$(BIN)/python -m pytest tests/app

test-servers: system-packages venv
	$(BIN)/python -m pytest tests/servers

test-browser: system-packages venv
	$(BIN)/python -m pytest tests/browser

clean:
	rm -rf $(VENV) instance/pausa.db* .pytest_cache .ruff_cache

bench: system-packages venv
	$(BIN)/python -m bench

translations-extract: venv
	$(BIN)/pybabel extract -F babel.cfg -k _l --project Pausa --add-location file --sort-by-file -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --width 100

translations-compile: venv
	$(BIN)/pybabel compile -d translations --statistics
