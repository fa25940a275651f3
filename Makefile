# transfer-laws: `make demo` and `make test` are all a newcomer needs; each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# A CPU wheel of torch is pinned for the laptop path; GPU users may set TORCH_SPEC="torch>=2.4".
TORCH_SPEC ?= torch==2.13.0
HOME_DIR ?= $(or $(TRANSFER_LAWS_HOME),$(CURDIR)/.transfer-laws)
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test check test-ui ui-deps test-slow test-faults bench bench-quick bench-gpu device-kit rehearse-device ui-mlflow ui-prefect services services-stop deploy services-deps clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(wildcard /opt/wheels),--find-links /opt/wheels) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[test,postgres,auth]'
	@rm -f $(VENV)/.installed-* && touch $@

# The embedded default: no Prefect server, MLflow in $(HOME_DIR)/mlflow.db.
demo: $(STAMP)
	$(BIN)/transfer-laws run configs/demo.yaml --home $(HOME_DIR)

test: $(STAMP) services-deps ui-deps
	$(PY) -m pytest -q

# The quick tier (< 1 min): the layout rules, the CLI and configs, the model, run identities and the
# fitting math without its bootstrap refits (the `refit` marker). `make test` stays the full suite.
CHECK_TESTS := tests/test_layout.py tests/test_cli.py tests/sweep/test_config.py tests/sweep/test_run_keys.py \
	tests/model tests/fitting tests/data/test_tokenizer.py
check: $(STAMP)
	$(PY) -m pytest -q -m 'not slow and not faults and not ui and not refit' $(CHECK_TESTS)

# The UI journey alone (also part of `make test`, ~2.5 min): the services on loopback, then through
# the pages in headless Chromium: the sweep's custom-run form, a failing run retried, MLflow's runs.
# Screenshots go to $(HOME_DIR)/ui-screenshots.
test-ui: $(STAMP) ui-deps
	UI_SCREENSHOTS=$(HOME_DIR)/ui-screenshots $(PY) -m pytest -q -m ui tests/ui

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

# Reliability: 20 sweeps killed with SIGKILL at seeded random moments, each rerun to completion
# (tests/test_faults.py; `make test` runs a short chain of 4 kills).
test-faults: $(STAMP)
	$(PY) -m pytest -q -m faults tests/test_faults.py

# Speed and memory goals (benchmarks/RESULTS.md): each prints ratios measured side by side in one run.
bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/slot_layout.py
	$(PY) benchmarks/eval_logging_cost.py
	$(PY) benchmarks/memory_rss.py
	$(PY) benchmarks/fit_speed.py
	$(PY) benchmarks/sweep_overhead.py
	$(PY) benchmarks/auth_cost.py

bench-quick: $(STAMP)
	$(PY) benchmarks/train_throughput.py --quick
	$(PY) benchmarks/slot_layout.py --quick
	$(PY) benchmarks/eval_logging_cost.py --quick
	$(PY) benchmarks/memory_rss.py --quick
	$(PY) benchmarks/gpu_check.py --cpu-smoke

# One prepared script for an H100/H200 box (<= 5 minutes): MFU at N ~ 1e6, 1e7, 1e8 and packing.
bench-gpu:
	bash benchmarks/gpu_check.sh

# What an offline GPU machine needs, fetched here: the wheels it lacks (.whl/py312) and the
# corpora of configs/gpu-small.yaml (.whl/corpora.tar.xz); the ignored .whl/ travels with the tree.
device-kit: $(STAMP)
	$(PY) benchmarks/device_kit.py
	$(PY) benchmarks/device_corpora.py

# The GPU machine's check rehearsed here, network off, in a venv holding only what that machine has
# plus the device kit (benchmarks/rehearse_device.sh; a few minutes, most of it pip).
rehearse-device: $(STAMP)
	bash benchmarks/rehearse_device.sh

ui-mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(HOME_DIR)/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

ui-prefect: $(STAMP)
	PREFECT_HOME=$(HOME_DIR)/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false \
	  $(BIN)/prefect server start --host 127.0.0.1 --port 4200

# Scale-out on this box (deployments/README.md): Prefect server, MLflow server and workers on
# 127.0.0.1, PIDs recorded in $(HOME_DIR)/services; then the deployments of deployments/prefect.yaml.
services: $(STAMP)
	$(BIN)/transfer-laws services start --home $(HOME_DIR)

services-stop: $(STAMP)
	$(BIN)/transfer-laws services stop --home $(HOME_DIR)

deploy: $(STAMP)
	$(BIN)/transfer-laws deploy --home $(HOME_DIR)

# PostgreSQL for the scale-out tests (Debian's package), installed only when it is missing.
services-deps:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get install -y -q postgresql; } || \
	  { echo "PostgreSQL is missing: install Debian's postgresql (apt-get install postgresql)"; exit 1; }

# Debian's Chromium for the browser tests (Playwright drives it; its own browser downloads are not
# reachable here), installed only when it is missing.
ui-deps:
	@command -v chromium >/dev/null || [ -n "$$TRANSFER_LAWS_CHROMIUM" ] || \
	  { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && apt-get install -y -q chromium chromium-driver; } || \
	  { echo "Chromium is missing: install Debian's chromium (apt-get install chromium chromium-driver)"; exit 1; }

clean:
	rm -rf $(HOME_DIR)/runs $(HOME_DIR)/mlflow.db $(HOME_DIR)/mlartifacts $(HOME_DIR)/prefect
