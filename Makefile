# Two commands for a new user: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
ROOT := $(abspath .)
RUN_DIR := $(ROOT)/.run

# A project-local Airflow: SQLite metadata DB, no examples, DAGs and plugins from this repo.
export AIRFLOW_HOME := $(ROOT)/airflow_home
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN ?= sqlite:///$(ROOT)/airflow_home/airflow.db
export AIRFLOW__CORE__PARALLELISM := 4
export AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG := 2
export AIRFLOW__SCHEDULER__PARSING_PROCESSES := 1
export RETRAIN_BUCKET ?= retrain-dev
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: help install demo demo-rossmann test lint bench up down lock clean

help:
	@echo "make demo    - install, start a local S3, run the weekly DAG over 12 synthetic weeks, print a summary"
	@echo "make demo-rossmann - the real Rossmann weekly DAG over the last real weeks of ../shared/reference"
	@echo "make test    - install and run the whole test suite (unit, integration, DAG, full stack)"
	@echo "make up      - local Airflow UI (airflow standalone, own fresh DB in .run/stack) against a local S3 with"
	@echo "               sample weeks landed; prints what to trigger; make down stops it"
	@echo "make bench   - time each stage of one retraining run on ~1M rows"
	@echo "make lint    - ruff"

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Installs exactly the committed locks (runtime + test tools) and the bundle in editable mode.
# --compile-bytecode: uv writes no .pyc by default and PYTHONDONTWRITEBYTECODE (above, and on this
# machine) keeps Python from writing them, so every task process, test and demo run would compile
# pandas, scikit-learn, Great Expectations and Airflow from source again (their imports took 30 s
# instead of 12 s under load; pip, as in the Dockerfile, compiles by default).
$(VENV)/.installed: requirements.lock requirements-dev.lock pyproject.toml | $(BIN)/uv
	$(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python -r requirements.lock -r requirements-dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	$(BIN)/python -m pip check
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/retrain demo --model fraud --start 2026-01-05 --weeks 12 --scenario demo

# The real weekly DAG over the last 4 real weeks of ../shared/reference (all stores; takes a while).
demo-rossmann: install
	$(BIN)/retrain demo --model rossmann --real --weeks $(or $(WEEKS),4)

# pytest exits 5 when it collected no test: that is a failure here, never a pass.
test: install
	@$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$status

lint: install
	$(BIN)/ruff check dags include plugins tests tools

bench: install
	$(BIN)/python -m retrain_dev.bench
	$(BIN)/python -m retrain_dev.bench_rossmann_real

up: install
	@$(BIN)/retrain dev up

down:
	@if [ -x $(BIN)/retrain ]; then $(BIN)/retrain dev down; fi

# Regenerate the locks after editing requirements*.txt (needs PyPI).
lock: | $(BIN)/uv
	$(BIN)/uv pip compile requirements.txt --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements.lock
	$(BIN)/uv pip compile requirements-dev.txt -c requirements.lock --python-version 3.11 --python-platform x86_64-manylinux_2_28 --generate-hashes -o requirements-dev.lock

clean: down
	rm -rf $(VENV) airflow_home .run .pytest_cache
