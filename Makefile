# chartmogul-relay — the two commands a fresh machine needs: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Every dependency (runtime, test, lint, types; transitive ones too) is pinned, with hashes, in
# uv.lock: a fresh machine installs exactly what CI passed with. uv itself is pinned here and
# installed into .tools/ on first use, so a newcomer needs nothing but Python and make.
UV_VERSION := 0.13.9
UV         := .tools/bin/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: dev test check lint lock lock-check bench bench-ingest bench-smoke chaos screenshots clean

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

# --locked: refuse (and say so) when uv.lock no longer matches pyproject.toml.
$(STAMP): pyproject.toml uv.lock | $(UV)
	@$(MAKE) --no-print-directory lock-check
	$(UV) sync --quiet --locked --extra test --python $(PYTHON)
	touch $(STAMP)

## Refresh uv.lock to the newest versions pyproject.toml's ranges allow; then run `make check`.
lock: | $(UV)
	$(UV) lock --upgrade
	@echo "uv.lock refreshed: now run 'make check' (and commit uv.lock if it passes)"

## Fails when pyproject.toml and uv.lock disagree (run by .ci/run).
lock-check: | $(UV)
	@$(UV) lock --check --quiet 2>/dev/null || { \
	  echo "uv.lock does not match pyproject.toml: run 'make lock', then 'make check', and commit uv.lock" >&2; \
	  exit 1; }

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

## The README's console screenshots (docs/console/*.png), taken by the console's browser tests
## (Debian's chromium and chromium-driver; the tests install them when they can).
screenshots: $(STAMP)
	rm -f docs/console/*.png
	RELAY_CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest -q tests/console/test_browser.py

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
	rm -rf $(VENV) .tools .relay .pytest_cache .mypy_cache .ruff_cache
