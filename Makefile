# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv once; a second run installs nothing.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.weightwarden-installed
# llama-cpp-python compiles llama.cpp from source (about 5 minutes on two cores). LLAMA_CPU says for which CPUs:
#   avx2 (the default on x86-64): a fixed baseline (AVX2, FMA, F16C, BMI2; no AVX-512), so every x86-64 machine with
#         AVX2 runs the same kernels and gets the same scores and greedy answers;
#   native: this machine's best (AVX-512, VNNI...): faster here, but numbers differ in the last bits elsewhere.
# The wheel is kept in WHEELS/<flavour> (pip's own cache keys a wheel by version alone, not by these flags).
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
LLAMA_CPP_VERSION := $(shell sed -n 's/^llama_cpp_python==//p' requirements.lock)
LLAMA_CPU ?= $(if $(filter x86_64 amd64,$(shell uname -m)),avx2,native)
ifeq ($(LLAMA_CPU),avx2)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_SSE42=ON -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AVX_VNNI=OFF -DGGML_AVX512=OFF
else ifeq ($(LLAMA_CPU),native)
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=ON
else
$(error LLAMA_CPU is "$(LLAMA_CPU)": use avx2 or native)
endif
WHEELS ?= $(HOME)/.cache/weightwarden/wheels
LLAMA_WHEELS := $(WHEELS)/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_CPU)
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench clean FORCE

# A venv built for another LLAMA_CPU is rebuilt: the stamp depends on a file naming the flavour asked for.
$(VENV)/.llama-cpu-wanted: FORCE
	@mkdir -p $(VENV)
	@test "$$(cat $@ 2>/dev/null)" = "$(LLAMA_CPU)" || echo "$(LLAMA_CPU)" > $@

$(STAMP): pyproject.toml requirements.lock $(VENV)/.llama-cpu-wanted
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if ! ls $(LLAMA_WHEELS)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
	  echo "building llama.cpp for LLAMA_CPU=$(LLAMA_CPU) (about 5 minutes on two cores, once per machine)"; \
	  CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-deps --no-cache-dir \
	    --no-binary llama-cpp-python -w $(LLAMA_WHEELS).tmp llama-cpp-python==$(LLAMA_CPP_VERSION) \
	    && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi
	$(BIN)/python -m pip install --quiet --force-reinstall --no-deps $(LLAMA_WHEELS)/llama_cpp_python-*.whl
	$(BIN)/python -m pip install --quiet -r requirements.lock
	@echo "$(LLAMA_CPU)" > $(VENV)/.llama-cpu
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/warden doctor
	$(BIN)/warden audit default

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests bench training scripts
	$(BIN)/ruff format --check src tests bench training scripts
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python bench/runtime.py

clean:
	rm -rf $(VENV) warden-report .pytest_cache .mypy_cache .ruff_cache
