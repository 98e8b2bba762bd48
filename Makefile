# onebin: two commands for a new user, `make run` and `make test`; both set up from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
WEB := src/onebin/items/web
FRONTEND_SOURCES := $(shell find frontend/src frontend/static -type f 2>/dev/null) \
	frontend/package.json frontend/package-lock.json frontend/vite.config.js
# Debian packages the test suite drives for real.
TEST_DEB_PACKAGES := pebble chromium

.PHONY: run test venv frontend system-deps lint bench dist clean

run: venv frontend
	$(BIN)/onebin serve

test: system-deps venv frontend
	$(BIN)/pytest

venv: $(STAMPS)/venv
$(STAMPS)/venv: pyproject.toml requirements.lock
	@mkdir -p $(STAMPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev,build]'
	touch $@

frontend: $(STAMPS)/frontend
$(STAMPS)/frontend: $(FRONTEND_SOURCES)
	@mkdir -p $(STAMPS)
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

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

bench: venv frontend
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) $(STAMPS) $(WEB) frontend/node_modules frontend/build dist build
