# Everything a user types: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install protos bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m akri_local demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(ARGS)

protos: $(STAMP)
	$(PY) proto/generate.py

bench: $(STAMP)
	$(PY) -m benchmarks.hooks
	$(PY) -m benchmarks.allocate
	$(PY) -m benchmarks.udev

clean:
	rm -rf $(VENV)
