# Two commands for a newcomer: `make book` and `make test`. Both create .venv when it is missing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
# pytest workers for the slow notebook and grading tests
JOBS   ?= 2

.PHONY: help install book chapter-times test data zoo test-unit test-colab test-notebooks test-grading release clean grade student-bundle chromium sandbox postgres test-browser vendor-js

help:
	@echo "make book   build the book (executing every chapter) into _build/html"
	@echo "make test   run the whole test suite"
	@echo "make chapter-times [CHAPTERS=book/04_fcn.ipynb]  execute chapters; wall and kernel CPU time per chapter and slowest cells"
	@echo "make release [ASSIGNMENT=ps2_upsampling]  regenerate exercises/ from solutions/ with nbgrader"
	@echo "make grade ASSIGNMENT=ps2_upsampling  intake, autograde with feedback, then the class report"
	@echo "make student-bundle [BUNDLE=dir]  build the book, then write the public student repository"
	@echo "make zoo    retrain every model of seglib.zoo on this machine (about 40 min on 2 CPU cores)"
	@echo "make data   repack seglib/_data from the full-size copies in SHARED_DATA"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# Pinned here because they lie on this machine's disk; pyproject.toml allows a range for users.
	$(BIN)/python -m pip install "torch==2.14.1" "torchvision==0.29.1"
	$(BIN)/python -m pip install -e ".[test]"
	touch $@

install: $(STAMP)

# A second, small environment pinned to what Colab runs (ipywidgets 7.7.1, whose widget manager
# cannot draw ipywidgets 8, IPython 7.34, ipykernel 6.17), with a CPU build of torch from this
# machine's disk: the widget tests and the chapters' explorer cells run there too (test-colab).
COLAB_VENV  := .venv-colab
COLAB_STAMP := $(COLAB_VENV)/.installed-stamp
$(COLAB_STAMP): pyproject.toml
	test -x $(COLAB_VENV)/bin/python || $(PYTHON) -m venv $(COLAB_VENV)
	$(COLAB_VENV)/bin/python -m pip install "torch==2.13.0" "ipywidgets==7.7.1" "ipython==7.34.0" "ipykernel==6.17.*" \
	  "numpy>=1.24" "pytest>=8" "pytest-xdist>=3.5" "hypothesis>=6.100"
	$(COLAB_VENV)/bin/python -m pip install --no-deps -e .
	touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going
	@echo "Open file://$(CURDIR)/_build/html/index.html"

# Each chapter's wall time and kernel CPU time, and its slowest cells (tools/chapter_times.py says
# which number is which). BUSY=2 runs two CPU-bound processes beside them, as the timing target says.
CHAPTERS ?=
BUSY     ?= 0
chapter-times: $(STAMP)
	$(BIN)/python tools/chapter_times.py --busy $(BUSY) $(CHAPTERS)

# The whole suite: unit tests, the book build (which executes every chapter once, warnings
# as errors), every built page checked in headless Chromium, and the nbgrader round trips, which
# autograde every reference solution (so each solution notebook also runs once; `make
# test-notebooks` runs them under nbval alone, for quicker feedback while writing one).
#
# The book executes its chapters one at a time, each on one thread, which leaves a core idle:
# the unit and widget tests run beside it (make -j2), and the browser and grading tests after.
test: $(STAMP)
	$(MAKE) -j2 --output-sync=target test-unit test-colab book
	$(MAKE) test-browser test-grading

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m "not grading and not browser" --doctest-modules seglib tests -n $(JOBS)

# The widget tests under Colab's ipywidgets 7.7.1 (test-unit runs them under ipywidgets 8).
test-colab: $(COLAB_STAMP)
	$(COLAB_VENV)/bin/python -m pytest -p no:cacheprovider tests/test_widgets_static.py tests/test_widgets.py tests/test_widgets_more.py -n $(JOBS)

test-notebooks: $(STAMP)
	$(BIN)/python -m pytest --nbval-lax -p no:cacheprovider solutions -n $(JOBS) --dist loadfile

