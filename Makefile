# The README's two commands:  make pipeline   (the laptop-profile pipeline)
#                             make test       (the whole test suite)
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PROFILE ?= laptop
JOBS    ?= 2
PYTEST_ARGS ?=

.PHONY: pipeline test env data smoke lab clean-notebooks

# the git filter that keeps notebooks clean in commits: outputs only of cells tagged keep_output,
# execution counts and cell ids kept, JupyterLab's metadata dropped (tests/test_notebooks.py reads this line)
NBSTRIPOUT_ARGS := --keep-count --keep-id --extra-keys 'metadata.language_info.codemirror_mode metadata.language_info.file_extension metadata.language_info.mimetype metadata.language_info.nbconvert_exporter metadata.language_info.pygments_lexer metadata.language_info.version metadata.jupytext metadata.toc'

env: $(VENV)/.installed
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git config filter.nbstripout.clean "$(abspath $(BIN))/python -m nbstripout $(NBSTRIPOUT_ARGS)" && \
	  git config filter.nbstripout.smudge cat; fi

$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

data: env
	@$(BIN)/python -c "from hlwb.data import find_fashion_mnist as f; print('Fashion-MNIST:', f())" 2>/dev/null \
	  || $(BIN)/python -m hlwb download-data

# the run writes only under runs/$(PROFILE); a run of the published study is then published: laptop into
# notebooks/ and figures/, laptop_side and laptop_deep into figures/<profile>/
pipeline: data
	HLWB_HEADLESS=1 $(BIN)/python -m hlwb pipeline --profile $(PROFILE) --jobs $(JOBS)
	@case "$(PROFILE)" in laptop|laptop_side|laptop_deep) $(BIN)/python -m hlwb publish --run runs/$(PROFILE);; esac

smoke: data
	HLWB_HEADLESS=1 $(BIN)/python -m hlwb pipeline --profile smoke

# JupyterLab on the notebooks (builds .venv/ first if needed); interactive runs write under runs/interactive/
lab: env  # (as root, e.g. in a container, Jupyter needs --allow-root)
	$(BIN)/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: data
	$(BIN)/ruff check .
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider $(PYTEST_ARGS)

# copy the laptop run's notebooks (cleaned), figures, results and report into the repository
clean-notebooks: env
	$(BIN)/python -m hlwb publish --run runs/laptop
