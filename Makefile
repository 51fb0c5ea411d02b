# One-command entry points; each creates or updates the local virtual
# environment in $(VENV) first.
PYTHON ?= python3
export TF_CPP_MIN_LOG_LEVEL ?= 3
VENV ?= .venv
PY := $(VENV)/bin/python
DEPS_STAMP := $(VENV)/.deps-installed

.PHONY: venv test lint demo

# Dependencies are reinstalled only when setup.py changes; the project itself
# is reinstalled on every run so that the installed copy is never stale.
$(DEPS_STAMP): setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet ".[test]"
	touch $(DEPS_STAMP)

venv: $(DEPS_STAMP)
	$(PY) -m pip install --quiet --no-deps --force-reinstall .

lint: venv
	$(VENV)/bin/ruff check .

# Test files are spread over TEST_WORKERS processes (pytest-xdist; one file
# stays in one process, so module fixtures are built once); 1: no xdist.
TEST_WORKERS ?= 2

test: lint
	$(PY) -m pytest $(if $(filter-out 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile) --durations=25

# The demo: a synthetic COCO-panoptic dataset (64 train / 32 val images),
# converted to TFRecords, a small model trained on 2 CPU cores, PQ of the
# validation split with panopticapi's definition, and overlay pictures.
# MODEL=maskformer (default) or MODEL=mask2former picks the architecture: the
# experiment $(MODEL)_synthetic_cpu.
MODEL ?= maskformer
DEMO_MODELS := maskformer mask2former
DEMO_EXPERIMENT := $(MODEL)_synthetic_cpu
DEMO_DIR ?= work_dirs/demo
DEMO_DATA := $(DEMO_DIR)/coco
DEMO_RECORDS := $(DEMO_DIR)/tfrecords
comma := ,
# Extra --params_override entries, e.g. DEMO_OVERRIDES_EXTRA=runtime.mixed_precision_dtype=bfloat16
DEMO_OVERRIDES_EXTRA ?=
# A seed for the training run (initial weights, dropout, data order), e.g. DEMO_SEED=1
DEMO_SEED ?=
DEMO_OVERRIDES := task.train_data.input_path=$(DEMO_RECORDS)/train-*,task.validation_data.input_path=$(DEMO_RECORDS)/val-*,task.evaluation.category_map_file=$(DEMO_RECORDS)/categories_val.json$(if $(DEMO_OVERRIDES_EXTRA),$(comma)$(DEMO_OVERRIDES_EXTRA))

demo: venv
	@$(if $(filter $(MODEL),$(DEMO_MODELS)),true,echo "error: MODEL must be one of: $(DEMO_MODELS); got '$(MODEL)'" >&2; exit 1)
	rm -rf $(DEMO_DIR)
	$(PY) tools/make_synthetic_coco.py --output_dir=$(DEMO_DATA) --num_train=64 --num_val=32
	for split in train val; do \
	  $(PY) tools/create_coco_panoptic_tfrecord.py --image_dir=$(DEMO_DATA)/$${split}2017 \
	    --annotation_file=$(DEMO_DATA)/annotations/panoptic_$${split}2017.json \
	    --panoptic_dir=$(DEMO_DATA)/annotations/panoptic_$${split}2017 \
	    --output_prefix=$(DEMO_RECORDS)/$$split --num_shards=2 --noprogress || exit 1; \
	done
	$(PY) -m official.projects.maskformer.train --experiment=$(DEMO_EXPERIMENT) \
	  --mode=train_and_eval --model_dir=$(DEMO_DIR)/model --params_override="$(DEMO_OVERRIDES)" \
	  $(if $(DEMO_SEED),--seed=$(DEMO_SEED))
	$(PY) tools/evaluate_coco_panoptic.py --experiment=$(DEMO_EXPERIMENT) \
	  --params_override="$(DEMO_OVERRIDES)" --checkpoint=$(DEMO_DIR)/model \
	  --output_dir=$(DEMO_DIR)/evaluation --output_json=$(DEMO_DIR)/evaluation/pq.json \
	  --gt_json=$(DEMO_DATA)/annotations/panoptic_val2017.json \
	  --gt_folder=$(DEMO_DATA)/annotations/panoptic_val2017 \
	  --image_dir=$(DEMO_DATA)/val2017 --overlay_dir=$(DEMO_DIR)/evaluation/overlays --noprogress
	@echo "demo results: PQ table above and in $(DEMO_DIR)/evaluation/pq.json;"
	@echo "  overlays in $(DEMO_DIR)/evaluation/overlays/, model and TensorBoard logs in $(DEMO_DIR)/model/"
