# Copyright 2026 The MaskFormer-TF Authors.
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

r"""Exports MaskFormer or Mask2Former as a SavedModel with post-processing.

The SavedModel's signatures take one image of any size, a uint8 [1, H, W, 3]
tensor ('serving_default') or a JPEG/PNG file's bytes in a string [1] tensor
('serve_image_bytes'), and return the original's inference at the image's
original size: the panoptic map with its segment table (ids, classes, dataset
category ids, thing flags, scores), the semantic map and the instance masks
with their scores (see `projects/maskformer/serving/export_module.py` for
every output). The category names, thing flags and colours and the
architecture are stored in the SavedModel as `assets/serving_metadata.json`.

The experiment (after --config_file and --params_override) fixes the
architecture (a maskformer_* or mask2former_* experiment; its panoptic rule
too: Mask2Former paints only a segment's confident pixels), the model
(`task.model`), the resize (`task.validation_data.parser.eval_short_edge` /
`eval_max_size`), the model canvas (`...parser.output_size`), the output
canvas (`...parser.groundtruth_padded_size`: images up to that size get
full-resolution results), the thresholds and the category map
(`task.evaluation`).

Usage:
  python tools/export_saved_model.py --experiment=maskformer_synthetic_cpu \
      --params_override="task.evaluation.category_map_file=work_dirs/demo/tfrecords/categories_val.json" \
      --checkpoint=work_dirs/demo/model --export_dir=/tmp/maskformer_saved_model

  (likewise --experiment=mask2former_synthetic_cpu with a Mask2Former
  checkpoint.)

Exits with status 1 and a message on a missing checkpoint, a checkpoint that
does not match the model, or an unusable configuration.
"""
import os
import sys

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
import tensorflow as tf

import experiment_flags
from projects.maskformer import inference_setup
from projects.maskformer.modeling import postprocessing
from projects.maskformer.serving import export_module

_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags()
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None, 'Required. The trained weights: a training model_dir '
    '(its latest checkpoint is used) or a checkpoint path, e.g. one written '
    'by tools/convert_pytorch_checkpoint.py.')
_EXPORT_DIR = flags.DEFINE_string(
    'export_dir', None, 'Required. The SavedModel folder to create; it must '
    'not already hold a SavedModel.')
_OUTPUTS = flags.DEFINE_list(
    'outputs', None, 'Results to compute, any of '
    f'{",".join(postprocessing.OUTPUT_KINDS)}. Default: all three for '
    'panoptic experiments, semantic only for semantic ones (panoptic and '
    'instance results need task.evaluation.category_map_file).')
_INSTANCE_TOP_K = flags.DEFINE_integer(
    'instance_top_k', None, 'Number of (query, class) pairs of the instance '
    'results. Default: min(100, queries x classes), as Mask2Former.')


def export() -> str:
  """Builds the serving module, restores the checkpoint and writes it."""
  params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
  unknown = set(_OUTPUTS.value or []) - set(postprocessing.OUTPUT_KINDS)
  if unknown:
    raise ValueError(f'--outputs: unknown kinds {sorted(unknown)}; choose '
                     f'from {list(postprocessing.OUTPUT_KINDS)}')
  checkpoint = inference_setup.resolve_checkpoint(_CHECKPOINT.value)
  module = export_module.MaskFormerModule(
      params, outputs=_OUTPUTS.value, instance_top_k=_INSTANCE_TOP_K.value)
  return export_module.export_saved_model(module, _EXPORT_DIR.value,
                                          checkpoint_path=checkpoint)


def main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  cli.check_writable(_EXPORT_DIR.value, '--export_dir')
  export_dir = export()
  print(f'wrote the SavedModel to {export_dir}')
  return 0


if __name__ == '__main__':
  cli.run(main, required=['experiment', 'checkpoint', 'export_dir'],
          user_errors=(ValueError, AssertionError, tf.errors.OpError))
