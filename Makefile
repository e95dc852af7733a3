# Two commands: `make demo` (set up + the main job, `bioplaus compare`) and `make test` (set up + tests).
# torch==2.13.0 is installed first where that version is available (a local CPU wheel on the
# project's machines); override it, e.g. `make demo TORCH=torch` or `TORCH="torch==2.5.1"` (it applies
# when the virtual environment has no torch yet).
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
BIN := $(VENV)/bin
RUNS ?= runs/demo
DATA_DIR ?=
JOBS ?= 1
SPEC := .
PEERS :=

.PHONY: setup demo test benchmark reproduce figures tune recipes clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The editable install is redone only when pyproject.toml changed since (a stamp per SPEC in the environment).
setup: $(BIN)/python
	@stamp="$(VENV)/.installed-$$(echo '$(SPEC)' | tr -c 'a-z0-9\n' '_')"; \
	if [ -f "$$stamp" ] && [ "$$stamp" -nt pyproject.toml ]; then exit 0; fi; \
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install -q "$(TORCH)" || \
		{ echo "$(TORCH) is not available here; installing the newest torch"; $(BIN)/pip install -q torch; }; \
	$(BIN)/pip install -q -e "$(SPEC)" || exit 1; \
	[ -z "$(PEERS)" ] || $(BIN)/pip install -q --no-deps $(PEERS) || \
		echo "warning: $(PEERS) could not be installed; the tests of their networks are skipped"; \
	touch "$$stamp"

# The main job with its defaults: mnist-5k, CNN and SNN x every rule and the readout control, 1 seed, 3 epochs;
# about 5 minutes on 2 CPU cores. Runs, analyses, figures and the accuracy table land in $(RUNS); a second call reuses them.
demo: setup
	$(BIN)/bioplaus compare --out $(RUNS) --jobs $(JOBS)

# One pytest-xdist worker per core (TEST_WORKERS=0: one process), each on one thread (tests/conftest.py); a test
# file's tests stay in one worker, which builds the file's shared fixtures once (--dist loadfile); the longest files
# go first (tests/conftest.py, LONGEST_FIRST), in that order (--no-loadscope-reorder).
TEST_WORKERS ?= auto
test: SPEC := .[test]
# snnTorch and SpikingJelly networks are analysed in the tests; --no-deps keeps the installed torch
test: PEERS := snntorch==1.0.0 spikingjelly==2.0.0 loguru
test: setup
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The reproduction table (README): 70 runs (CNN 9 rules, SNN 5, seeds 0-4); at one thread per run a CNN run takes
# 10-14 minutes (the readout control 5-9), an SNN run 4-14, about 6 hours on 2 CPU cores; resumes where it stopped.
reproduce: setup
	$(BIN)/bioplaus reproduce --out runs/reproduce --jobs $(JOBS) $(if $(DATA_DIR),--data-dir $(DATA_DIR)) \
		$(if $(RULES),--rules $(RULES))

# The reference gallery in figures/: Fashion-MNIST, 5 seeds, CNN 10 and SNN 15 epochs (the recipes' plateau). It reuses the runs of
# `make reproduce` (runs/reproduce) and trains what is missing (see reproduce), then analyses each model (JOBS=1: one
# analysis at a time on both cores; an analysed model is reused); about a minute to redraw from a finished analysis.
# Every rule of the reproduction grid, each where it trains (sign symmetry and KP: the CNN).
GALLERY_RULES := bp,fa,dfa,dkp,adfa,usf,frsf,brsf,kp,readout
figures: setup
	$(BIN)/bioplaus compare --dataset fashion-mnist --seeds 5 --rules $(GALLERY_RULES) --runs runs/reproduce \
		--out runs/gallery --figures figures --jobs $(JOBS) $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# The shipped recipes' evidence: `bioplaus tune` for every (model, rule) of the reproduction grid on
# Fashion-MNIST (trial runs in runs/tune, trials.csv and recipe.json in tuning/), then `make recipes`.
TUNE_GRID := cnn-bp cnn-fa cnn-dfa cnn-dkp cnn-usf cnn-frsf cnn-brsf cnn-kp snn-bp snn-dfa snn-adfa snn-dkp
tune: setup
	for pair in $(TUNE_GRID); do \
		$(BIN)/bioplaus tune --dataset fashion-mnist --model $${pair%%-*} --rule $${pair#*-} \
			--out tuning/fashion-mnist/$$pair --runs runs/tune/$$pair $(if $(DATA_DIR),--data-dir $(DATA_DIR)) || exit $$?; \
	done

# Merge every tuning/*/*/recipe.json into the shipped trainers/tuning/recipes.json (the defaults of every run) and
# write tuning/summary.md, the table of every recipe with its evidence.
recipes: setup
	$(BIN)/python -m trainers.tuning.table tuning/*/*/recipe.json

benchmark: setup
	$(BIN)/python benchmarks/throughput.py

clean:
	rm -rf $(VENV) runs
