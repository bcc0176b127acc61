# `make run` serves the service; `make test` lints and runs the whole suite. Both set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test lint format setup clean bench soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime tests/requirements.txt
	$(BIN)/python -m pip install --quiet -r tests/requirements.txt
	touch $@

setup: $(VENV)/.runtime

# Migrations first: DATABASE_URL defaults to an SQLite file in instance/, created on demand.
run: setup
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/gunicorn --config python:app.serving.gunicorn_conf

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The whole suite, then once more what runs under gunicorn with every serving patch off
# (app/serving/patches.py): the service must behave the same without them.
test: lint
	$(BIN)/python -m pytest -c tests/pytest.ini tests
	SIGNUP_SERVING_PATCHES=none $(BIN)/python -m pytest -c tests/pytest.ini -m served tests

# The service against a naive Flask+boto3 proxy on one machine: see bench/run.py and the README.
bench: $(VENV)/.dev
	$(BIN)/python bench/run.py

# Mixed traffic through gunicorn while Cognito, Redis and PostgreSQL fail in turn, then
# reconciliation; fails unless the records match Cognito. SOAK_SECONDS (default 120) sets how long.
soak: $(VENV)/.dev
	$(BIN)/python bench/soak.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
