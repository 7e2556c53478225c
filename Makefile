# Two commands on a fresh machine with only Python 3:
#   make demo   train a lecture model in NumPy and in torch, side by side
#   make test   run the parity suite
# Benchmarks write into benchmarks/out/ (git ignores it); only bench-results and
# profile-results replace the committed results in benchmarks/results/.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Parallel test workers (pytest-xdist); each worker runs single-threaded.
WORKERS ?= 2

.PHONY: install test test-deep demo bench bench-quick profile bench-results profile-results clean

# A machine without a GPU: `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# takes torch's CPU-only wheel from that index first (a few hundred MB; PyPI's torch for
# Linux is the CUDA build, several GB). Empty: everything from the default index.
TORCH_INDEX ?=

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install -q -c constraints.txt torch --index-url $(TORCH_INDEX))
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
	$(PY) -m benchmarks.run --rounds 6 --target-s 0.2 --out benchmarks/out

bench-quick: $(STAMP)
	$(PY) -m benchmarks.run --quick --out benchmarks/out/quick

profile: $(STAMP)
	$(PY) -m benchmarks.profile --out benchmarks/out

# The committed results the README quotes: run these on purpose, on an idle machine.
bench-results: $(STAMP)
	$(PY) -m benchmarks.run --rounds 6 --target-s 0.2 --out benchmarks/results

profile-results: $(STAMP)
	$(PY) -m benchmarks.profile --out benchmarks/results

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
