# albertctl: `make demo` installs and runs the whole chain; `make test` installs and runs the tests.
# Override the torch requirement with e.g. `make TORCH=torch demo` (default: the CPU wheel 2.13.0).

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# tcmalloc removes the page-fault storms glibc malloc causes in torch training (docs/performance.md).
TCMALLOC := $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))
RUN_ENV  := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC),)

# Demo inputs: empty means the embedded default (text harvested from the installed software).
CORPUS   ?=
GLUE_DIR ?=
DEMO_OUT ?= demo-out

.PHONY: install test lint bench demo clean tcmalloc

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

# Best effort: install tcmalloc from Debian when we are root and it is missing (never required).
tcmalloc:
	@if [ -z "$(TCMALLOC)" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1 || \
		 (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q libtcmalloc-minimal4 >/dev/null 2>&1)) || \
		echo "note: tcmalloc not installed; continuing with glibc malloc"; \
	fi

test: install
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check albertctl tests benchmarks
	$(BIN)/ruff format --check albertctl tests benchmarks

bench: install tcmalloc
	$(MAKE) --no-print-directory _bench

_bench:
	$(RUN_ENV) $(BIN)/python benchmarks/run_all.py

demo: install tcmalloc
	$(MAKE) --no-print-directory _demo

_demo:
	$(RUN_ENV) $(BIN)/albertctl pipeline configs/demo.toml --out $(DEMO_OUT) $(if $(CORPUS),--corpus $(CORPUS)) $(if $(GLUE_DIR),--glue-dir $(GLUE_DIR))

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
