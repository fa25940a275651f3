# transfer-laws: `make demo` and `make test` are all a newcomer needs; each creates .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
# A CPU wheel of torch is pinned for the laptop path; GPU users may set TORCH_SPEC="torch>=2.4".
TORCH_SPEC ?= torch==2.13.0
HOME_DIR ?= $(or $(TRANSFER_LAWS_HOME),$(CURDIR)/.transfer-laws)
STAMP := $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test test-slow bench ui-mlflow ui-prefect clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(wildcard /opt/wheels),--find-links /opt/wheels) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e '.[test]'
	@rm -f $(VENV)/.installed-* && touch $@

# The embedded default: no Prefect server, MLflow in $(HOME_DIR)/mlflow.db.
demo: $(STAMP)
	$(BIN)/transfer-laws run configs/demo.yaml --home $(HOME_DIR)

test: $(STAMP)
	$(PY) -m pytest -q

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/fit_speed.py
	$(PY) benchmarks/sweep_overhead.py

ui-mlflow: $(STAMP)
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(HOME_DIR)/mlflow.db --host 127.0.0.1 --port 5000 --workers 1

ui-prefect: $(STAMP)
	PREFECT_HOME=$(HOME_DIR)/prefect PREFECT_SERVER_ANALYTICS_ENABLED=false \
	  $(BIN)/prefect server start --host 127.0.0.1 --port 4200

clean:
	rm -rf $(HOME_DIR)/runs $(HOME_DIR)/mlflow.db $(HOME_DIR)/mlartifacts $(HOME_DIR)/prefect
