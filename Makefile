# Quick start: `make run` (the whole pipeline) and `make test` (the whole suite).
# Both create .venv on a fresh machine; torch is pinned through constraints.txt.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install -q -c constraints.txt
STAMP  := $(VENV)/.installed

.PHONY: venv test-tools lint run test test-unit test-integration test-evaluation bench demo train eval clean

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

# promtool and the Prometheus server for the alert-rule tests (installed when missing, as root).
test-tools:
	bash .ci/test-tools

# The import contracts in .importlinter: layers one way, no cycles, services off offline tools.
lint: venv
	$(BIN)/lint-imports

# The suite checks the import contracts itself (tests/unit/test_architecture.py runs lint-imports).
test: venv test-tools
	$(BIN)/python -m pytest -q -ra tests

test-unit: venv
	$(BIN)/python -m pytest -q -ra tests/unit

test-integration: venv
	$(BIN)/python -m pytest -q -ra tests/integration

# The documented figures (model card, cascade threshold) reproduced with the shipped model; part of `make test`.
test-evaluation: venv
	$(BIN)/python -m pytest -q -ra tests/evaluation

# Every benchmark, one after another; docs/benchmarks.md records the figures and the exact commands.
BENCH_DIR ?= var/bench
bench: venv
	mkdir -p $(BENCH_DIR)
	$(BIN)/abusewatch bench --json $(BENCH_DIR)/inference.json
	$(BIN)/abusewatch bench --pipeline --json $(BENCH_DIR)/pipeline.json
	$(BIN)/abusewatch simulate --out $(BENCH_DIR)/scenario --seed 9 --hours 1 --targets 5000 --gzip
	$(BIN)/abusewatch replay $(BENCH_DIR)/scenario/post-scores.jsonl.gz --truth $(BENCH_DIR)/scenario/truth.jsonl --json
	$(BIN)/python -m abusewatch.offline.bench.detection --targets 200000
	$(BIN)/python -m abusewatch.offline.bench.language
	$(BIN)/python -m abusewatch.offline.bench.detector_ceiling $(BENCH_DIR)/scenario/post-scores.jsonl.gz --posts 150000
	$(BIN)/python -m abusewatch.offline.bench.detector_service $(BENCH_DIR)/scenario/post-scores.jsonl.gz --posts 150000
	$(BIN)/python -m abusewatch.offline.bench.api --clients 1000 --seconds 30 --json $(BENCH_DIR)/api-overload.json
	$(BIN)/python -m abusewatch.offline.bench.evidence --runs 5
	$(BIN)/python -m abusewatch.offline.bench.merge

train: venv
	$(BIN)/abusewatch train

eval: venv
	$(BIN)/abusewatch eval

clean:
	rm -rf $(VENV) build *.egg-info var
