# `make run` serves the service; `make test` lints and runs the suite (the long soak is `make soak`).
# Both set up .venv first, and compile the translations (`make messages` updates them).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TRANSLATIONS := app/translations
# The compiled catalogs are build output, made from the translators' .po files (not in git).
CATALOGS := $(patsubst %.po,%.mo,$(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po))

.PHONY: run test lint format setup messages clean bench bench-patches bench-report soak

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(TRANSLATIONS)/%/LC_MESSAGES/messages.mo: $(TRANSLATIONS)/%/LC_MESSAGES/messages.po | $(VENV)/.runtime
	$(BIN)/pybabel compile --statistics --input-file $< --output-file $@ --locale $*

$(VENV)/.dev: $(VENV)/.runtime tests/requirements.txt | $(CATALOGS)
	$(BIN)/python -m pip install --quiet -r tests/requirements.txt
	touch $@

setup: $(VENV)/.runtime $(CATALOGS)

# Every translatable string of the code and the pages into messages.pot, then into each language's
# .po: new strings arrive empty for a translator (the suite fails until they are translated).
messages: $(VENV)/.runtime
	$(BIN)/pybabel extract --mapping-file babel.cfg --keywords _l --keywords _n --add-location file \
		--sort-by-file --omit-header --output-file $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update --input-file $(TRANSLATIONS)/messages.pot --output-dir $(TRANSLATIONS) \
		--no-fuzzy-matching --ignore-obsolete

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
	$(BIN)/python -m pytest -c tests/pytest.ini -m "not slow" tests
	SIGNUP_SERVING_PATCHES=none $(BIN)/python -m pytest -c tests/pytest.ini -m "served and not slow" tests

# The service against a naive Flask+boto3 proxy on one machine: see bench/run.py and the README;
# then what tracing costs, off and on (bench/tracing.py), and what the sign-up rules cost, off, on
# and on without the range cache (bench/hygiene.py).
bench: $(VENV)/.dev
	$(BIN)/python bench/run.py
	$(BIN)/python bench/tracing.py
	$(BIN)/python bench/hygiene.py

# Each serving patch against the same code without it, in turns (bench/patches.py): keep or remove.
bench-patches: $(VENV)/.dev
	$(BIN)/python bench/patches.py

# What the conversion report takes on 10 thousand to a million people (bench/report.py).
bench-report: $(VENV)/.dev
	$(BIN)/python bench/report.py

# The long soak test (tests/serving/test_soak.py, marked slow): mixed traffic through gunicorn while
# Cognito, Redis and PostgreSQL fail in turn, then reconciliation; fails unless the records match
# Cognito. SOAK_SECONDS (default 120) sets how long, SOAK_SEED repeats a run's choices.
soak: $(VENV)/.dev
	$(BIN)/python -m pytest -c tests/pytest.ini -m slow tests

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache $(CATALOGS)
