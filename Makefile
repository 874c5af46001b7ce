# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench install migrate clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is required ($(PYTHON) not found; set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Serve the dashboard with a Celery worker and beat; Ctrl-C stops all three. Without
# DATABASE_URL the embedded PostgreSQL (data in var/postgres) runs for as long as they do.
run: export DEBUG ?= true
run: $(STAMP)
	@$(BIN)/python cs_platform/embedded.py run -- \
	  "$(BIN)/python manage.py migrate --noinput" \
	  "$(BIN)/python manage.py seed_demo --if-empty" \
	  "echo 'Dashboard: http://127.0.0.1:$${WEB_PORT:-8000}  (Ctrl-C stops web, worker and beat)'" \
	  "$(BIN)/honcho start -f Procfile"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

# Benchmarks with their floors, one JSON line per result. BENCH_SIZE sets the data size.
bench: $(STAMP)
	@$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles
