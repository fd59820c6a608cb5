# Flywheel: `make demo` runs the whole platform on this machine; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

export FLYWHEEL_HOME ?= $(CURDIR)/.flywheel
export DAGSTER_HOME ?= $(FLYWHEEL_HOME)/dagster

.PHONY: install demo test test-cluster lint format up down status ui mlflow-ui clean

# Exactly the versions in uv.lock (`uv lock` after editing pyproject.toml; --frozen never re-resolves,
# and tests/test_lockfile.py fails when the two disagree). uv itself is pinned in the dev extra.
$(STAMP): pyproject.toml uv.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(BIN)/uv || $(BIN)/python -m pip install --quiet uv
	UV_PROJECT_ENVIRONMENT=$(VENV) $(BIN)/uv sync --frozen --extra dev --quiet
	@# Headless Chromium for the browser tests (Debian package; playwright drives it).
	command -v chromium >/dev/null || apt-get install -y -q chromium || sudo apt-get install -y -q chromium
	touch $(STAMP)

install: $(STAMP)

## The two commands of the Quickstart ------------------------------------------------------------
# One line per step on the terminal; Dagster, Spark and MLflow logs go to $(FLYWHEEL_HOME)/logs/.
demo: $(STAMP)
	@$(BIN)/flywheel infra up
	@$(BIN)/python scripts/seed_landing.py
	@$(BIN)/flywheel materialize

# One worker per core (a module stays on one worker; each worker has its own servers). The suite is
# close to CPU-bound, so this saves about 15 %, not half.
TEST_WORKERS ?= 2
test: $(STAMP) postgresql
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

# The engines past one machine, each started once by the session's fixtures: Postgres (Dagster
# instance, MLflow, annotations), three Kafka brokers, a Spark standalone cluster, Spark jobs through
# Dagster Pipes (tests/cluster/; deselected from `make test` by the `cluster` marker).
.PHONY: test-cluster
test-cluster: $(STAMP) postgresql
	$(BIN)/python -m pytest -m cluster tests/cluster --durations=15

# Debian's PostgreSQL server binaries (initdb, pg_ctl): the Postgres fixture and `infra up --postgres`.
.PHONY: postgresql
postgresql:
	@command -v pg_ctl >/dev/null || ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || \
	  apt-get install -y -q postgresql || (apt-get update -q && apt-get install -y -q postgresql)

## Everyday ---------------------------------------------------------------------------------------
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

up: $(STAMP)
	$(BIN)/flywheel infra up

down: $(STAMP)
	$(BIN)/flywheel infra down

status: $(STAMP)
	$(BIN)/flywheel infra status

ui: $(STAMP)
	mkdir -p $(DAGSTER_HOME)
	$(BIN)/dagster dev -w workspace.yaml

# One-machine deployment in the foreground: Kafka (unless one answers), a code server, the Dagster UI
# and the daemon, every sensor running. Ctrl-C stops what it started.
.PHONY: serve
serve: $(STAMP)
	$(BIN)/flywheel serve --sensors on

mlflow-ui: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(FLYWHEEL_HOME)/mlflow.db --port 5000

clean:
	-$(BIN)/flywheel infra down
	rm -rf $(FLYWHEEL_HOME)
