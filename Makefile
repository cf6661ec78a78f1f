# Two commands for a newcomer: `make book` and `make test`. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# pytest workers for the slow notebook and grading tests
JOBS   ?= 2

.PHONY: help install book test test-unit test-notebooks test-grading release clean

help:
	@echo "make book   build the book (executing every chapter) into _build/html"
	@echo "make test   run the whole test suite"
	@echo "make release [ASSIGNMENT=ps2_upsampling]  regenerate exercises/ from solutions/ with nbgrader"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# Pinned here because they lie on this machine's disk; pyproject.toml allows a range for users.
	$(BIN)/python -m pip install "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

install: $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "Open file://$(CURDIR)/_build/html/index.html"

# The whole suite: unit tests, the book build (which executes every chapter once, warnings
# as errors), nbval on the solution notebooks, and the nbgrader round trip.
test: $(STAMP) test-unit book test-notebooks test-grading

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not grading" --doctest-modules seglib tests -n $(JOBS)

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider solutions -n $(JOBS) --dist loadfile

test-grading: $(STAMP)
	$(BIN)/python -m pytest -m grading tests -n $(JOBS) --dist loadfile

ASSIGNMENT ?= $(notdir $(wildcard solutions/*))
release: $(STAMP)
	for a in $(ASSIGNMENT); do $(BIN)/nbgrader generate_assignment $$a --force --no-db || exit 1; done

clean:
	rm -rf _build
