# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Each creates .venv when missing and installs everything it needs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FASHION_DIR := /usr/share/datasets/fashion-mnist

.PHONY: demo test test-fast lint benchmarks fashion-mnist browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch is pinned exactly: pip takes the CPU build from local disk (a looser pin pulls CUDA).
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet 'torch==2.13.0'
	$(BIN)/python -m pip install --quiet -e '.[dev,ray]'
	touch $(STAMP)

# Fashion-MNIST from Debian's package when missing and apt is usable; otherwise say how.
fashion-mnist:
	@if [ -f $(FASHION_DIR)/train-images-idx3-ubyte.gz ]; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	  || echo "note: apt-get could not install dataset-fashion-mnist; Fashion-MNIST tests skip"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
	  || echo "note: apt-get could not install dataset-fashion-mnist; Fashion-MNIST tests skip"; \
	else \
	  echo "note: Fashion-MNIST is missing: run 'apt-get install dataset-fashion-mnist' as root,"; \
	  echo "      or pass --data-dir to a folder with its idx files. The demo runs on digits."; \
	fi

# Debian's Chromium for the report's browser test (driven by the playwright package; no browser
# download). Without apt the test skips and says why.
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: apt-get could not install chromium; the browser test skips"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  (sudo apt-get update -qq && sudo apt-get install -y -qq chromium >/dev/null) \
	  || echo "note: apt-get could not install chromium; the browser test skips"; \
	else \
	  echo "note: Chromium is missing: run 'apt-get install chromium' as root; the browser"; \
	  echo "      test of report.html skips until then."; \
	fi

# One torch/BLAS thread per test process: the tests' models are tiny, and two threads on a
# busy 2-core machine are many times slower than one. Bytecode caches are kept even where the
# shell sets PYTHONDONTWRITEBYTECODE: without them pytest rewrites the asserts of every test
# module again on every run (4 s of collection here; docs/performance.md, "The test suite").
test: $(STAMP) fashion-mnist browser
	env -u PYTHONDONTWRITEBYTECODE OMP_NUM_THREADS=1 $(BIN)/pytest -q

# the edit-and-check loop: every test but the end-to-end ones marked slow (make test runs all)
test-fast: $(STAMP) fashion-mnist browser
	env -u PYTHONDONTWRITEBYTECODE OMP_NUM_THREADS=1 $(BIN)/pytest -q -m "not slow"

demo: $(STAMP) fashion-mnist
	$(BIN)/ftunlearn theory --out runs/demo/theory
	$(BIN)/ftunlearn bench --preset quick --out runs/demo/quick --cache-dir runs/cache --threads 1
	@echo
	@echo "linear lab:  runs/demo/theory/ (results.json, results.csv, figures)"
	@echo "benchmark:   runs/demo/quick/report.html, report.md, summary.csv"

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs/tools

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/bench_fit_loop.py
	$(BIN)/python benchmarks/bench_linear.py

clean:
	rm -rf runs .pytest_cache .ruff_cache