test-grading: $(STAMP) sandbox postgres
	$(BIN)/python -m pytest -m grading tests -n $(JOBS) --dist loadgroup

ASSIGNMENT ?= $(notdir $(wildcard solutions/*))
release: $(STAMP)
	for a in $(ASSIGNMENT); do $(BIN)/nbgrader generate_assignment $$a --force --no-db || exit 1; done

# The instructor's grading flow for received submissions (see README, "Instructors").
# Intake's exit status is ignored: its table names the submissions it could not fix, and the
# report lists them again.
grade: $(STAMP) sandbox
	for a in $(ASSIGNMENT); do \
	  $(BIN)/python -m grading intake $$a; \
	  $(BIN)/python -m grading autograde $$a --feedback; \
	done; $(BIN)/python -m grading report $(ASSIGNMENT)

# The public student repository (book, built book, exercises, seglib; no solutions or grading).
# BUNDLE may be a clone of the public repository: its contents are replaced, its .git is kept.
BUNDLE ?= _build/student-repo
student-bundle: book
	$(BIN)/python -m grading bundle $(BUNDLE) --force

clean:
	rm -rf _build

# The real data shipped in seglib/_data, repacked (downsampled) from the full-size copies.
SHARED_DATA ?= ../shared/data
data: $(STAMP)
	$(BIN)/python tools/pack_real_data.py $(SHARED_DATA) seglib/_data

# Retrain the model zoo (seglib/_zoo/*.pt): each model's card records its command, seed, steps,
# wall time, device and held-out metrics. Idle CPU threads sleep instead of spinning.
ZOO ?=
zoo: $(STAMP)
	OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m seglib.zoo train $(ZOO)

# The browser test (tests/test_book_html.py) opens every page of the built book in headless
# Chromium, driven by Playwright. It uses Debian's chromium package: `playwright install`
# would download a browser of its own. Elsewhere, point CHROMIUM at a Chromium or Chrome.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
SUDO     := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# Students' code is autograded inside a bubblewrap sandbox (grading/sandbox.py): Debian's
# bubblewrap package. Elsewhere install bubblewrap with the system's package manager.
sandbox:
	@if command -v bwrap >/dev/null; then echo "bubblewrap: $$(command -v bwrap)"; else \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y bubblewrap; fi

# The distributed grading test (tests/test_grading_distributed.py) starts a PostgreSQL server of its
# own in a temporary folder: Debian's postgresql package (its binaries in /usr/lib/postgresql/*/bin).
postgres:
	@if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null; then echo "postgresql: $$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | head -1)"; else \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y postgresql; fi

chromium:
	@if [ -n "$(CHROMIUM)" ]; then echo "chromium: $(CHROMIUM)"; else \
	  $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; fi

# Tests the book as it was last built into _build/html: run `make book` first.
test-browser: $(STAMP) chromium
	CHROMIUM="$$(command -v $(or $(CHROMIUM),chromium))" $(BIN)/python -m pytest -m browser tests/test_book_html.py

# Re-fetch the JavaScript that book/_static vendors (see book/_static/README.txt) from npm.
MATHJAX_VERSION      := 3.2.2
VENDOR_TMP           := build/vendor-js

vendor-js:
	rm -rf $(VENDOR_TMP) && mkdir -p $(VENDOR_TMP)
	cd $(VENDOR_TMP) && npm pack --silent mathjax@$(MATHJAX_VERSION)
	cd $(VENDOR_TMP) && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar xzf "$$f" -C "$${f%.tgz}"; done
	cp $(VENDOR_TMP)/mathjax-$(MATHJAX_VERSION)/package/es5/tex-chtml-full.js book/_static/mathjax/
	mkdir -p book/_static/mathjax/output/chtml/fonts
	cp -r $(VENDOR_TMP)/mathjax-$(MATHJAX_VERSION)/package/es5/output/chtml/fonts/woff-v2 book/_static/mathjax/output/chtml/fonts/
	cp $(VENDOR_TMP)/mathjax-$(MATHJAX_VERSION)/package/LICENSE book/_static/mathjax/LICENSE
	sha256sum book/_static/mathjax/*.js
