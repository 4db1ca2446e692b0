# One entry point per task; CI calls the same targets a person does.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps lint typecheck test demo bench bench-quick bench-deps clean

# Real servers the tests drive: Prometheus (scrapes the proxy and worker) and Chromium (renders
# the HTML report headless). Installed from Debian when missing and we are root; services the
# packages would start are held back, because tests start their own on 127.0.0.1.
SYSTEM_DEPS := prometheus:prometheus chromium:chromium

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

system-deps:
	@missing=""; for pair in $(SYSTEM_DEPS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair##*:}"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; \
	    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	    status=$$?; rm -f /usr/sbin/policy-rc.d; exit $$status; \
	  else echo "missing:$$missing (install them, or the tests that need them are skipped outside CI)"; fi; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

test: system-deps lint typecheck
	$(BIN)/pytest

demo: $(STAMP)
	$(BIN)/darklaunch demo

# Benchmarks need nginx (the mirror baseline), wrk and hey from Debian, and py-spy for the
# profile. Services the packages would start (nginx on port 80) are held back.
bench-deps: $(STAMP)
	@command -v nginx >/dev/null && command -v wrk >/dev/null && command -v hey >/dev/null && \
	  test -f /usr/lib/nginx/modules/ngx_http_echo_module.so || \
	  { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx \
	      libnginx-mod-http-echo wrk hey; \
	    s=$$?; rm -f /usr/sbin/policy-rc.d; exit $$s; }
	@test -x $(BIN)/py-spy || $(BIN)/pip install --quiet py-spy

bench: $(STAMP) bench-deps
	$(BIN)/python -m loadtests.bench --profile --out docs/PERFORMANCE.md --json loadtests/results/bench.json

bench-quick: $(STAMP) bench-deps
	$(BIN)/python -m loadtests.bench --quick --out /tmp/darklaunch-bench.md --json /tmp/darklaunch-bench.json

clean:
	rm -rf $(VENV) build dist *.egg-info .mypy_cache .pytest_cache .ruff_cache
