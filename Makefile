# The two commands of the README:
#   make study   set up (virtualenv + packages) and run the study at CPU scale (config/quick.yaml)
#   make test    set up and run the test suite
#   make laptop  the study sized to decide the poster's claims on a 2-core CPU (config/laptop.yaml, hours)
# Everything else here is a building block of those two, or the full-scale / cluster variants.

PYTHON  ?= python3.11
VENV    ?= .venv
CORES   ?= 2
CONFIG  ?= config/quick.yaml
SNAKE_ARGS ?=

BIN       := $(VENV)/bin
STAMP     := $(VENV)/.installed
SNAKEMAKE := $(BIN)/snakemake

.PHONY: setup system-deps test-deps study laptop full dry-run report test test-fast format clean-results help unlock-stale gpu-check

help:
	@echo "make study      set up and run the CPU-scale study (CONFIG=$(CONFIG), CORES=$(CORES))"
	@echo "make laptop     set up and run the study that decides the poster's claims on a 2-core CPU (config/laptop.yaml)"
	@echo "make full       set up and run the paper-scale study (config/config.yaml; meant for a GPU)"
	@echo "make test       set up and run every test"
	@echo "make dry-run    show the jobs the study would run, and their cost on paper"
	@echo "make format     format the Snakefile, rules and Python as the style tests expect"
	@echo "make gpu-check  on a CUDA machine: GPU tests, tiny profile on cuda, benchmark (run first on a GPU)"

# The virtualenv is (re)built whenever the pinned requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; install Python 3.11 or pass PYTHON=/path/to/python3.11"; exit 1; }
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
# this checkout is running (a running one keeps its lock). Incomplete outputs of killed jobs are redone
# (--rerun-incomplete); training resumes from its last checkpoint.
unlock-stale:
	@if [ -n "$$(ls -A .snakemake/locks 2>/dev/null)" ] && ! pgrep -f "$(abspath $(BIN))/[s]nakemake " >/dev/null; then \
	    echo "removing the lock of an interrupted run (no Snakemake of this checkout is running)"; \
	    $(SNAKEMAKE) --unlock --configfile $(CONFIG) --quiet all >/dev/null; fi

study: setup unlock-stale
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
