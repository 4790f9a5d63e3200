# Everything sets itself up: a fresh clone needs only Python >= 3.10 and `make test` / `make demo`.
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
PLUGINS := tests/plugins/losskit_demo_plugin tests/plugins/losskit_broken_plugin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
# Reference implementations for the parity tests. They need torchvision (no CPU build here), so they are installed
# without dependencies and the tests load their loss files directly (tests/_references.py); keep in step with it.
REFERENCES := timm==1.0.31 segmentation-models-pytorch==0.6.0 pytorch-toolbelt==0.8.0
# Packages whose data files the comparisons read (never imported), installed without their dependencies; the
# [data] extra installs them in full for users.
DATA_FILES := "scikit-learn>=1.3" "nilearn>=0.10"

.PHONY: install lint test test-inductor demo bench docs clean

install: $(STAMP)

# torch first (from $(TORCH), so a CUDA or nightly build can be chosen), then pinned to what was installed
# so that no later step swaps it for a different build. --no-compile: no .pyc for every file of every package at
# install time (30 s of torch's 42 s here); Python compiles what it imports, when it imports it.
$(STAMP): pyproject.toml Makefile $(wildcard tests/plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile $(TORCH) numpy
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet --no-compile -c $(VENV)/constraints.txt -e ".[test,cli,bench]" $(PLUGINS)
	$(BIN)/python -m pip install --quiet --no-compile --no-deps $(REFERENCES) $(DATA_FILES)
	touch $@

# The style and type gate (configured in pyproject.toml): ruff over everything, mypy --strict over src/losskit.
# All three run (every finding in one go); the target fails if any of them found something.
lint: $(STAMP)
	@status=0; \
	$(BIN)/ruff check src tests benchmarks || status=1; \
	$(BIN)/ruff format --check src tests benchmarks || status=1; \
	$(BIN)/mypy || status=1; \
	exit $$status

# The gate first, so CI (.ci/run) fails on a finding before spending minutes on the suite.
test: lint
	$(BIN)/python -m pytest -n 2 -q tests

# The every-built-in compile test under inductor (make test runs it under aot_eager, and a representative set under
# inductor): ~6 minutes on 2 cores.
test-inductor: $(STAMP)
	LOSSKIT_TEST_COMPILE_BACKEND=inductor $(BIN)/python -m pytest -n 2 -q tests/test_conformance.py -k every_builtin

# The demo needs only the [cli] extra and the data files, not the test references. losskit reads the files that
# scikit-learn and nilearn ship without importing either, so they are installed without their dependencies
# (SciPy, pandas, ...) here and a fresh clone starts the demo sooner; `pip install 'losskit[data]'` is the full set.
$(DEMO_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --no-compile $(TORCH) numpy
	$(BIN)/python -c "import torch; print('torch==' + torch.__version__.split('+')[0])" > $(VENV)/constraints.txt
	$(BIN)/python -m pip install --quiet --no-compile -c $(VENV)/constraints.txt -e ".[cli]" "nibabel>=5" "pillow>=9"
	$(BIN)/python -m pip install --quiet --no-compile --no-deps $(DATA_FILES)
	touch $@

# Real-data comparisons (segmentation on MNI152, classification on long-tailed digits; 3 seeds each), a loss drawn.
demo: $(DEMO_STAMP)
	$(BIN)/python examples/demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

docs: $(STAMP)
	$(BIN)/python -m losskit docs --out docs/losses.md
	$(BIN)/python -m losskit schema --builtin-only --out docs/losskit.schema.json

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache
