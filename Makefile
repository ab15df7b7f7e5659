# Everything a developer or CI needs: `make test`, `make demo`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
CLI_VENV := .venv-cli
BIN := $(VENV)/bin
UV := $(BIN)/uv
export PYTHONPATH := $(CURDIR)

.PHONY: install install-cli browser lint typecheck format test check unit integration contract demo up down bench emulator lock clean

# pytest-xdist worker processes for `make test` and `make check`: more than the 2 cores, because most
# integration tests wait on servers, stacks and sensors rather than compute.
PYTEST_WORKERS ?= 4

install: $(VENV)/.synced

# Re-synced only when the lock file changes, so a second `make test` installs nothing.
$(VENV)/.synced: requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/pip install --quiet --disable-pip-version-check uv==0.13.9
	$(UV) pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	@# The project itself, editable and without dependencies: registers the "roboflow" connection type.
	$(UV) pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

install-cli: $(CLI_VENV)/.synced

$(CLI_VENV)/.synced: requirements-contract.lock $(VENV)/.synced
	@test -x $(CLI_VENV)/bin/python || $(PYTHON) -m venv $(CLI_VENV)
	$(UV) pip sync --quiet --python $(CLI_VENV)/bin/python requirements-contract.lock
	@touch $@

# Headless Chromium for the UI browser test, from the Debian packages (never a downloaded browser).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q && \
		  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q chromium chromium-driver; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy over include/, dags/ and plugins/ (settings and the short ignore list: pyproject.toml).
typecheck: install
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every test; the slow ones start first and are listed with their times at the end.
test: install install-cli browser lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS)

# The edit-test loop (under 2 minutes): ruff, mypy, then tests/unit, tests/dags and the dag.test()
# pipeline runs of tests/integration/pipeline, without the tests marked slow (`-m "not slow"`: the
# real Airflow stacks, the soak, the recovery runs).
check: install lint typecheck
	$(BIN)/pytest -n $(PYTEST_WORKERS) -m "not slow" tests/unit tests/dags tests/integration/pipeline

unit: install
	$(BIN)/pytest tests/unit

integration: install
	$(BIN)/pytest tests/integration tests/dags

contract: install install-cli
	$(BIN)/pytest tests/contract

demo: install
	$(BIN)/python -m include.devstack.demo

# The whole local stack with the Airflow UI (prints the URL and login); `make down` stops it by pid.
up: install
	$(BIN)/python -m include.devstack.local_stack up

down: install
	$(BIN)/python -m include.devstack.local_stack down

# The shell baseline (aws s3 presign per file) needs awscli, whose pins clash with Airflow's.
bench: install
	@test -x .venv-bench/bin/python || $(PYTHON) -m venv .venv-bench
	$(UV) pip sync --quiet --python .venv-bench/bin/python requirements-bench.lock
	$(BIN)/python -m bench

emulator: install
	$(BIN)/python -m include.roboflow_emulator --host 127.0.0.1 --port $${PORT:-8787}

# Regenerate the lock files after editing requirements*.txt.
lock: install
	$(UV) pip compile --quiet requirements-dev.txt --python-version 3.11 -o requirements.lock
	$(UV) pip compile --quiet requirements-contract.txt --python-version 3.11 -o requirements-contract.lock
	$(UV) pip compile --quiet requirements-bench.txt --python-version 3.11 -o requirements-bench.lock

clean:
	rm -rf $(VENV) $(CLI_VENV) .pytest_cache .ruff_cache
