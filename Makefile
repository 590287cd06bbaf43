# iana-ports: `make` installs, builds the database and serves it.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IANA_URL ?= https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv
IANA_CSV ?=
DB ?= data/iana.db
HOST ?= 127.0.0.1
PORT ?= 8001
# make replicas: how many, where nginx listens, and their folders (git-ignored under data/).
N ?= 3
PROXY_PORT ?= 8080
REPLICAS_DIR ?= data/replicas
# Where `make exports` writes the build's exports (git-ignored).
EXPORTS ?= exports
SOURCE = $(if $(IANA_CSV),$(IANA_CSV),$(IANA_URL))

.PHONY: all install tools data refresh serve wheel replicas exports test bench check-sources clean

all: install data serve

$(BIN)/datasette: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/datasette

data: install refresh

# Rebuilds only when the registry, the common uses or the database layout changed;
# a running `make serve` picks the new file up by itself. Meant for cron (see
# README), so it installs nothing.
refresh:
	$(BIN)/python -m ingest --source '$(SOURCE)' --db '$(DB)'

serve: install
	@test -f '$(DB)' || { echo "error: $(DB) does not exist; run 'make data' first" >&2; exit 1; }
	@# iana-ports serve: Datasette configured from the package (iana_ports/web/config), on a
	@# server with a deadline for each request to arrive and a connection cap (iana_ports/web/server.py).
	$(BIN)/iana-ports serve --db '$(DB)' --host '$(HOST)' --port '$(PORT)'

# A wheel that answers offline: the package with $(DB) inside, compressed (iana_ports/databases.py).
wheel: install
	@test -f '$(DB)' || { echo "error: $(DB) does not exist; run 'make data' first" >&2; exit 1; }
	$(BIN)/python -m iana_ports.databases '$(DB)'
	rm -rf build dist/iana_ports-*.whl
	$(BIN)/pip wheel --quiet --no-deps -w dist .
	rm -rf build
	@ls -l dist/iana_ports-*.whl

# N replicas of `make serve`, each on its own copy of $(DB), behind nginx's
# cache on $(HOST):$(PROXY_PORT), until Ctrl-C. A new build reaches them one at
# a time: python -m deploy.replicas roll --scratch $(REPLICAS_DIR) --source CSV
replicas: install
	$(BIN)/python -m deploy.replicas serve --replicas '$(N)' --db '$(DB)' --host '$(HOST)' \
		--port '$(PROXY_PORT)' --scratch '$(REPLICAS_DIR)'

# The build as files: services (/etc/services), ports.json, ports.csv, iana.db
# and SHA256SUMS, as /exports/ serves them (iana_ports/exports.py).
exports: install
	$(BIN)/iana-ports export --db '$(DB)' --out '$(EXPORTS)'

# What the tests and benchmarks need beyond Python: wrk (load tests), nginx
# (replicas behind a cache), Debian's chromium (browser tests) and npm, which
# installs axe-core (accessibility tests) as pinned in package-lock.json, again
# only when the lock file changed.
BENCH_TOOLS = /usr/bin/wrk=wrk /usr/sbin/nginx=nginx-light
TOOLS = $(BENCH_TOOLS) /usr/bin/chromium=chromium /usr/bin/npm=npm

tools:
	scripts/tools $(TOOLS)
	@if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then npm ci --silent --no-audit --no-fund; fi

test: install tools
	$(BIN)/python -m pytest

# Every source of curated/common_uses.csv with the date it was read, oldest first:
# the list for the yearly recheck of the project's own dataset.
check-sources: install
	$(BIN)/python -m ingest.common_uses

bench: install
	scripts/tools $(BENCH_TOOLS)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules build dist iana_ports/data data/*.db data/.*.building data/.*.served test-artifacts .pytest_cache .hypothesis
