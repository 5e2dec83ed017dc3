# ccbox: `make demo` and `make test` set up everything they need on a fresh Debian machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ccbox-installed
PY_SOURCES := appliance drivers acd ivr recorder webui firmware_tools tests scripts setup.py

.PHONY: all demo test test-asterisk bench-asterisk lint typecheck bench fuzz soak deps system-deps screenshots messages clean deb

all: deps

system-deps:
	@scripts/system-deps.sh

$(BIN)/python:
	@scripts/system-deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel

# Installs ccbox in editable mode; this also builds the Cython extensions in place.
$(STAMP): $(BIN)/python setup.py pyproject.toml constraints.txt $(shell find appliance drivers acd ivr recorder -name "*.pyx")
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

# The web UI's browser libraries (Apache ECharts draws the report charts), from the npm
# registry at the versions webui/package-lock.json pins; webui/node_modules/ is never committed
# and the web service serves only the file it needs (webui/vendor.py).
ECHARTS := webui/node_modules/echarts/dist/echarts.min.js
$(ECHARTS): webui/package.json webui/package-lock.json
	cd webui && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

deps: system-deps $(STAMP) $(ECHARTS)

# make demo PORT=8081 AMI_PORT=15039 FASTAGI_PORT=14574 CHAT_PORT=8091 moves the demo's ports.
demo: deps
	$(BIN)/ccbox demo --data-dir ccbox-data $(if $(PORT),--port $(PORT)) \
		$(if $(AMI_PORT),--ami-port $(AMI_PORT)) $(if $(FASTAGI_PORT),--fastagi-port $(FASTAGI_PORT)) \
		$(if $(CHAT_PORT),--chat-port $(CHAT_PORT))

lint: deps
	$(BIN)/ruff check $(PY_SOURCES)
	$(BIN)/ruff format --check $(PY_SOURCES)

typecheck: deps
	$(BIN)/mypy

# The whole suite: lint, types, then every test on SQLite and on a private PostgreSQL server
# (and the browser tests in Debian's headless Chromium, installed here when missing).
# Test files run on both cores (pytest-xdist, --dist loadfile: a file's tests stay together).
test: lint typecheck
	@scripts/system-deps.sh --browser --deb --mail
	@set -e; \
	url=$$(scripts/test-postgres.sh start); \
	trap 'scripts/test-postgres.sh stop "$$url"' EXIT; \
	CCBOX_TEST_PG_URL="$$url" $(BIN)/pytest -q -n 2 --dist loadfile --durations=25

# End-to-end scenarios with a real Asterisk 22 as the switch (not part of `make test`: CI has
# no Asterisk). ASTERISK=/path/to/sbin/asterisk, or an asterisk on PATH; without one this
# fails and says what is missing. Building Asterisk 22: docs/operations.md.
ASTERISK ?=
test-asterisk: deps
	@ASTERISK="$(ASTERISK)" $(BIN)/python -m tests.support.real_asterisk
	ASTERISK="$(ASTERISK)" $(BIN)/pytest -q -p no:cacheprovider tests/asterisk

# What a waiting caller costs a real Asterisk 22 with ccboxd as the brain against Asterisk's
# own app_queue, same build and arrivals (issue 21): CALLERS callers in 10 s holding 30-90 s
# for two agents; the same JSON and table as make bench, in build/bench-asterisk.json. Not in
# make bench (it needs ASTERISK, as test-asterisk does). REPEAT rounds of both modes per
# CALLERS value, alternating, each mode's median round reported (one round's ratio moves by
# 0.1-0.2 on a shared 2-core machine): about 5 minutes a round and value. Run it alone.
CALLERS ?= 60 240
REPEAT ?= 3
bench-asterisk: deps
	@ASTERISK="$(ASTERISK)" $(BIN)/python -m tests.support.real_asterisk
	ASTERISK="$(ASTERISK)" $(BIN)/python -m tests.asterisk_bench.switch_hold \
		--callers $(CALLERS) --repeat $(REPEAT) --output build/bench-asterisk.json

bench: deps
	@scripts/system-deps.sh --bench
	$(BIN)/python tests/benchmarks/run.py --output build/bench.json

# The fuzz properties of tests/fuzz (AMI and FastAGI parsers, the flow validator, prompt
# uploads) with FUZZ_EXAMPLES random inputs each instead of `make test`'s few hundred fixed
# ones (about 15 minutes); prints executions per second and writes them to build/fuzz.json.
# A failure found is kept in .hypothesis/ and replayed first by the next run.
# Then the raw-bytes parsers under atheris (coverage-guided, libFuzzer) for FUZZ_SECONDS
# each (tests/fuzz/atheris_targets.py); a crash stops it and leaves build/crash-<sha1>.
FUZZ_EXAMPLES ?= 10000
FUZZ_SECONDS ?= 60
ATHERIS := atheris==3.0.0
fuzz: deps
	CCBOX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) CCBOX_FUZZ_REPORT=build/fuzz.json \
		$(BIN)/pytest -q -p no:cacheprovider tests/fuzz
	$(BIN)/pip install -q $(ATHERIS)
	@set -e; for t in ami agi flow upload mail; do \
		$(BIN)/python -m tests.fuzz.atheris_targets $$t -max_total_time=$(FUZZ_SECONDS) \
			-print_final_stats=1 -artifact_prefix=build/ 2>build/fuzz-$$t.log \
			|| { tail -40 build/fuzz-$$t.log; exit 1; }; \
		echo "atheris $$t: $$(sed -n 's/^stat::average_exec_per_sec: *//p' build/fuzz-$$t.log)" \
			"executions/s over $(FUZZ_SECONDS) s"; \
	done

# A busy center's day (60 agents, 2,400 calls an hour: IVR, queues, transfers, callbacks,
# pauses, hang-ups everywhere) through the real ccboxd on a clock SOAK_SPEED times the
# wall's (24 h in about 50 minutes): memory and descriptors flat, no session or timer
# leaked, the agent-state invariant held, every call closed. Prints the figures and writes
# them to build/soak.json ("soak memory growth", %). make test runs half an hour of it.
SOAK_HOURS ?= 24
SOAK_SPEED ?= 30
soak: deps
	$(BIN)/python -m tests.soak.run --hours $(SOAK_HOURS) --speed $(SOAK_SPEED) \
		--out build/soak.json

# The Debian package dist/ccbox_<version>_<arch>.deb (scripts/deb/build.sh: a private venv at
# /opt/ccbox made by Debian's python3, the unit, sysusers/tmpfiles, a default config), then
# lintian on it (overrides with their reasons: scripts/deb/lintian-overrides).
deb: deps
	@scripts/system-deps.sh --deb --lintian
	scripts/deb/build.sh --python $(BIN)/python --lintian

# The README/docs screenshots, taken in headless Chromium against a fresh demo; the internet
# channels' (docs/images/chat-*.png) by their browser scenario, a visitor, agents and a
# supervisor each in a browser of their own.
screenshots: deps
	@scripts/system-deps.sh --browser
	$(BIN)/python scripts/screenshots.py
	CCBOX_DOCS_IMAGES=1 $(BIN)/pytest -q tests/browser/test_chat_channels.py

# Re-extract translatable strings and merge them into the catalogs (then translate zh_CN).
messages: deps
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k _ --no-location --sort-output \
		--project ccbox -o webui/locale/ccbox.pot .
	$(BIN)/pybabel update -N -i webui/locale/ccbox.pot -d webui/locale -D ccbox

clean:
	rm -rf build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache
	find . -path ./.venv -prune -o \( -name '*.so' -o -name '__pycache__' \) -print | xargs rm -rf
	rm -f drivers/audio/_g711_c.c recorder/_dsp_c.c drivers/asterisk/ami/_scan_c.c acd/_route_c.c
