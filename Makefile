# The two commands: `make lab` (install, then open JupyterLab) and `make test` (install, then every check).
# Installs go into .venv; they rerun only when a dependency list changes (the stamp names their hash).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_HASH := $(shell cat pyproject.toml package.json tests/plugins/*/pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
LAB_PORT ?= 8888
# Jupyter refuses to run as root unless told to; CI and containers run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install system-data lab test lint format bench clean

install: $(STAMP)

$(STAMP):
	@$(MAKE) --no-print-directory system-data
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	# a real third-party plugin distribution, so the entry-point test uses no mock
	$(BIN)/python -m pip install --quiet ./tests/plugins/dltoolkit-example-plugin
	rm -f $(VENV)/.installed-*
	touch $@

# default_url makes the printed URL (and /) open the welcome notebook: with --no-browser, a file given
# as an argument would only reach a browser that Jupyter opens itself.
# Offline data from Debian packages (see ../shared/DATA.md): the real Fashion-MNIST IDX files, read by the
# fashion_mnist data module and its real-data test. Needs root and apt-get; skipped with a note otherwise.
FASHION_DIR := /usr/share/datasets/fashion-mnist
system-data:
	@if [ -d $(FASHION_DIR) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist >/dev/null) \
		|| echo "note: could not install dataset-fashion-mnist; the real Fashion-MNIST test will be skipped"; \
	else echo "note: $(FASHION_DIR) missing (apt-get install dataset-fashion-mnist); its test will be skipped"; fi

lab: install
	@echo "Starting JupyterLab on http://127.0.0.1:$(LAB_PORT) (open the URL with its token printed below)"
	$(BIN)/jupyter lab --no-browser --ip=127.0.0.1 --port=$(LAB_PORT) $(ROOT_FLAG) \
		'--ServerApp.root_dir=$(CURDIR)' --LabApp.default_url=/lab/tree/notebooks/welcome.ipynb

lint: install
	$(BIN)/ruff check dltoolkit tests benchmarks
	$(BIN)/ruff format --check dltoolkit tests benchmarks
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix dltoolkit tests benchmarks
	$(BIN)/ruff format dltoolkit tests benchmarks

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/dltoolkit bench quality
	$(BIN)/dltoolkit bench overhead

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
