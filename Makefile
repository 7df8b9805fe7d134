# make run  — start Pausa on SQLite at http://127.0.0.1:5000 (prints a first admin once)
# make test — ruff, then the whole test suite (browser tests included)
# make bench — the SPEC §11 performance budgets (needs wrk, PostgreSQL and Redis; see bench/__main__.py)
# make translations-extract — collect the UI's strings into translations/ (then translate the new ones)
# make translations-compile — compile the .po files into the .mo files the app reads (commit both)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi.py

.PHONY: run test lint venv migrate clean bench system-packages translations-extract translations-compile

$(BIN)/activate: requirements.txt requirements-dev.txt gate/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(BIN)/activate

venv: $(BIN)/activate

migrate: venv
	$(BIN)/flask db upgrade

run: migrate
	$(BIN)/flask users bootstrap
	$(BIN)/flask run --host 127.0.0.1 --port 5000

lint: venv
	$(BIN)/ruff check .

# Chromium, nginx, caddy and wrk: the one script CI calls too (does nothing once they are there).
system-packages:
	bash scripts/install-system-packages.sh

test: system-packages lint
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) instance/pausa.db* .pytest_cache .ruff_cache

bench: system-packages venv
	$(BIN)/python -m bench

translations-extract: venv
	$(BIN)/pybabel extract -F babel.cfg -k _l --project Pausa --add-location file --sort-by-file -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --width 100

translations-compile: venv
	$(BIN)/pybabel compile -d translations --statistics
