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

r"""Predicts panoptic segments of images with a SavedModel or a checkpoint.

The model is a MaskFormer or a Mask2Former (each with its own panoptic rule).

For every input image (JPEG or PNG; folders contribute their .jpg, .jpeg
and .png files) the tool writes into --output_dir:
  * `<stem>_overlay.png`: the image with segment colours, white outlines and
    class names (with scores);
  * `<stem>.json`: the image's size and its segments (`id`, `category_id`,
    `class` = contiguous class id, `name`, `isthing`, `score`, `area` in
    pixels);
  * `<stem>_panoptic.png`: the segment ids as R + 256 G + 256^2 B
    (panopticapi's encoding) at the image's size;
and prints one line per image. A model exported with semantic results only
(ADE20K-150) yields one segment per class present, without scores.

The model comes from a SavedModel of tools/export_saved_model.py
(--saved_model), or from a checkpoint (--checkpoint with --experiment, a
maskformer_* or mask2former_* experiment, and optionally --config_file /
--params_override, resolved as in tools/export_saved_model.py); both run the
same inference.

Usage:
  python tools/predict.py --saved_model=/tmp/maskformer_saved_model \
      --input=work_dirs/demo/coco/val2017 --output_dir=/tmp/predictions

  python tools/predict.py --experiment=maskformer_synthetic_cpu \
      --params_override="task.evaluation.category_map_file=work_dirs/demo/tfrecords/categories_val.json" \
      --checkpoint=work_dirs/demo/model --input=image1.jpg --input=image2.png \
      --output_dir=/tmp/predictions

An image that cannot be read or decoded is skipped with a message; every
other image is still predicted, and the run ends with one line naming the
skipped images and exit status 1. A missing input, model or checkpoint, an
unwritable --output_dir or a bad configuration stops the run at once with a
one-line error and exit status 1.
"""
import os
import sys
from typing import List
from typing import Tuple

# Run from a checkout: import this checkout's `projects` package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from projects.maskformer import cli  # noqa: I001

cli.quiet_tensorflow_startup()  # Before TensorFlow is imported.

from absl import app
from absl import flags
import tensorflow as tf

import experiment_flags
from projects.maskformer.serving import prediction

_INPUT = flags.DEFINE_multi_string(
    'input', None, 'Required. An image file (JPEG or PNG) or a folder of them '
    '(its .jpg, .jpeg and .png files, not recursively); repeat the flag for '
    'more. File name stems must be unique (they name the outputs).')
_OUTPUT_DIR = flags.DEFINE_string(
    'output_dir', None, 'Required. Folder for the overlays, JSONs and '
    'panoptic PNGs (created if needed).')
_SAVED_MODEL = flags.DEFINE_string(
    'saved_model', None, 'A SavedModel folder written by '
    'tools/export_saved_model.py. Excludes --checkpoint/--experiment.')
_EXPERIMENT_FLAGS = experiment_flags.define_experiment_flags()
_CHECKPOINT = flags.DEFINE_string(
    'checkpoint', None, 'Instead of --saved_model: a checkpoint path or a '
    'training model_dir (its latest checkpoint); needs --experiment (the '
    'model, resize, canvases, thresholds and task.evaluation.'
    'category_map_file come from the experiment).')


def predict_all() -> List[Tuple[str, str]]:
  """Loads the model and predicts every input image it can.

  An image that cannot be read or decoded is reported and skipped; the
  others are all predicted.

  Returns:
    (path, reason) of every image that could not be predicted.
  """
  images = prediction.find_images(_INPUT.value)
  if _SAVED_MODEL.value:
    predictor = prediction.Predictor.from_saved_model(_SAVED_MODEL.value)
  else:
    params = experiment_flags.load_experiment(_EXPERIMENT_FLAGS)
    predictor = prediction.Predictor.from_checkpoint(params, _CHECKPOINT.value)
  os.makedirs(_OUTPUT_DIR.value, exist_ok=True)
  failed = []
  for path in images:
    try:
      record = predictor.write(path, _OUTPUT_DIR.value)
    except prediction.ImageReadError as e:
      print(f'{path}: skipped, {e.reason}', file=sys.stderr)
      failed.append((path, e.reason))
      continue
    names = ', '.join(sorted({s['name'] for s in record['segments']}))
    print(f'{path}: {len(record["segments"])} segments ({names}) -> '
          f'{os.path.join(_OUTPUT_DIR.value, record["overlay_png"])}')
  predicted = len(images) - len(failed)
  print(f'wrote predictions of {predicted} images to {_OUTPUT_DIR.value}')
  return failed


def main(argv) -> int:
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  checkpoint_mode = bool(_CHECKPOINT.value or
                         _EXPERIMENT_FLAGS.experiment.value)
  if bool(_SAVED_MODEL.value) == checkpoint_mode:
    raise app.UsageError('give either --saved_model or --checkpoint with '
                         '--experiment')
  if checkpoint_mode and not (_CHECKPOINT.value and
                              _EXPERIMENT_FLAGS.experiment.value):
    raise app.UsageError('--checkpoint and --experiment go together')
  cli.check_writable(_OUTPUT_DIR.value, '--output_dir')
  failed = predict_all()
  if failed:
    raise cli.UserError(
        f'{len(failed)} of the input images could not be predicted: ' +
        '; '.join(f'{path} ({reason})' for path, reason in failed))
  return 0


if __name__ == '__main__':
  cli.run(main, required=['input', 'output_dir'],
          user_errors=(ValueError, AssertionError, tf.errors.OpError))
