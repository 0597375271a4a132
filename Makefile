# The README's two commands:  make pipeline   (the laptop-profile pipeline)
#                             make test       (the whole test suite)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PROFILE ?= laptop
JOBS    ?= 2
PYTEST_ARGS ?=

.PHONY: pipeline test env data smoke clean-notebooks

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

data: env
	@$(BIN)/python -c "from hlwb.data import find_fashion_mnist as f; print('Fashion-MNIST:', f())" 2>/dev/null \
	  || $(BIN)/python -m hlwb download-data

pipeline: data
	HLWB_HEADLESS=1 $(BIN)/python -m hlwb pipeline --profile $(PROFILE) --jobs $(JOBS)

smoke: data
	HLWB_HEADLESS=1 $(BIN)/python -m hlwb pipeline --profile smoke

test: data
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider $(PYTEST_ARGS)

# after `make pipeline`: copy the executed laptop notebooks into notebooks/, cleaned
clean-notebooks: env
	$(BIN)/python -m hlwb publish-notebooks --run runs/laptop
