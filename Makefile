# renderfarm: `make run` renders the example scene through the local farm; `make test` runs the tests.
# Both install what they need: a virtual environment (.venv), npm packages (Azurite), the tools
# venv for the infra checks (.venv-tools) and, where missing and we are root, Blender's system
# libraries.

SHELL := /bin/bash
# Python 3.13 (bpy 5.3 ships for it only): python3.13 on PATH, or pyenv's 3.13 where pyenv is.
PYTHON ?= $(shell scripts/find-python 3.13 2>/dev/null)
ifeq ($(PYTHON),)
$(error Python 3.13 is needed: install it with `pyenv install 3.13` (or your system's python3.13 package), then run make again)
endif
VENV := .venv
TOOLS := .venv-tools
PIP := $(VENV)/bin/pip --disable-pip-version-check
PY := $(VENV)/bin/python
# Test modules run side by side (pytest-xdist), each module whole on one process so its
# farm starts once: most of a test's time is waiting on emulators and workers, not CPU. Three
# processes on this 2-core machine took the suite from 25 to about 10 minutes.
TEST_PROCESSES ?= 3
PYTEST_ARGS ?= -n $(TEST_PROCESSES) --dist loadscope

# Headless Chromium and its WebDriver for the dashboard's browser tests (tests/dashboard).
BROWSER_PACKAGES := chromium chromium-driver
# Shared libraries bpy links against, and Mesa EGL for Workbench and EEVEE
# (docs/facts.md "Blender's system libraries").
APT_PACKAGES := libx11-6 libxext6 libxfixes3 libxi6 libxrender1 libxkbcommon0 libsm6 \
	libegl1 libegl-mesa0 libgl1-mesa-dri \
	$(BROWSER_PACKAGES)

REQUIREMENTS := requirements.txt requirements-dev.txt containerapp_worker/requirements.txt \
	infra/requirements-test.txt

# Blender pools: containerapp_worker/blender-pools/<major.minor>.txt pins each one's bpy and names
# its Python. The default pool (DEFAULT_BLENDER) runs from .venv; every other pool from its own
# .venv-blender-<major.minor>, made when the tests or `make run BLENDER=...` need it.
POOLS_DIR := containerapp_worker/blender-pools
DEFAULT_BLENDER := 5.3
OTHER_POOLS := $(filter-out $(DEFAULT_BLENDER),$(patsubst $(POOLS_DIR)/%.txt,%,$(wildcard $(POOLS_DIR)/*.txt)))
BLENDER ?= $(DEFAULT_BLENDER)
pool_venvs = $(foreach v,$(filter-out $(DEFAULT_BLENDER),$(subst $(comma), ,$(1))),.venv-blender-$(v)/.installed)
comma := ,

.PHONY: deps test lint pytest bench clean system-deps run addon $(addprefix blender-,$(OTHER_POOLS))

deps: $(VENV)/.installed node_modules/.installed $(TOOLS)/.installed system-deps

$(VENV)/.installed: $(REQUIREMENTS) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	$(PIP) install --quiet --no-deps -e .  # the `renderfarm` command in .venv/bin
	touch $@

# `make blender-4.5`: the venv of Blender 4.5's pool, on the Python its bpy ships for.
$(addprefix blender-,$(OTHER_POOLS)): blender-%: .venv-blender-%/.installed

.venv-blender-%/.installed: $(POOLS_DIR)/%.txt containerapp_worker/requirements.txt
	@want=$$(sed -n 's/^# python: //p' $<); py=$$(scripts/find-python $$want) || exit 1; \
	test -x $(@D)/bin/python || $$py -m venv $(@D)
	$(@D)/bin/pip --disable-pip-version-check install --quiet --upgrade pip
	$(@D)/bin/pip --disable-pip-version-check install --quiet \
		-r containerapp_worker/requirements.txt -r $<
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(TOOLS)/.installed: infra/requirements-tools.txt
	test -x $(TOOLS)/bin/python || $(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip --disable-pip-version-check install --quiet -r infra/requirements-tools.txt
	touch $@

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing $$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else \
			echo "Blender and the browser tests need these system packages: $$missing (install them with apt-get)"; \
		fi; \
	fi

# `make run` renders the example scene through the local farm and stops it; the frames, a contact
# sheet and an animated preview land in out/<job>/. Render your own scene with
# `make run SCENE=path.blend FRAMES=1-100`. One worker, started with the farm, rendering on every
# core: on 2 cores bench/bench_farm.py measured one worker 1.04x bare Blender and two (a core
# each) 1.27x; on an earlier day two 1.02x and one 1.10x. One loses little where two win, and
# much less than two where they lose (docs/cost-and-speed.md "Cores"). `make run MAX_REPLICAS=2`
# runs more; the Bicep's maxReplicas is for Azure.
SCENE ?= examples/example.blend
FRAMES ?= 1-48
# Empty: the farm plans chunk sizes from what earlier renders of the scene measured
# (renderfarm/chunks/plan.py); `make run CHUNK_SIZE=6` fixes one.
CHUNK_SIZE ?=
MAX_REPLICAS ?= 1
RUN_ARGS ?=

run: deps $(call pool_venvs,$(BLENDER))
	$(PY) -m renderfarm_cli local run "$(SCENE)" --frames "$(FRAMES)" \
		$(if $(CHUNK_SIZE),--chunk-size $(CHUNK_SIZE)) --max-replicas $(MAX_REPLICAS) --blender "$(BLENDER)" $(RUN_ARGS)

# `make addon` builds dist/renderfarm-<version>.zip, the Blender extension with the client core in it.
addon: $(VENV)/.installed
	$(PY) scripts/build_addon.py

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

pytest: deps $(foreach v,$(OTHER_POOLS),.venv-blender-$(v)/.installed)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint pytest

# Each benchmark prints ratios or percentiles measured in one run: this machine is shared and noisy.
bench: deps
	$(PY) -m bench.bench_servicebus
	$(PY) -m bench.bench_api
	$(PY) bench/bench_render.py
	$(PY) -m bench.worker_kill
	$(PY) -m bench.bench_azurite_durable
	$(PY) -m bench.bench_farm
	$(PY) -m bench.bench_azure_model
	$(PY) -m bench.bench_gpu
	$(PY) -m bench.bench_assets
	$(PY) -m bench.bench_ledger
	$(PY) -m bench.bench_scale --workload one-job --workers 50 --frames 500 --kill-fraction 0.05

clean:
	rm -rf $(VENV) $(TOOLS) node_modules .pytest_cache .mypy_cache .ruff_cache
