# Two commands: `make demo` (set up + main job) and `make test` (set up + tests).
# torch==2.13.0 is installed first where that version is available (a local CPU wheel on the
# project's machines); override it, e.g. `make demo TORCH=torch` or `TORCH="torch==2.5.1"` (it applies
# when the virtual environment has no torch yet).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
RUNS ?= runs/demo
SPEC := .

.PHONY: setup demo test benchmark reproduce clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

setup: $(BIN)/python
	@$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)" || \
		{ echo "$(TORCH) is not available here; installing the newest torch"; $(BIN)/pip install -q torch; }
	$(BIN)/pip install -q -e "$(SPEC)"

demo: setup
	$(BIN)/bioplaus train --model cnn --rule bp --dataset mnist-5k --epochs 3 --seed 0 --out $(RUNS)/cnn-bp-s0 --resume
	$(BIN)/bioplaus train --model cnn --rule dfa --dataset mnist-5k --epochs 3 --seed 0 --out $(RUNS)/cnn-dfa-s0 --resume
	$(BIN)/bioplaus summary $(RUNS)/cnn-bp-s0 $(RUNS)/cnn-dfa-s0

test: SPEC := .[test]
test: setup
	$(BIN)/python -m pytest tests

# The reproduction table (README): about 90 minutes on 2 CPU cores; resumes where it stopped.
reproduce: setup
	$(BIN)/bioplaus reproduce --out runs/reproduce $(if $(DATA_DIR),--data-dir $(DATA_DIR))

benchmark: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs
