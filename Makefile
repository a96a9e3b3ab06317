# The two commands of the README:
#   make study   set up (virtualenv + packages) and run the study at CPU scale (config/quick.yaml)
#   make test    set up and run the test suite
#   make laptop  the study sized to decide the poster's claims on a 2-core CPU (config/laptop.yaml, hours)
# Everything else here is a building block of those two, or the full-scale / cluster variants.

PYTHON  ?= python3.11
# The one Python minor version the project supports: pyproject.toml's requires-python (>=3.11,<3.12) and
# environment.yml's python=3.11.
SUPPORTED_PYTHON := 3.11
VENV    ?= .venv
CORES   ?= 2
CONFIG  ?= config/quick.yaml
SNAKE_ARGS ?=

BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake

.PHONY: python-version setup system-deps test-deps study laptop full dry-run report test test-fast format clean-results help unlock-stale gpu-check

help:
	@echo "make study      set up and run the CPU-scale study (CONFIG=$(CONFIG), CORES=$(CORES))"
	@echo "make laptop     set up and run the study that decides the poster's claims on a 2-core CPU (config/laptop.yaml)"
	@echo "make full       set up and run the paper-scale study (config/config.yaml; meant for a GPU)"
	@echo "make test       set up and run every test"
	@echo "make dry-run    show the jobs the study would run, and their cost on paper"
	@echo "make format     format the Snakefile, rules and Python as the style tests expect"
	@echo "make gpu-check  on a CUDA machine: GPU tests, tiny profile on cuda, benchmark (run first on a GPU)"

# Before anything is built: the virtualenv's Python, or (no virtualenv yet) $(PYTHON), must be
# $(SUPPORTED_PYTHON). Any other version would install every requirement and then fail at `pip install -e .`.
PY_VERSION_OF = $$($(1) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
python-version:
	@if [ -x $(BIN)/python ]; then \
	    v=$(call PY_VERSION_OF,$(BIN)/python); [ "$$v" = $(SUPPORTED_PYTHON) ] || { \
	    echo "error: $(VENV) was built with Python $${v:-of unknown version} ($(BIN)/python); this project supports" \
	         "Python $(SUPPORTED_PYTHON) only: delete it (rm -rf $(VENV)) and run make again with a Python" \
	         "$(SUPPORTED_PYTHON) (PYTHON=/path/to/python$(SUPPORTED_PYTHON))"; exit 1; }; \
	else \
	    command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python $(SUPPORTED_PYTHON)" \
	        "or pass PYTHON=/path/to/python$(SUPPORTED_PYTHON)"; exit 1; }; \
	    v=$(call PY_VERSION_OF,$(PYTHON)); [ "$$v" = $(SUPPORTED_PYTHON) ] || { \
	    echo "error: $(PYTHON) is Python $${v:-of unknown version}; this project supports Python $(SUPPORTED_PYTHON)" \
	         "only: pass PYTHON=/path/to/python$(SUPPORTED_PYTHON) (e.g. make study PYTHON=/usr/bin/python$(SUPPORTED_PYTHON))"; \
	    exit 1; }; fi

# The virtualenv is (re)built whenever the pinned requirements or the package metadata change; the version
# check runs first, every time, without making the virtualenv out of date (order-only prerequisite).
$(STAMP): requirements.txt pyproject.toml | python-version
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

# Offline mirror of Fashion-MNIST is a Debian package: make sure apt knows the package list.
system-deps:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && \
	    ! apt-cache policy dataset-fashion-mnist 2>/dev/null | grep -q 'Candidate: [0-9]'; then \
	    echo "apt-get update (for the dataset-fashion-mnist mirror)"; apt-get update -qq; fi

setup: $(STAMP) system-deps

# What the tests need beyond Python: a headless browser for the report test, and SLURM + munge for
# the cluster integration test. Installed with apt-get when run as root; otherwise those tests skip
# and say why.
TEST_DEBS := chromium chromium-driver slurm-wlm munge
test-deps:
	@if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    missing=$$(for p in $(TEST_DEBS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	    if [ -n "$$missing" ]; then \
	        echo "apt-get install $$missing"; \
	        apt-cache policy $$missing 2>/dev/null | grep -q 'Candidate: [0-9]' || apt-get update -qq; \
	        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; fi; \
	else echo "note: not root or no apt-get: browser and SLURM tests will be skipped"; fi

# A run killed with its whole process tree leaves Snakemake's lock behind; remove it when no Snakemake of
# this checkout is running (a running one keeps its lock, and Snakemake then refuses to start). The script
# finds a Snakemake by its working directory and command line, however it was started. Incomplete outputs
# of killed jobs are redone (--rerun-incomplete); training resumes from its last checkpoint.
unlock-stale:
	@if [ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ]; then \
	    $(BIN)/python scripts/snakemake_running.py "$(CURDIR)"; status=$$?; \
	    if [ $$status = 1 ]; then \
	        echo "removing the lock of an interrupted run (no Snakemake of this checkout is running)"; \
	        $(SNAKEMAKE) --unlock --configfile $(CONFIG) --quiet all >/dev/null; fi; fi

# check-config first: Snakemake reads --configfile before our Snakefile runs, and a file it cannot decode
# (not UTF-8) would give its traceback instead of our one-paragraph message.
study: setup unlock-stale
	$(BIN)/python -m ncsn check-config $(CONFIG) >/dev/null
	$(SNAKEMAKE) --configfile $(CONFIG) --cores $(CORES) --rerun-incomplete $(SNAKE_ARGS)

laptop: CONFIG = config/laptop.yaml
laptop: study

full: CONFIG = config/config.yaml
full: study

# On a CUDA machine: GPU tests, the tiny profile on cuda, the benchmark; writes results/gpu_check/summary.json.
gpu-check: setup
	PY=$(BIN)/python scripts/gpu_check.sh

# The jobs Snakemake would run, then their cost on paper (FLOPs, GPU-hours per rule): the heavy jobs whose
# outputs `snakemake --summary` plans to update.
dry-run: setup
	$(SNAKEMAKE) -n --configfile $(CONFIG) $(SNAKE_ARGS)
	plan=$$(mktemp) && $(SNAKEMAKE) --summary --quiet all --configfile $(CONFIG) $(SNAKE_ARGS) > $$plan \
		&& $(BIN)/python -m ncsn cost $(CONFIG) --plan $$plan; status=$$?; rm -f $$plan; exit $$status

test: setup test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# Rewrite the Snakefile, the rules and the Python code the way the style tests check them.
format: setup
	$(BIN)/snakefmt .
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Keeps reports/laptop/, the published (tracked) report.
clean-results:
	rm -rf results/* .snakemake
	find reports -mindepth 1 -maxdepth 1 ! -name laptop ! -name .gitkeep -exec rm -rf {} +
	touch results/.gitkeep reports/.gitkeep
