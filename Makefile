# The two commands: `make lab` (install, then open JupyterLab) and `make test` (install, then every check).
# Installs go into .venv; they rerun only when a dependency list changes (the stamp names their hash).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_HASH := $(shell cat pyproject.toml tests/plugins/*/pyproject.toml | sha256sum | cut -c1-16)
STAMP := $(VENV)/.installed-$(DEPS_HASH)
# front ends: npm workspaces (widgets/, labextension/), rebuilt when a source or the lock file changes
NPM_STAMP := node_modules/.package-lock.json
FRONTEND_SRC := $(shell find widgets/src labextension/src labextension/style -type f 2>/dev/null) \
	widgets/build.mjs $(wildcard */package.json) $(wildcard */tsconfig.json)
FRONTEND_OUT := dltoolkit/labextension/package.json
LAB_PORT ?= 8888
# Jupyter refuses to run as root unless told to; CI and containers run as root.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: install system-data chromium lab test test-ui lint format bench clean

install: $(STAMP) $(FRONTEND_OUT)
	@$(MAKE) --no-print-directory chromium

$(STAMP):
	@$(MAKE) --no-print-directory system-data
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	# the front ends are built below, by make: the build hook is for wheels
	SKIP_JUPYTER_BUILDER=1 $(BIN)/python -m pip install --quiet -e '.[dev,lab]'
	# torchattacks without its pinned requests~=2.25.1 (which would break JupyterLab); its other needs are ours
	$(BIN)/python -m pip install --quiet --no-deps 'torchattacks==3.5.1'
	# rl-baselines3-zoo's tuned hyperparameters (YAML files) for benchmarks/rl.py; its own needs are unused
	$(BIN)/python -m pip install --quiet --no-deps 'rl-zoo3==2.9.2'
	# a real third-party plugin distribution, so the entry-point test uses no mock
	$(BIN)/python -m pip install --quiet ./tests/plugins/dltoolkit-example-plugin
	rm -f $(VENV)/.installed-*
	touch $@

$(NPM_STAMP): package-lock.json package.json $(wildcard */package.json)
	npm ci --no-audit --no-fund
	touch $@

$(FRONTEND_OUT): $(NPM_STAMP) $(FRONTEND_SRC) | $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" npm run build
	# JupyterLab finds the built sidebar through a link in .venv/share/jupyter/labextensions
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter labextension develop --overwrite .
	touch $@

# Debian's Chromium for the browser tests (tests/ui, Playwright with executable_path=/usr/bin/chromium).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
	else echo "note: /usr/bin/chromium missing (apt-get install chromium); the browser tests will fail"; fi

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
	npm run lint

format: install
	$(BIN)/ruff check --fix dltoolkit tests benchmarks
	$(BIN)/ruff format dltoolkit tests benchmarks
	npm run format

# The browser tests run in a pytest process of their own: Playwright's sync API and the event loops of
# pytest-jupyter's fixtures clash at teardown when they share one.
test: install lint
	npm test
	$(BIN)/python -m pytest -q --ignore=tests/ui
	$(BIN)/python -m pytest -q tests/ui

# only the browser tests (JupyterLab and Notebook 7 in Debian's Chromium)
test-ui: install
	$(BIN)/python -m pytest -q tests/ui

bench: install
	$(BIN)/dltoolkit bench quality
	$(BIN)/dltoolkit bench overhead

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache node_modules widgets/lib labextension/lib \
		dltoolkit/labextension dltoolkit/dashboards/static tests/ui/artifacts
