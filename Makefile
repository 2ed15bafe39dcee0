# Every target sets up what it needs on a fresh machine: a .venv made and filled
# from setup.cfg, and the few Debian packages the tests use (installed with
# apt-get when missing; CI runs as root).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The Zero to JupyterHub 4.x hub image ships JupyterHub 5.x: the suite runs once
# more against the newest 5.x in a second environment.
COMPAT_VENV ?= .venv-jupyterhub5
PYTEST_ARGS ?=
# the tiers make test-cluster runs on the real control plane
CLUSTER_TESTS ?= tests/integration tests/e2e
# Now and then a socket of a server in the test process (seen last: a test's own fault
# webhook, whose kube-apiserver TLS connections outlived its loop) is garbage-collected
# open inside a later test, and pytest turns that unraisable ResourceWarning into an
# error there. The causes found are fixed (tests/conftest.py closes the clients'
# connections; the webhook drains its loop); this tier alone still does not collect
# unraisable exceptions until none is seen in a while. Warnings raised in a test are
# still errors, and the emulator tier collects unraisables.
CLUSTER_WARNINGS := -p no:unraisableexception
DEMO_DATA ?= .demo-data

# The proxy JupyterHub and Zero to JupyterHub run: Node.js configurable-http-proxy,
# pinned by package.json and package-lock.json, installed here with npm ci.
NODE_BIN := $(abspath node_modules/.bin)

.PHONY: test test-compat test-cluster lint hub demo demo-clean docs dist system-deps clean help

help:
	@echo "make demo         the whole system on this machine: emulator, pod runner, JupyterHub (root)"
	@echo "make demo-clean   remove the demo's data ($(DEMO_DATA))"
	@echo "make test         run the whole test suite (sets up $(VENV))"
	@echo "make lint         ruff (lint, format check) and the import-linter layer contracts"
	@echo "make test-compat  run the suite against the newest JupyterHub 5.x ($(COMPAT_VENV))"
	@echo "make test-cluster the integration and e2e tiers on a real control plane (needs Go >= 1.26)"
	@echo "make hub          run jupyterhub -f jupyterhub_config.py against the cluster in KUBECONFIG"
	@echo "make docs         build the documentation into docs/_build/html"
	@echo "make dist         build the sdist and the wheel into dist/ and run twine check on them"

# Debian packages the tests need: util-linux gives unshare (private mount
# namespaces for running the pods' scripts with their real paths) and setpriv
# (running them as the pod's uid/gid without privileges); chromium is the browser
# the browser tests drive (Playwright never downloads one); nodejs and npm run and
# install configurable-http-proxy.
system-deps:
	@missing=""; \
	{ command -v unshare && command -v setpriv; } >/dev/null || missing="$$missing util-linux"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# The product and, as a distribution of its own, the test support (testsupport/);
# a new version in _version.py reinstalls both, so their metadata says it.
$(VENV)/.installed: setup.cfg pyproject.toml testsupport/setup.cfg workspace_spawner/_version.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,docs,release]' -e './testsupport[demo]'
	touch $@

$(COMPAT_VENV)/.installed: setup.cfg pyproject.toml testsupport/setup.cfg workspace_spawner/_version.py
	$(PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMPAT_VENV)/bin/python -m pip install --quiet -e '.[test]' -e './testsupport[demo]' 'jupyterhub>=5,<6'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

test: system-deps $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

test-compat: system-deps $(COMPAT_VENV)/.installed node_modules/.installed
	$(COMPAT_VENV)/bin/python -c "import jupyterhub; assert jupyterhub.__version__.startswith('5.'), jupyterhub.__version__; print('JupyterHub', jupyterhub.__version__)"
	$(COMPAT_VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The integration and e2e tiers against a real control plane: etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler built from Kubernetes' Go modules by
# testbed/build.sh (needs Go >= 1.26; cached outside the repo, built once per go.sum), and
# our node agent. The hub runs as a ServiceAccount holding exactly the RBAC of helm-values/.
# Two passes: plain Kubernetes, then with OpenShift's project API and SCC admission
# (the tests marked or parametrized openshift; tests/conftest.py picks them).
test-cluster: system-deps $(VENV)/.installed node_modules/.installed
	bin=$$(testbed/build.sh) && export WORKSPACE_SPAWNER_TESTBED_BIN=$$bin && \
	$(PY) -m workspace_spawner_testing.controlplane run --helm-values helm-values -- \
	$(PY) -m pytest $(CLUSTER_WARNINGS) $(CLUSTER_TESTS) $(PYTEST_ARGS) && \
	$(PY) -m workspace_spawner_testing.controlplane run --openshift --helm-values helm-values -- \
	$(PY) -m pytest $(CLUSTER_WARNINGS) $(CLUSTER_TESTS) $(PYTEST_ARGS)

# ruff's settings are in pyproject.toml, the layer contracts in .importlinter
# (docs/dev/architecture.md); pre-commit runs the same (.pre-commit-config.yaml).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

# node_modules/.bin on PATH: the hub starts configurable-http-proxy by name.
hub: $(VENV)/.installed node_modules/.installed
	PATH="$(NODE_BIN):$$PATH" $(VENV)/bin/jupyterhub -f jupyterhub_config.py

# The emulator, the pod runner and JupyterHub in one process tree; Ctrl-C stops
# them all. The data (volumes, hub database) stays in $(DEMO_DATA).
demo: system-deps $(VENV)/.installed node_modules/.installed
	$(PY) -m workspace_spawner_testing.demo --data-dir $(DEMO_DATA)

demo-clean:
	rm -rf $(DEMO_DATA)

docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

# What PyPI gets: the sdist and the wheel, built in an isolated environment from
# pyproject.toml's build requirements, and checked by twine (metadata, README rendering).
dist: $(VENV)/.installed
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

clean:
	rm -rf $(VENV) $(COMPAT_VENV) node_modules docs/_build build dist *.egg-info .pytest_cache
