# onebin: two commands for a new user, `make run` and `make test`; both set up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# sslyze, the TLS scanner of tests/tls: its own virtualenv, as it pins an older cryptography.
SCANNER_VENV := .venv-scanner
STAMPS := .stamps
WEB := src/onebin/items/web
FRONTEND_SOURCES := $(shell find frontend/src frontend/static -type f 2>/dev/null) \
	frontend/package.json frontend/package-lock.json frontend/vite.config.js
# Debian packages the test suite drives for real.
TEST_DEB_PACKAGES := pebble chromium wrk postgresql haproxy prometheus
# What bench/static.py compares onebin with, plus the load generator.
BENCH_DEB_PACKAGES := wrk caddy nginx libnginx-mod-http-brotli-static
# `onebin build`: PyInstaller --strip runs binutils' strip (also on the zipapp's extensions).
BUILD_DEB_PACKAGES := binutils

.PHONY: run test venv scanner frontend system-deps lint bench dist dist-portable wheel model clean

run: $(STAMPS)/run frontend
	$(BIN)/onebin serve

test: system-deps $(STAMPS)/test scanner frontend
	$(MAKE) system-deps TEST_DEB_PACKAGES="$(BUILD_DEB_PACKAGES)"
	$(BIN)/pytest

# One virtualenv, installed as far as each use needs: `make run` onebin's runtime
# dependencies only (the test and build tools are most of the download), `make dist`
# the packers too, `make test` everything. Each has its own stamp.
venv: $(STAMPS)/test
$(STAMPS)/run: EXTRAS :=
$(STAMPS)/dist: EXTRAS := [build]
$(STAMPS)/test: EXTRAS := [dev,build]
$(STAMPS)/run $(STAMPS)/dist $(STAMPS)/test: pyproject.toml requirements.lock
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.$(EXTRAS)'
	touch $@

# The .gitignore inside keeps the scanner's virtualenv out of git without a root entry.
scanner: $(STAMPS)/scanner
$(STAMPS)/scanner: requirements-scanner.lock
	@mkdir -p $(STAMPS)
	test -x $(SCANNER_VENV)/bin/python || $(PYTHON) -m venv $(SCANNER_VENV)
	echo '*' > $(SCANNER_VENV)/.gitignore
	$(SCANNER_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-scanner.lock
	$(SCANNER_VENV)/bin/python -m pip check
	touch $@

# The build is copied into the package as data; its __init__.py makes it a regular
# package, which importlib.resources finds inside a zip or a frozen binary too.
frontend: $(WEB)/__init__.py
$(WEB)/__init__.py: $(FRONTEND_SOURCES)
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build
	rm -rf $(WEB)
	cp -r frontend/build $(WEB)
	touch $@

system-deps:
	@missing=""; for p in $(TEST_DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

lint: $(STAMPS)/test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: $(STAMPS)/test frontend
	$(MAKE) system-deps TEST_DEB_PACKAGES="$(BENCH_DEB_PACKAGES)"
	$(BIN)/python bench/api.py
	$(BIN)/python bench/static.py
	$(MAKE) dist
	$(BIN)/python bench/startup.py

# One executable (dist/onebin) and one zipapp (dist/onebin.pyz) of the items app.
dist: $(STAMPS)/dist frontend
	$(MAKE) system-deps TEST_DEB_PACKAGES="$(BUILD_DEB_PACKAGES)"
	$(BIN)/onebin build --name onebin

# dist/portable/onebin: the same executable built in a Debian 11 root from Debian's
# sources, so it runs on glibc 2.28 and newer (README, Deploy). The toolchain is cached
# in ~/.cache/onebin-build; the first run takes about 6 minutes on 2 cores.
PORTABLE_DEB_PACKAGES := binutils debootstrap dpkg-dev
dist-portable: $(STAMPS)/dist frontend
	$(MAKE) system-deps TEST_DEB_PACKAGES="$(PORTABLE_DEB_PACKAGES)"
	$(BIN)/onebin build --portable --name onebin

# A wheel of onebin with the built frontend inside (dist/onebin-VERSION-py3-none-any.whl).
# setuptools reuses build/ between runs and would pack files deleted since (old hashed
# frontend bundles), so it starts from an empty one.
wheel: $(STAMPS)/dist frontend
	rm -rf build
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps --no-build-isolation -w dist .

# The embedding model inside the package (docs/model.md): distilled from all-MiniLM-L6-v2
# in a virtualenv of its own, as torch and transformers are build tools, never onebin's
# dependencies. Its stamp lies inside it, so `make wheel` (rm -rf build) resets both.
MODEL_VENV := build/model-venv
# torch's CPU build (2.13.0+cpu) is on PyTorch's index, not on PyPI; empty it where a local
# wheel directory (pip's find-links) has it.
MODEL_PIP_FLAGS ?= --extra-index-url https://download.pytorch.org/whl/cpu
model: $(MODEL_VENV)/installed
	$(MODEL_VENV)/bin/python tools/make_model.py
$(MODEL_VENV)/installed: requirements-model.lock
	test -x $(MODEL_VENV)/bin/python || $(PYTHON) -m venv $(MODEL_VENV)
	$(MODEL_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps $(MODEL_PIP_FLAGS) -r requirements-model.lock
	$(MODEL_VENV)/bin/python -m pip check
	touch $@

clean:
	rm -rf $(VENV) $(SCANNER_VENV) $(STAMPS) $(WEB) frontend/node_modules frontend/build dist build
