# Quick start: `make run` (the whole pipeline) and `make test` (the whole suite).
# Both create .venv on a fresh machine; torch is pinned through constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: venv run test test-unit test-integration bench demo train eval clean

venv: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) torch==2.13.0
	$(PIP) -e '.[test]'
	touch $(STAMP)

run: venv
	$(BIN)/abusewatch run

demo: venv
	$(BIN)/abusewatch demo

test: venv
	$(BIN)/python -m pytest -q -ra tests

test-unit: venv
	$(BIN)/python -m pytest -q -ra tests/unit

test-integration: venv
	$(BIN)/python -m pytest -q -ra tests/integration

bench: venv
	$(BIN)/abusewatch bench

train: venv
	$(BIN)/abusewatch train

eval: venv
	$(BIN)/abusewatch eval

clean:
	rm -rf $(VENV) build *.egg-info var
