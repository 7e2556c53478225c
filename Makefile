# Two commands on a fresh machine with only Python 3:
#   make demo   train a lecture model in NumPy and in torch, side by side
#   make test   run the parity suite
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Parallel test workers (pytest-xdist); each worker runs single-threaded.
WORKERS ?= 2

.PHONY: install test test-deep demo bench bench-quick profile clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) -q parity_tests

test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -n $(WORKERS) -q parity_tests

demo: $(STAMP)
	mkdir -p runs
	$(PY) -m scratchnet train --model basic-cnn --engine both --epochs 5 \
		--json runs/demo.json --plot runs/demo.png

bench: $(STAMP)
	$(PY) -m benchmarks.run --rounds 6 --target-s 0.2

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick

profile: $(STAMP)
	$(PY) -m benchmarks.profile

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
