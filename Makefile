# GridWatch: the two commands a new user needs are `make demo` and `make test` (see README).
# Every target installs what it needs, so each works on its own on a fresh Debian machine.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := app
# The demo and the development server run on the published development secret key, which the
# app accepts only in development; a real server sets its own (docs/deployment.md).
export GRIDWATCH_ENV ?= development
# Two workers (pytest-xdist), whole files each: most tests wait on PostgreSQL or Chromium, so
# two at a time use this 2-core machine better (each worker has its own databases:
# tests/conftest.py). PYTEST_ARGS= runs them one at a time.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: demo serve test install assets translations db testdb bench lint clean

demo: install assets db  ## install, start PostGIS, migrate, load the demo city, serve
	$(BIN)/flask --app app demo load
	@echo "GridWatch demo at http://$(HOST):$(PORT)/"
	@# Background jobs (big imports) run on the server's own worker thread (JOB_WORKER_THREADS).
	$(BIN)/flask --app app run --host $(HOST) --port $(PORT)

serve: install assets db
	$(BIN)/flask --app app run --host $(HOST) --port $(PORT)

test: install assets testdb lint  ## flake8, then the whole test suite against a real PostGIS
	$(BIN)/python -m pytest $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml scripts/system-deps.sh
	scripts/system-deps.sh test
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

# Front-end libraries come from the npm registry, pinned by package-lock.json, and are served
# by the app itself: no page loads anything from outside the server.
assets: app/static/vendor/.installed translations

app/static/vendor/.installed: package.json package-lock.json scripts/vendor-assets.sh
	scripts/system-deps.sh
	npm ci --no-audit --no-fund --loglevel=error
	scripts/vendor-assets.sh
	touch $@

translations: install
	$(BIN)/pybabel compile -f -d app/translations

# The app's database (DATABASE_URL, or the local cluster's `gridwatch`), migrated to head.
db: install
	$(eval export DATABASE_URL := $(shell scripts/ensure-postgis.sh gridwatch))
	$(BIN)/flask --app app db upgrade

# The test database; the tests migrate and wipe it themselves.
testdb: install
	$(eval export GRIDWATCH_TEST_DATABASE_URL := $(or $(GRIDWATCH_TEST_DATABASE_URL),$(shell scripts/ensure-postgis.sh gridwatch_test)))
	@test -n "$(GRIDWATCH_TEST_DATABASE_URL)" || { echo "no test database" >&2; exit 1; }

bench: install db
	$(BIN)/python bench/assignment.py

lint: install
	$(BIN)/flake8 app gis layers migrations tests bench scripts

clean:
	rm -rf $(VENV) node_modules app/static/vendor
