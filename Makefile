# quant-assets: `make demo` runs the whole graph on the bundled data; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export QUANT_HOME ?= $(CURDIR)/.quant
export DAGSTER_HOME ?= $(QUANT_HOME)/dagster
export BENTOML_HOME ?= $(QUANT_HOME)/bentoml
export BENTOML_DO_NOT_TRACK := True
export MLFLOW_ENABLE_TELEMETRY := false
export PYTHONWARNINGS ?= ignore::DeprecationWarning
# XGBoost's OpenMP threads spin while they wait; on a busy 2-core machine that made one fit 6x slower.
export OMP_WAIT_POLICY ?= PASSIVE
PORT ?= 3001

.PHONY: install demo test dev serve lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install  ## materialise the whole graph on the bundled data and print a summary
	$(BIN)/quant demo --fresh

test: install  ## the test suite (CI runs this)
	$(BIN)/pytest

dev: install  ## Dagster UI on http://127.0.0.1:3000
	mkdir -p $(DAGSTER_HOME) && cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

serve: install  ## the champion's bento on http://127.0.0.1:$(PORT) (after make demo)
	$(BIN)/bentoml serve quant_forecaster:latest --host 127.0.0.1 --port $(PORT)

lint: install
	$(BIN)/ruff check quant_assets tests bentos feature_repo benchmarks

clean:
	rm -rf $(QUANT_HOME)
