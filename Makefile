# The project's verbs. `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deps-installed
BUILT := $(VENV)/.core-built
RUST_SRC := $(shell find rust -name '*.rs') Cargo.toml

.PHONY: run test build wheel lint bench bench-quick bench-tables fmt clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "gridtap needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) -V 2>&1) (set PYTHON=python3.11)" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV) || \
		{ rm -rf $(VENV); echo "$(PYTHON) -m venv failed; on Debian/Ubuntu run: sudo apt-get install -y python3-venv" >&2; exit 1; }
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9,<2" numpy "pymodbus>=3.16,<3.17" pyserial "paho-mqtt>=2.0,<3" "prometheus-client>=0.20" \
		pytest pytest-benchmark hypothesis ruff mypy
	touch $@

# debug build of the extension into the venv (fast to compile; tests do not time anything)
$(BUILT): $(STAMP) $(RUST_SRC) pyproject.toml
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --quiet
	touch $@

build: $(BUILT)

run: $(BUILT)
	$(VENV)/bin/gridtap demo $(ARGS)

# scripts/system-deps.sh installs the Debian packages the tests use when they are missing
test: $(BUILT)
	scripts/system-deps.sh
	cargo test --quiet
	$(PY) -m pytest -q

# release abi3 wheel (Python >= 3.11) into dist/
wheel: $(STAMP)
	$(VENV)/bin/maturin build --release --out dist

lint: $(BUILT)
	$(VENV)/bin/ruff check python tests benches scripts
	$(VENV)/bin/ruff format --check python tests benches scripts
	$(VENV)/bin/mypy python/gridtap
	cargo fmt --check
	cargo clippy --quiet --all-targets -- -D warnings
	cargo clippy --quiet --features python --all-targets -- -D warnings

fmt: $(STAMP)
	$(VENV)/bin/ruff format python tests benches scripts
	$(VENV)/bin/ruff check --fix python tests benches scripts
	cargo fmt

# benchmarks need the optimised build; the ratio table is also saved in bench-results/ (the input
# of scripts/bench_tables.py, which rewrites the README and docs/benchmarks.md tables)
bench: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	rm -f $(BUILT)
	mkdir -p bench-results
	GRIDTAP_RATIOS_JSON=$${GRIDTAP_RATIOS_JSON:-bench-results/ratios-$$(date +%s).json} \
		$(PY) -m pytest benches --benchmark-columns=min,median,mean,ops --benchmark-sort=name -p no:cacheprovider

# the README and docs/benchmarks.md tables from the newest three `make bench` runs
bench-tables: $(STAMP)
	$(PY) scripts/bench_tables.py

# CI: each benchmark runs briefly so the suites keep working
bench-quick: $(STAMP)
	VIRTUAL_ENV=$(abspath $(VENV)) $(VENV)/bin/maturin develop --release --quiet
	rm -f $(BUILT)
	mkdir -p bench-results
	GRIDTAP_BENCH_QUICK=1 GRIDTAP_RATIOS_JSON=bench-results/quick.json $(PY) -m pytest benches -q \
		--benchmark-disable-gc --benchmark-min-rounds=1 --benchmark-max-time=0.05 --benchmark-warmup=off \
		-p no:cacheprovider

clean:
	rm -rf $(VENV) target dist
