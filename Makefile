# `make test` builds everything from scratch in .venv and runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
SHARED ?= ../shared/data

.PHONY: venv test quickstart bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first, pinned: the CPU wheel; anything else would pull a CUDA build
	$(PY) -m pip install -q torch==2.13.0

$(VENV)/.installed: $(PY) pyproject.toml
	$(PY) -m pip install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

test: venv
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 \
	  $(VENV)/bin/pytest -q -rs tests

# The main job on the offline default: fine-tune MiniLM and its 3-layer cut on a slice of
# SQuAD 2.0 train, predict a slice of dev, and compare the two models' error sets, then their
# representations of the same dev points before and after fine-tuning (same checkpoints), then
# which NewsQA questions each fine-tuned model's Deep kNN detector calls out of distribution,
# then how each, fine-tuned on IMDB reviews, falls to BERT-Attack.
OFFLINE := HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
quickstart: venv
	$(OFFLINE) $(VENV)/bin/miniature errors --config configs/quickstart.yaml --out runs/quickstart/errors
	$(OFFLINE) $(VENV)/bin/miniature representation --config configs/quickstart.yaml \
	  --out runs/quickstart/representation
	$(OFFLINE) $(VENV)/bin/miniature distribution --config configs/quickstart.yaml \
	  --out runs/quickstart/distribution
	$(OFFLINE) $(VENV)/bin/miniature adversarial --config configs/quickstart.yaml \
	  --out runs/quickstart/adversarial

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

clean:
	rm -rf $(VENV) $(BENCH) runs .pytest_cache
