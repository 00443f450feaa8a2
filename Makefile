# minivision: every target sets up what it needs.
#   make serve   set up, build the docs site and serve it on http://127.0.0.1:$(PORT)
#   make test    set up, then run the whole test suite (pytest, nbval over the lessons, strict site build, browser)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
SHARED_DATA ?= ../shared/data
export MINIVISION_DATA ?= $(HOME)/.cache/minivision/data
export NO_MKDOCS_2_WARNING := 1
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: setup data browser docs site serve test test-unit test-lessons test-site lessons student demo bench clean

$(VENV)/.installed: pyproject.toml
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

# Headless Chromium for the browser test (Debian's package).
browser:
	@command -v chromium >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

docs site: setup
	$(BIN)/mkdocs build --strict --site-dir site

serve: site
	@echo "serving the site on http://127.0.0.1:$(PORT)/ (Ctrl-C to stop)"
	$(BIN)/python -m http.server $(PORT) --bind 127.0.0.1 --directory site

test-unit: setup
	$(BIN)/pytest tests -q

test-lessons: setup data
	MINIVISION_QUICK=1 $(BIN)/pytest --nbval --nbval-current-env --nbval-sanitize-with lessons/sanitize.cfg lessons -q -p no:cacheprovider

test-site: setup browser site
	$(BIN)/pytest tests/site -q

test: setup data browser
	$(BIN)/pytest tests -q
	MINIVISION_QUICK=1 $(BIN)/pytest --nbval --nbval-current-env --nbval-sanitize-with lessons/sanitize.cfg lessons -q -p no:cacheprovider

# Re-execute every lesson at full settings and store the outputs in the notebooks.
lessons: setup data
	for nb in lessons/[0-9]*.ipynb; do \
		$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=-1 "$$nb" || exit 1; \
	done

student: setup
	$(BIN)/minivision assignment lessons/[0-9]*.ipynb --out build/student

demo: setup
	$(BIN)/minivision train --out runs/demo

bench: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf site build .cache .pytest_cache
