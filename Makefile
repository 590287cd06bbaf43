# iana-ports: `make` installs, builds the database and serves it.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
IANA_URL ?= https://www.iana.org/assignments/service-names-port-numbers/service-names-port-numbers.csv
IANA_CSV ?=
# The registry XML of the same version as a local IANA_CSV (a download takes the .xml beside the .csv by itself)
IANA_XML ?=
DB ?= data/iana.db
# make history: the registry's monthly XML versions since 2017 and the newest CSV (../shared/data/iana/).
HISTORY_DIR ?= ../shared/data/iana/xml/history
HISTORY_CSV ?= ../shared/data/iana/service-names-port-numbers-2026-02-25.csv
HOST ?= 127.0.0.1
PORT ?= 8001
# make replicas: the cache's port on 127.0.0.1, and where the played manifests go (git-ignored).
PROXY_PORT ?= 8080
REPLICAS_DIR ?= data/local
# make image: the app's and the cache's images (the names deploy/k8s/ uses), and the base both are built FROM. A
# localhost/ base is made here from Debian's packages when missing (scripts/base-image);
# any other (python:3.12-slim) is pulled from its registry.
IMAGE ?= localhost/iana-ports:latest
CACHE_IMAGE ?= localhost/iana-ports-cache:latest
BASE ?= localhost/iana-ports-base:bookworm
# Where `make exports` writes the build's exports (git-ignored).
EXPORTS ?= exports
SOURCE = $(if $(IANA_CSV),$(IANA_CSV),$(IANA_URL))

.PHONY: all install tools data history refresh serve wheel test-fast replicas replicas-down image exports test test-deploy bench check-sources clean

all: install data serve

$(BIN)/datasette: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# compat: the checkout on sys.path by a plain .pth line (iana_ports/ingest is a link), not an
	@# import hook that every Python start in the venv would load (15-40 ms each).
	$(BIN)/pip install --quiet -e '.[test]' --config-settings editable_mode=compat
	touch $@

install: $(BIN)/datasette

data: install refresh

# Nine years of history in one build (python -m ingest replay); `make refresh` continues it.
# A replay only adds versions newer than a database's, so it starts from no database.
history: install
	@test ! -e '$(DB)' || { echo "error: $(DB) exists; move it aside or pass DB=another.db (a replay only adds versions newer than a database's own)" >&2; exit 1; }
	$(BIN)/python -m ingest replay '$(HISTORY_DIR)'/*.xml.gz '$(HISTORY_CSV)' --db '$(DB)'

# Rebuilds only when the registry, the common uses or the database layout changed;
# a running `make serve` picks the new file up by itself. Meant for cron (see
# README), so it installs nothing.
refresh:
	$(BIN)/python -m ingest --source '$(SOURCE)' --db '$(DB)' $(if $(IANA_XML),--xml '$(IANA_XML)')

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
	@# The checkout answers from its own data/, never from a build packed for a wheel.
	rm -rf build iana_ports/data
	@ls -l dist/iana_ports-*.whl

# The Kubernetes manifests (deploy/k8s/) on this machine with podman: the build
# job once on $(SOURCE), two app pods, the cache on 127.0.0.1:$(PROXY_PORT), until
# make replicas-down. A new build reaches them as the CronJob's does:
# python -m deploy.local --state $(REPLICAS_DIR) publish --source CSV
replicas: install image
	$(BIN)/python -m deploy.local --state '$(REPLICAS_DIR)' up --source '$(SOURCE)' --port '$(PROXY_PORT)'

replicas-down: install
	$(BIN)/python -m deploy.local --state '$(REPLICAS_DIR)' down

# Podman's settings for this kind of host (runc, explicit limits, netavark).
image test-deploy replicas replicas-down: export CONTAINERS_CONF = $(CURDIR)/deploy/podman/containers.conf
# What podman needs here, and mmdebstrap for the base.
DEPLOY_TOOLS = /usr/bin/podman=podman /usr/sbin/runc=runc /usr/bin/catatonit=catatonit /usr/sbin/iptables=iptables \
	/usr/lib/podman/netavark=netavark /usr/lib/podman/aardvark-dns=aardvark-dns /usr/bin/mmdebstrap=mmdebstrap
# pip inside the build trusts what this host trusts (on some networks HTTPS goes through a proxy with its own CA).
HOST_CA = /etc/ssl/certs/ca-certificates.crt
PODMAN_BUILD = podman build --quiet --format docker --network host --build-arg BASE='$(BASE)'

image:
	scripts/tools $(DEPLOY_TOOLS)
	$(if $(filter localhost/%,$(BASE)),scripts/base-image '$(BASE)')
	$(PODMAN_BUILD) $(if $(wildcard $(HOST_CA)),--volume $(HOST_CA):/run/host-ca.crt:ro --build-arg PIP_CERT=/run/host-ca.crt) \
		-t '$(IMAGE)' . >/dev/null
	$(PODMAN_BUILD) -t '$(CACHE_IMAGE)' deploy/cache >/dev/null
	@echo "$(IMAGE): $$(podman image inspect --format '{{.Size}}' '$(IMAGE)') bytes; $(CACHE_IMAGE): $$(podman image inspect --format '{{.Size}}' '$(CACHE_IMAGE)') bytes"

# The build as files: services (/etc/services), ports.json, ports.csv, iana.db
# and SHA256SUMS, as /exports/ serves them (iana_ports/exports.py).
exports: install
	$(BIN)/iana-ports export --db '$(DB)' --out '$(EXPORTS)'

# What the tests and benchmarks need beyond Python: wrk (load tests), nginx
# (replicas behind a cache), the firewalls (their parsers), Debian's chromium (browser tests) and npm, which
# installs axe-core (accessibility tests) as pinned in package-lock.json, again
# only when the lock file changed.
BENCH_TOOLS = /usr/bin/wrk=wrk /usr/sbin/nginx=nginx-light
# The firewalls whose own parsers read the firewall lines (tests/core/test_firewall.py), never
# started: the tests run them in a namespace of their own, on copies of their configuration.
FIREWALL_TOOLS = /usr/sbin/nft=nftables /usr/sbin/iptables=iptables /usr/sbin/ufw=ufw \
	/usr/bin/firewall-offline-cmd=firewalld
TOOLS = $(BENCH_TOOLS) $(FIREWALL_TOOLS) /usr/bin/chromium=chromium /usr/bin/npm=npm

tools:
	scripts/tools $(TOOLS)
	@if [ ! node_modules/.package-lock.json -nt package-lock.json ]; then npm ci --silent --no-audit --no-fund; fi

test: install tools
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/python -m pytest --ignore=tests/deploy

# The inner loop: the read side, the ingest and the command line, no browser, server fleet or
# wheel, and none of the tests marked slow (whole ingests and replays: `make test` runs them),
# on every core.
test-fast: install
	$(BIN)/python -m pytest -q -n auto -m "not slow" tests/core tests/ingest

# The image and the manifests, run with podman: every page kind through the cache, a new
# build rolled out under load, then everything removed (tests/deploy/). A few minutes;
# the base image is made once a machine.
test-deploy: install image
	$(BIN)/python -m pytest tests/deploy

# Every source of curated/common_uses.csv with the date it was read, oldest first:
# the list for the yearly recheck of the project's own dataset.
check-sources: install
	$(BIN)/python -m ingest.common_uses

bench: install
	scripts/tools $(BENCH_TOOLS)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules build dist iana_ports/data data/*.db data/.*.building data/.*.served test-artifacts .pytest_cache .hypothesis
