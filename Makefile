# chartmogul-relay — the two commands a fresh machine needs: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test check lint bench bench-ingest bench-smoke chaos clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	touch $(STAMP)

## Run the relay for real: Redis (started if none answers), web, worker, and the ChartMogul
## simulator as the target when CHARTMOGUL_API_KEY is not set.
dev: $(STAMP)
	$(BIN)/relay dev

## The whole test suite (needs Redis on RELAY_TEST_REDIS_URL, default redis://127.0.0.1:6379/13),
## on two processes (pytest-xdist): the second takes the next db up (14).
test: $(STAMP)
	$(BIN)/pytest -q -n 2

## Lint and types.
lint: $(STAMP)
	$(BIN)/ruff check relay workers tests
	$(BIN)/ruff format --check relay workers tests
	$(BIN)/mypy

check: lint test

## Benchmarks (a few minutes; writes bench-results/latest.md). The ingest part drives the
## servers with wrk (installed with apt-get when missing).
bench: $(STAMP)
	$(BIN)/python -m tests.bench

## The ingest benchmark alone (~1.5 minutes): bare, naive and relay servers in one run.
bench-ingest: $(STAMP)
	$(BIN)/python -m tests.bench.ingest

## The 5-second versions of each benchmark, so they cannot rot (run by .ci/run).
bench-smoke: $(STAMP)
	$(BIN)/python -m tests.bench --smoke

clean:
	rm -rf $(VENV) .relay .pytest_cache .mypy_cache .ruff_cache
