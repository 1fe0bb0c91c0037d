# The two commands: `make demo` (the main job on the embedded synthetic corpus) and `make test`.
# Both create .venv when missing and install the project with what they need (pip only:
# torch==2.14.1 comes from this machine's wheel cache / PyPI).

PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Reinstall when pyproject.toml changes.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: demo test install clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,onnx,pydub,lameenc]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

DEMO := results/demo
demo: $(STAMP)
	$(BIN)/audit data synth $(DEMO)/corpus --seed 0
	$(BIN)/audit data info $(DEMO)/corpus/manifest.csv

clean-demo:
	rm -rf $(DEMO)
