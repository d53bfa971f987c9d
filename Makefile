# albertctl: `make demo` installs and runs the whole chain; `make test` installs and runs the tests.
# Override the torch requirement with e.g. `make TORCH=torch demo` (default: the CPU wheel 2.13.0).
# Every other package comes at the exact version and hash in requirements/*.lock (`make lock`).

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q --disable-pip-version-check
RUNTIME_LOCK := requirements/runtime.lock
TEST_LOCK    := requirements/test.lock
RUNTIME_STAMP := $(VENV)/.installed-runtime
STAMP         := $(VENV)/.installed-test
# The uv release that writes the locks (`make lock`), in its own venv: never a dependency of ours.
UV_VERSION ?= 0.13.9
LOCK_VENV  ?= .venv-lock
LATEST_VENV ?= .venv-latest
# tcmalloc removes the page-fault storms glibc malloc causes in torch training (docs/performance.md).
TCMALLOC := $(firstword $(wildcard /usr/lib/*/libtcmalloc_minimal.so.4 /usr/lib/libtcmalloc_minimal.so.4))
RUN_ENV  := $(if $(TCMALLOC),LD_PRELOAD=$(TCMALLOC),)

# Demo inputs: empty means the embedded default (text harvested from the installed software).
CORPUS   ?=
GLUE_DIR ?=
DEMO_OUT ?= demo-out

.PHONY: install install-runtime lock test test-latest lint bench demo clean tcmalloc

install: $(STAMP)
install-runtime: $(RUNTIME_STAMP)

# The lock first (exact versions, hashes checked, nothing resolved), then torch, whose own
# requirements the lock already holds, then albertctl itself; pip check proves nothing is missing.
define install_lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --require-hashes --no-deps -r $(1)
	$(PIP) "$(TORCH)"
	$(PIP) --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check --disable-pip-version-check
endef

$(RUNTIME_STAMP): pyproject.toml setup.py albertctl/data/_instances.c albertctl/vocab/_normalize.c $(RUNTIME_LOCK)
	$(call install_lock,$(RUNTIME_LOCK))
	touch $@

$(STAMP): pyproject.toml setup.py albertctl/data/_instances.c albertctl/vocab/_normalize.c $(TEST_LOCK)
	$(call install_lock,$(TEST_LOCK))
	touch $@ $(RUNTIME_STAMP)

# Re-resolve both locks from pyproject.toml's ranges (needs the package index).
LOCK_FLAGS = --universal --python-version 3.10 --generate-hashes --quiet \
	--override requirements/no-torch.txt --custom-compile-command "make lock"
lock:
	test -x $(LOCK_VENV)/bin/uv || ($(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install -q "uv==$(UV_VERSION)")
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra test requirements/torch-cpu.in $(LOCK_FLAGS) -o $(TEST_LOCK)
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml requirements/torch-cpu.in --constraint $(TEST_LOCK) $(LOCK_FLAGS) -o $(RUNTIME_LOCK)

# The suite against the newest releases pyproject.toml admits, in a throwaway venv: which
# packages moved past the lock, and what broke. Never part of `make test`.
test-latest:
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install -q --disable-pip-version-check "$(TORCH)"
	$(LATEST_VENV)/bin/python -m pip install -q --disable-pip-version-check --upgrade -e ".[test]"
	$(LATEST_VENV)/bin/python requirements/compare.py $(TEST_LOCK)
	$(LATEST_VENV)/bin/python -m pytest -q -n 2 --dist loadfile -p no:cacheprovider \
		|| { echo "test-latest: failures above, with the versions that moved past $(TEST_LOCK) listed before them"; exit 1; }

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
	$(BIN)/ruff check albertctl tests benchmarks requirements
	$(BIN)/ruff format --check albertctl tests benchmarks requirements

bench: install tcmalloc
	$(MAKE) --no-print-directory _bench

_bench:
	$(RUN_ENV) $(BIN)/python benchmarks/run_all.py

demo: install-runtime tcmalloc
	$(MAKE) --no-print-directory _demo

_demo:
	$(RUN_ENV) $(BIN)/albertctl pipeline configs/demo.toml --out $(DEMO_OUT) $(if $(CORPUS),--corpus $(CORPUS)) $(if $(GLUE_DIR),--glue-dir $(GLUE_DIR))

clean:
	rm -rf $(DEMO_OUT) .pytest_cache $(LATEST_VENV)
