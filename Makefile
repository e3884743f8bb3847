# Two commands do all the set-up on a fresh machine:
#   make run   - virtual environment, install, build, serve the demo intranet
#   make test  - the same, plus test tools and Chromium, then the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HTTP ?= 127.0.0.1:8000
# Parallel test workers (pytest-xdist). Most tests wait on real servers and subprocesses
# (Dovecot, nginx, Chromium, git, the gateway), so a few more workers than cores pays.
TEST_WORKERS ?= 4
# The tests' temporary folders (real Git repositories, spools, sites: about 1 GB a run, and many
# fsyncs) go to a tmpfs where there is one: the same run took 133 s there against 167-189 s on
# this machine's disk, most of the difference waiting on the disk. Nothing tested depends on
# surviving a power cut. TEST_TMPDIR=/tmp to use the disk.
# The tests start hundreds of `intranet` processes; the project's modules are compiled first, so
# each start reads bytecode even where PYTHONDONTWRITEBYTECODE is set (0.7 s against 0.9-1.4 s).
TEST_TMPDIR ?= $(if $(wildcard /dev/shm/.),/dev/shm,$(or $(TMPDIR),/tmp))

.PHONY: run test install install-test system-deps lint clean

run: $(VENV)/.installed
	$(BIN)/intranet up --root . --http $(HTTP)

test: $(VENV)/.installed-test system-deps
	$(BIN)/python -m compileall -q intranet generator mailgateway tests bench >/dev/null
	TMPDIR=$(TEST_TMPDIR) $(BIN)/python -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

# Debian packages the tests drive for real: Chromium, Dovecot, nginx, Postfix, OpenDKIM, OpenDMARC, dnsmasq.
system-deps:
	bash .ci/system-deps

lint: $(VENV)/.installed-test
	$(BIN)/ruff check intranet generator mailgateway tests bench
	$(BIN)/mypy intranet generator mailgateway

clean:
	rm -rf $(VENV) site .site.* .intranet
