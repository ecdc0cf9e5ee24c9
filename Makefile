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

# Debian packages some tests use; those tests skip with a message naming the packages when they
# cannot be installed (non-root, no apt): umockdev builds fake udev device trees, and Go with
# grpc-go builds a kubelet-shaped gRPC client for the device-plugin server's interop tests.
system-deps:
	@missing=""; command -v umockdev-run >/dev/null 2>&1 || missing="umockdev"; \
	  { command -v go >/dev/null 2>&1 && [ -d /usr/share/gocode/src/google.golang.org/grpc ]; } || \
	  missing="$$missing golang-go golang-google-grpc-dev"; \
	  [ -z "$$missing" ] || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null 2>&1; } \
	  || echo "note: could not install$$missing; the tests that need them will be skipped"; }

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
