# minivision: every target sets up what it needs.
#   make serve   set up, build the docs site and serve it on http://127.0.0.1:$(PORT)
#   make test    set up, then run the whole test suite (pytest, nbval over the lessons, strict site build, browser)
#   make pages   the site with the student notebooks, as .github/workflows/pages.yml publishes it
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
SHARED_DATA ?= ../shared/data
# Where `make data` unpacks CIFAR-10: minivision's default data folder. Not exported unless you
# set it: with MINIVISION_DATA set, the lessons' checkpoints move there too (model_cache), so a
# lesson run by make and one run in Jupyter share ~/.cache/minivision/checkpoints by default.
MINIVISION_DATA ?= $(HOME)/.cache/minivision/data
export NO_MKDOCS_2_WARNING := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup data browser docs site pages release-tag serve test test-unit test-lessons test-site lessons lessons-gpu student demo bench clean

# minivision/__init__.py holds the version (pyproject reads it): a bump reinstalls, so that the
# installed metadata, which the lessons' install cells read, says the new version.
$(VENV)/.installed: pyproject.toml minivision/__init__.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -U pip
	$(BIN)/pip install -q -e ".[test,docs,multimodal]"
	touch $@

setup: $(VENV)/.installed

# Unpack the CIFAR-10 JPEG copy into the data cache (outside the repo) when it is there.
data:
	@if [ -d "$(MINIVISION_DATA)/cifar10-jpeg/train" ]; then \
		echo "CIFAR-10 (JPEG copy) already in $(MINIVISION_DATA)"; \
	elif [ -f "$(SHARED_DATA)/cifar10-jpeg.zip" ]; then \
		mkdir -p "$(MINIVISION_DATA)" && echo "unpacking CIFAR-10 (JPEG copy) into $(MINIVISION_DATA)" && \
		$(BIN)/python -m zipfile -e "$(SHARED_DATA)/cifar10-jpeg.zip" "$(MINIVISION_DATA)"; \
	else \
		echo "no $(SHARED_DATA)/cifar10-jpeg.zip: lessons use the built-in dataset"; \
	fi

# Headless Chromium for the browser test: one already there (or $$CHROMIUM), else Debian's
# package where apt-get can install it. Without either, the browser tests are skipped with a
# message; in CI ($$CI set) that is an error, so they are never skipped silently.
CHROMIUM_HOWTO := install Chromium (Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install --cask chromium) or set CHROMIUM=/path/to/chromium
browser:
	@if [ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then \
		:; \
	elif command -v apt-get >/dev/null && { [ "$$(id -u)" = 0 ] || sudo -n true 2>/dev/null; }; then \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		echo "installing Debian's chromium for the browser tests"; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	elif [ -n "$$CI" ]; then \
		echo "error: no Chromium for the browser tests, and apt-get cannot install one here: $(CHROMIUM_HOWTO)" >&2; exit 1; \
	else \
		echo "warning: no Chromium, so the browser tests (tests/site) will be skipped: $(CHROMIUM_HOWTO)" >&2; \
	fi

docs site: setup
	$(BIN)/mkdocs build --strict --site-dir site

serve: site
	@echo "serving the site on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory site

test-unit: setup
	$(UNIT_TESTS)

test-lessons: setup data
	$(LESSON_TESTS)

test-site: setup browser site
	MINIVISION_SITE=site $(BIN)/pytest tests/site -q

# What .github/workflows/pages.yml publishes: the site, with the student notebooks under
# site/student/ (Colab opens them from the gh-pages branch).
pages: site student
	mkdir -p site/student
	cp build/student/[0-9]*.ipynb site/student/

# Tag the commit as v<minivision.__version__>, which the lessons' install cells pin. Where the tag
# exists already, stop if the library changed since it (the cells would install an older one).
# PUSH_TAG=1 (the pages workflow) also pushes a new tag to origin.
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' minivision/__init__.py)
release-tag:
	@tag=v$(VERSION); \
	if git rev-parse -q --verify "refs/tags/$$tag" >/dev/null; then \
		if git diff --quiet "$$tag" HEAD -- minivision pyproject.toml; then \
			echo "$$tag: the library is unchanged since the tag"; \
		else \
			echo "error: minivision/ or pyproject.toml changed since $$tag, which the lessons' install" \
				"cells pin: raise __version__ in minivision/__init__.py (and CHANGELOG.md)" >&2; exit 1; \
		fi; \
	else \
		git tag "$$tag" && echo "tagged $$tag"; \
		if [ -n "$(PUSH_TAG)" ]; then git push origin "$$tag"; fi; \
	fi

# Two pytest-xdist workers, one per core, one thread each (tests/conftest.py; OMP_NUM_THREADS for
# the lessons' kernels): the site tests stay on one worker (one build), a lesson's cells on one.
# The 20 slowest tests are listed at the end, to keep the suite within its 15 minutes.
# XDIST= (empty) runs them in one process.
XDIST ?= -n 2
UNIT_TESTS = OMP_NUM_THREADS=1 $(BIN)/pytest tests -q $(XDIST) --dist loadgroup --durations=20
LESSON_TESTS = OMP_NUM_THREADS=1 MINIVISION_QUICK=1 $(BIN)/pytest --nbval --nbval-current-env \
	--nbval-sanitize-with lessons/sanitize.cfg lessons -q -p no:cacheprovider $(XDIST) \
	--dist loadscope --durations=11
test: setup data browser
	$(UNIT_TESTS)
	$(LESSON_TESTS)

# Re-execute every lesson at full settings and store the outputs in the notebooks.
lessons: setup data
	for nb in lessons/[0-9]*.ipynb; do \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; \
	done

# Execute lessons at full settings one after another into $(OUT), each with a time limit, all
# within a budget, with a log (tools/run_lessons.py); a failure never stops the rest. On the lent
# GPU machine (no venv, no internet) the same runs through tools/gpu_lessons.sh.
#   make lessons-gpu LESSONS="01 02" [OUT=build/lessons-gpu LESSON_TIMEOUT=1800 BUDGET=14400]
LESSONS ?= $(shell ls lessons | sed -n 's/^\([0-9][0-9]\)_.*\.ipynb$$/\1/p')
OUT ?= build/lessons-gpu
LESSON_TIMEOUT ?= 1800
BUDGET ?= 14400
lessons-gpu: setup data
	$(BIN)/python tools/run_lessons.py $(LESSONS) --out "$(OUT)" --timeout $(LESSON_TIMEOUT) \
		--budget $(BUDGET)

# The student versions (no solutions, no hidden tests) that the site publishes in student/.
student: setup
	rm -rf build/student
	$(BIN)/minivision assignment lessons/[0-9]*.ipynb --out build/student

demo: setup
	$(BIN)/minivision train --out runs/demo

bench: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf site build .cache .pytest_cache
