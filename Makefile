# Two commands on a fresh clone: `make demo` and `make test`. Each makes .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/holovitals demo

test: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench

bench: $(STAMP)
	$(BIN)/python bench/store_upsert.py
	$(BIN)/python bench/sandbox_serve.py
	$(BIN)/python bench/sync_throughput.py
	$(BIN)/python bench/hl7_parse.py
	$(BIN)/python bench/hl7_convert.py
	$(BIN)/python bench/mllp_throughput.py --workers 2

clean:
	rm -rf $(VENV) .holovitals .pytest_cache
