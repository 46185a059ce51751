# Two commands on a fresh Debian / Raspberry Pi OS machine with python3:
#   make run    install the runtime only into .venv, create an identity if there is none,
#               run the daemon in the foreground
#   make test   add the test extras, then ruff, mypy --strict and pytest
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# one stamp per install: `make run` needs only the runtime, `make test` adds the test extras
STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
# pytest workers: most tests wait on daemons and networks, so more workers than cores pay
TEST_JOBS ?= 3

.PHONY: run test bench check-system clean

check-system:
	@sh scripts/check-system.sh "$(PY)"

$(BIN)/python:
	@$(MAKE) --no-print-directory check-system
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@touch $(STAMP)

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP) $(TEST_STAMP)

run: $(STAMP)
	@$(BIN)/citizen id >/dev/null 2>&1 || $(BIN)/citizen init --name "$${CITIZEN_NAME:-$$(hostname)}"
	$(BIN)/citizen run

test: $(TEST_STAMP)
	@# the NAT tests need iptables in network namespaces (root only); without it they skip
	@command -v iptables >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(apt-get install -y -qq iptables >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq iptables >/dev/null 2>&1)) || true
	@# the port mapping tests run miniupnpd inside those namespaces; Debian installs it
	@# disabled and does not start it (noninteractive: the "start the daemon?" default is no)
	@command -v miniupnpd >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq miniupnpd >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq miniupnpd >/dev/null 2>&1)) || true
	@# the web page's browser test drives Debian's chromium with its chromedriver and reads
	@# the invite QR code with zbarimg; without them it skips
	@{ [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && command -v zbarimg >/dev/null 2>&1; } || \
		[ "$$(id -u)" != 0 ] || \
		(DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver zbar-tools >/dev/null 2>&1 || \
		 (apt-get update -qq >/dev/null 2>&1 && \
		  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			chromium chromium-driver zbar-tools >/dev/null 2>&1)) || true
	$(BIN)/ruff check citizen sdk tests bench
	$(BIN)/ruff format --check citizen sdk tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_JOBS)

bench: $(TEST_STAMP)
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
