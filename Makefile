# Everything a user types: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install protos bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m akri_local demo $(ARGS)

test: $(STAMP) system-deps
	$(PY) -m pytest $(ARGS)

# umockdev (Debian package) builds the fake udev device trees some udev tests use; those tests
# skip with a message naming the package when it cannot be installed (non-root, no apt).
system-deps:
	@command -v umockdev-run >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq umockdev >/dev/null 2>&1; } \
	  || echo "note: umockdev not installed; fake-device-tree udev tests will be skipped"; }

protos: $(STAMP)
	$(PY) proto/generate.py

# Each benchmark prints its numbers and exits 1 when it misses its target; all of them run, and
# `make bench` fails at the end if any missed.
bench: $(STAMP)
	@failed=""; for b in hooks allocate udev agent_rss; do \
	  echo "== benchmarks.$$b"; $(PY) -m benchmarks.$$b || failed="$$failed $$b"; done; \
	  if [ -n "$$failed" ]; then echo "targets missed:$$failed"; exit 1; fi

clean:
	rm -rf $(VENV)
