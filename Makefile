# Two commands on a fresh machine with only Python 3:
#   make demo   train a lecture model in NumPy and in torch, side by side
#   make test   run the parity suite
#   make test-lowest   the same suite with the oldest versions pyproject.toml admits
#   make docs   build the documentation site into docs/_build/html (works offline)
# Benchmarks write into benchmarks/out/ (git ignores it); only bench-results and
# profile-results replace the committed results in benchmarks/results/.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Parallel test workers (pytest-xdist); each worker runs single-threaded.
WORKERS ?= 2

.PHONY: install test test-lowest test-deep mutants demo bench bench-quick profile floor epoch-budget bench-results profile-results floor-results epoch-budget-results docs gpu-check clean

# A machine without a GPU: `make test TORCH_INDEX=https://download.pytorch.org/whl/cpu`
# takes torch's and torchvision's CPU-only wheels from that index first (a few hundred MB;
# PyPI's torch for Linux is the CUDA build, several GB). The two come from one index
# because a torchvision wheel imports only beside the torch build it was made for.
# Empty: everything from the default index.
TORCH_INDEX ?=

DOCS_STAMP := $(VENV)/.docs-installed
# -W --keep-going: every warning fails the build, and all of them are reported.
SPHINXOPTS ?= -W --keep-going -q

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install -q -c constraints.txt torch torchvision --index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

$(DOCS_STAMP): pyproject.toml constraints.txt docs/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install -q -c constraints.txt torch torchvision --index-url $(TORCH_INDEX))
	$(PY) -m pip install -q -c constraints.txt -c docs/constraints.txt -e '.[docs]'
	touch $(DOCS_STAMP)

# The site, from scratch (-E: every page re-read, so every warning is seen): first the
# worked examples of the pages run as doctests (the gallery is not executed there),
# then the HTML build, which runs the gallery and embeds its output and figures.
docs: $(DOCS_STAMP)
	$(PY) -m sphinx -b doctest -E $(SPHINXOPTS) -D plot_gallery=0 docs docs/_build/doctest
	$(PY) -m sphinx -b html -E $(SPHINXOPTS) docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

test: $(STAMP)
	$(PY) -m pytest -n $(WORKERS) -q parity_tests

# The lowest-versions run: its own venv, every dependency at the floor pyproject.toml
# declares (requirements-lowest.txt pins them and all they pull in, so nothing is
# resolved), scratchnet itself editable without its extras' dependencies (no
# torchvision: its tests skip there). SCRATCHNET_LOWEST=1 makes the suite check that
# the installed versions are those floors.
LOWEST ?= .venv-lowest
LOWEST_STAMP := $(LOWEST)/.installed

$(LOWEST_STAMP): pyproject.toml requirements-lowest.txt
	$(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install -q -r requirements-lowest.txt
	$(LOWEST)/bin/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(LOWEST_STAMP)

test-lowest: $(LOWEST_STAMP)
	SCRATCHNET_LOWEST=1 $(LOWEST)/bin/python -m pytest -n $(WORKERS) -q parity_tests

test-deep: $(STAMP)
	HYPOTHESIS_PROFILE=deep $(PY) -m pytest -n $(WORKERS) -q parity_tests

# Plant one-token mutants in the ops, optimizers and Sequential and run the covering tests on
# each (slow: hours for every site); MUTANTS="--max-per-file 10" for a sample. Writes
# build/mutants/report.md and report.json; fails if a survivor is not argued equivalent.
MUTANTS ?=
mutants: $(STAMP)
	$(PY) -m tools.mutants --jobs $(WORKERS) $(MUTANTS)

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

# Each lecture model's step and layers at batch 64 against the machine's floor (FLOOR.md).
floor: $(STAMP)
	$(PY) -m benchmarks.floor --out benchmarks/out

# Where each lecture model's epoch goes on full MNIST (steps, batches, evaluation, logging,
# page faults, warm-up), the engines taking turns (EPOCH_BUDGET.md). MNIST_DIR: the four IDX files.
MNIST_DIR ?= data
epoch-budget: $(STAMP)
	$(PY) -m benchmarks.epoch_budget --data-dir $(MNIST_DIR) --epochs 3 --out benchmarks/out

# The committed results the README quotes: run these on purpose, on an idle machine.
bench-results: $(STAMP)
	$(PY) -m benchmarks.run --rounds 6 --target-s 0.2 --out benchmarks/results

profile-results: $(STAMP)
	$(PY) -m benchmarks.profile --out benchmarks/results

floor-results: $(STAMP)
	$(PY) -m benchmarks.floor --out benchmarks/results

epoch-budget-results: $(STAMP)
	$(PY) -m benchmarks.epoch_budget --data-dir $(MNIST_DIR) --epochs 3 --out benchmarks/results

# On a machine with a GPU, with the torch (>= 2.1) it already has: no venv, no install, no
# network; under 5 minutes. Writes benchmarks/results/gpu_check.json and GPU_CHECK.md.
# Without a CUDA device it says so and exits 0 (python -m benchmarks.gpu_check --require-gpu: 2).
gpu-check:
	PYTHONPATH=. $(PYTHON) -m benchmarks.gpu_check --out benchmarks/results

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .hypothesis docs/_build docs/lectures
