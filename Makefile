# biotwin: two commands on a fresh machine, `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test lint bench clean

$(STAMP): pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	cd tests/interop && (npm ci --no-audit --no-fund --silent || npm install --no-audit --no-fund --silent) || echo 'npm failed: the node-opcua interop test will skip'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/biotwin demo --out biotwin-out

test: $(STAMP)
	$(BIN)/python -m pytest -q tests

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/biotwin bench ensemble --n 20000

clean:
	rm -rf $(VENV) biotwin-out biotwin-data
