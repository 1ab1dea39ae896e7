# Everything runs inside .venv, which this Makefile creates; nothing relies on what the machine has.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# make derive: every spec in specs/, or one with SPEC=specs/foo.toml; make train: xor by default.
SPEC   ?=
TRAIN_SPEC := $(if $(SPEC),$(SPEC),specs/xor.toml)
# Quoted in every recipe, so that a spec path may hold spaces.
NAME    = $$(basename "$(TRAIN_SPEC)" .toml)

.PHONY: help setup setup-torch bench derive train notebook report test test-all lint readme mutate clean

help:
	@echo "make train   - set up .venv, derive if stale, train the XOR network (outputs in out/)"
	@echo "make test    - run the test suite (fast checks; 'make test-all' adds the slow ones)"
	@echo "make notebook - run generated/xor.ipynb, write the executed copy to out/xor.ipynb"
	@echo "make report  - out/report.tex (and out/report.pdf where pdflatex exists) of the run in out/"
	@echo "make derive  - re-derive gradients and rewrite generated/ (byte-identical every run)"
	@echo "make setup-torch - add the optional PyTorch referee (train.py --compare-torch)"
	@echo "make lint    - ruff over hand-written and generated code"
	@echo "make bench   - benchmarks: derivation time by network size, generated code speed"
	@echo "make readme  - rerun the README's example and rewrite its output block"
	@echo "make mutate  - plant known bugs one at a time in a scratch copy; each must fail a test"

# Only the dependencies are installed: the tool runs from this folder, so nothing is built
# (an editable build of the project prints a setuptools warning box a student takes for an error).
REQUIREMENTS = $(PY) -c 'import sys, tomllib; p = tomllib.load(open("pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + [r for x in sys.argv[1:] for r in p["optional-dependencies"][x]]))'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(REQUIREMENTS) dev > $(VENV)/requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(VENV)/requirements.txt
	touch $(STAMP)

setup: $(STAMP)

# The optional PyTorch referee (tests skip its checks, saying why, where it is missing).
setup-torch: $(STAMP)
	$(REQUIREMENTS) torch > $(VENV)/requirements-torch.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(VENV)/requirements-torch.txt

derive: $(STAMP)
	$(PY) -m derive $(if $(SPEC),"$(SPEC)",--all)

train: $(STAMP)
	$(PY) -m derive "$(TRAIN_SPEC)" --if-stale
	$(PY) train.py --spec "$(TRAIN_SPEC)" $(ARGS)

notebook: $(STAMP)
	$(PY) -m derive "$(TRAIN_SPEC)" --if-stale
	$(PY) -m derive.execute_notebook "generated/$(NAME).ipynb" "out/$(NAME).ipynb"

# The run in out/ (trained first if there is none), written up as a LaTeX article.
report: $(STAMP)
	test -f out/params.json || $(MAKE) train
	$(PY) -m trainer.report --run out $(if $(SPEC),--spec "$(NAME)")

test: $(STAMP)
	$(PY) -m pytest -m "not slow" -q -n auto --maxprocesses 4

test-all: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses 4

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) bench/train_bench.py
	$(PY) bench/derive_bench.py

readme: $(STAMP)
	$(PY) tests/readme_example.py

# Not part of `make test`: a few minutes; see tests/mutate.py for the list of planted bugs.
mutate: $(STAMP)
	$(PY) tests/mutate.py

clean:
	rm -rf out .pytest_cache .hypothesis
