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

"""Padding-exact computation checked on a model folder's images.

Each image of the folder is placed alone at the top-left of a larger static
canvas and run with its size as `valid_sizes` (`modeling.valid_region`). Its
outputs, cropped to the image's region at their stride, must equal:

  * the same model on the image alone at its own size, within
    `1e-4 * max(1, max|own|)` (checks 'canvas.image<i>.<output>');
  * the reference, by the folder's own criteria, for the images the
    original computed without padding: those as large as the folder's
    padded input (checks 'canvas.image<i>.<output>.vs_reference'; for
    MaskFormer folders with exact answers the float32 bound of
    `model_checks.float32_bound` against the exact answer, else
    `1e-4 * max(1, max|reference|)` against the reference).

All images together on one canvas, each with its own size, must give what
each gives alone there (checks 'canvas.batch.image<i>.<output>').

Outputs are compared in the reference's layout and names
(`named_outputs`): NCHW feature maps, [B, Q, H, W] masks, [B, Q, K + 1]
logits.
"""
from typing import Any
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import model_checks

# Model outputs (a dict) -> {reference name: array in the reference layout}.
OutputNaming = Callable[[Dict[str, Any]], Dict[str, np.ndarray]]
# (check name, reference name, our [1, ...] output of image i, i) -> the
# check against the folder's reference of image i, or None if it has none.
ReferenceCheck = Callable[[str, str, np.ndarray, int],
                          Optional[checks_lib.Check]]


def named_outputs(outputs: Dict[str, Any]) -> Dict[str, np.ndarray]:
  """MaskFormer's outputs under their reference names and layouts."""
  named = {
      f'backbone_res{level}': features
      for level, features in outputs['backbone_features'].items()
  }
  named['mask_features'] = outputs['mask_features']
  if 'transformer_encoder_features' in outputs:
    named['transformer_encoder_output'] = outputs[
        'transformer_encoder_features']
  named = {name: fixture_formats.nhwc_to_nchw(np.asarray(value))
           for name, value in named.items()}
  predictions = [('', outputs)] + [
      (f'aux{i}_', aux) for i, aux in enumerate(outputs['aux_outputs'])]
  for prefix, prediction in predictions:
    for key in ('pred_logits', 'pred_masks'):
      named[prefix + key] = np.asarray(prediction[key])
  return named


def _crop_like(value: np.ndarray, like: np.ndarray) -> np.ndarray:
  """`value` cropped to `like`'s two trailing (spatial) sizes, if spatial."""
  if value.ndim < 4:
    return value
  return value[..., :like.shape[-2], :like.shape[-1]]


def check_canvas_holds(canvas: Sequence[int], padded_size: Sequence[int]):
  """Raises ValueError unless the canvas holds the folder's padded input."""
  if len(canvas) != 2 or any(c < p for c, p in zip(canvas, padded_size)):
    raise ValueError(f'the canvas {list(canvas)} must be two sizes at least '
                     f'the folder\'s padded input {list(padded_size)}')


def canvas_checks(model: tf_keras.Model, images: np.ndarray,
                  image_sizes: np.ndarray, canvas: Sequence[int],
                  naming: OutputNaming, reference_check: ReferenceCheck
                  ) -> List[checks_lib.Result]:
  """The module docstring's checks of one model on one folder's images.

  Args:
    model: the folder's model, with its weights; called as
      `model(images, training=False, valid_sizes=...)`.
    images: the float32 [B, H, W, 3] normalized images, zero-padded to the
      folder's padded input (H, W).
    image_sizes: an int [B, 2] array, each image's (height, width).
    canvas: the (height, width) of the canvas, at least (H, W).
    naming: the model's `OutputNaming`.
    reference_check: the folder's `ReferenceCheck`.

  Returns:
    The checks.

  Raises:
    ValueError: the canvas is smaller than the padded input.
  """
  padded_size = images.shape[1:3]
  check_canvas_holds(canvas, padded_size)
  batch = np.zeros((len(images),) + tuple(canvas) + (3,), np.float32)
  batch[:, :padded_size[0], :padded_size[1]] = images
  sizes = np.asarray(image_sizes, np.int32)
  results = []
  alone_on_canvas = []
  for i, (height, width) in enumerate(sizes):
    own = naming(model(tf.constant(images[i:i + 1, :height, :width]),
                       training=False))
    on_canvas = naming(model(tf.constant(batch[i:i + 1]), training=False,
                             valid_sizes=tf.constant(sizes[i:i + 1])))
    alone_on_canvas.append(on_canvas)
    unpadded = (height, width) == tuple(padded_size)
    for name, expected in own.items():
      ours = _crop_like(on_canvas[name], expected)
      results.append(checks_lib.compare_scaled(
          f'canvas.image{i}.{name}', ours, expected))
      check = (reference_check(f'canvas.image{i}.{name}.vs_reference', name,
                               ours, i) if unpadded else None)
      if check is not None:
        results.append(check)
  together = naming(model(tf.constant(batch), training=False,
                          valid_sizes=tf.constant(sizes)))
  for i, alone in enumerate(alone_on_canvas):
    for name, expected in alone.items():
      results.append(checks_lib.compare_scaled(
          f'canvas.batch.image{i}.{name}', together[name][i:i + 1], expected))
  return results


def maskformer_canvas_checks(run: model_checks.ModelRun,
                             canvas: Sequence[int]
                             ) -> List[checks_lib.Result]:
  """`canvas_checks` of a MaskFormer model folder's float32 run."""
  fixture = run.fixture

  def reference_check(check_name, name, ours, i):
    if name not in fixture.arrays:
      return None
    if fixture.exact is None:
      return checks_lib.compare_scaled(check_name, ours,
                                       fixture.arrays[name][i:i + 1])
    return checks_lib.compare(check_name, ours, fixture.exact[name][i:i + 1],
                              model_checks.float32_bound(fixture, name))

  return canvas_checks(run.model, model_checks.model_inputs(fixture),
                       fixture.arrays['image_sizes'], canvas, named_outputs,
                       reference_check)
