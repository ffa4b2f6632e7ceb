PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEVSTAMP := $(VENV)/.installed-dev

.PHONY: demo test lint pytest bench bench-methods bench-recommend bench-web bench-large-import bench-spark clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(DEVSTAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,spark]'
	touch $@ $(STAMP)

## make demo: install, then segment the bundled Online Retail sample into out/
demo: $(STAMP)
	$(BIN)/clustomer demo --workspace out/demo.duckdb --out out

## make test: lint (ruff, mypy on src/) and the test suite
test: lint pytest

lint: $(DEVSTAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

pytest: $(DEVSTAMP)
	$(BIN)/pytest

## make bench: 10M-line synthetic benchmark (not a test), then the fit time of every
## segmentation method on its 450,000 customers, then recommendations for all of them;
## writes bench/results.json, bench/methods.json, bench/recommend.json
bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/methods.py
	$(BIN)/python bench/recommend.py

## make bench-web: POST /api/v1/score latency and req/s at 1 and 32 clients (after make demo)
bench-web: $(DEVSTAMP)
	$(BIN)/python bench/web.py

## make bench-large-import: import a ~2 GB CSV; peak memory and the progress bar (bench/large_import.json)
bench-large-import: $(STAMP)
	$(BIN)/python bench/large_import.py

## make bench-spark: the 10M-line benchmark on DuckDB and on Spark local[2], stage by stage;
## writes bench/spark.json (needs Java 17)
bench-spark: $(DEVSTAMP)
	$(BIN)/python bench/spark.py

## make bench-recommend: top-10 recommendations for the 450,000 customers; bench/recommend.json
bench-recommend: $(STAMP)
	$(BIN)/python bench/recommend.py

## make bench-methods: fit time per segmentation method, 450,000 customers; writes bench/methods.json
bench-methods: $(STAMP)
	$(BIN)/python bench/methods.py

clean:
	rm -rf out .pytest_cache .mypy_cache .ruff_cache
