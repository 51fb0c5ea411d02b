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
canvas and run with its size as `valid_sizes` (`ops.valid_region`). Its
outputs, cropped to the image's region at their stride, must equal:

  * the same model on the image alone at its own size, floats within
    `1e-4 * max(1, max|own|)`, attention masks identical (checks
    'canvas.image<i>.<output>');
  * the reference, by the folder's own criteria, for the images the
    original computed without padding: those as large as the folder's
    padded input (checks 'canvas.image<i>.<output>.vs_reference': for
    MaskFormer folders with exact answers the float32 bound of
    `model_checks.float32_bound` against the exact answer, else
    `1e-4 * max(1, max|reference|)` against the reference; for Mask2Former
    folders the README's bound of `m2f_model_checks.bound`, the attention
    masks identical).

All images together on one canvas, each with its own size, must give what
each gives alone there (checks 'canvas.batch.image<i>.<output>').

Outputs are compared in the reference's layout and names: NCHW feature
maps, [B, Q, H, W] masks, [B, Q, K + 1] logits; Mask2Former's encoder token
sequences as per-level maps '<key>_l<level>'.
"""
from typing import Callable
from typing import Dict
from typing import List
from typing import Optional
from typing import Sequence
from typing import Tuple

import numpy as np
import tensorflow as tf

from projects.maskformer.reference import checks as checks_lib
from projects.maskformer.reference import fixture_formats
from projects.maskformer.reference import m2f_model_checks
from projects.maskformer.reference import model_checks

# An output in the reference's layout and the axis of its height (the width
# axis follows), or None if it is not spatial.
Output = Tuple[np.ndarray, Optional[int]]
# (normalized [B, H, W, 3] images, None or int [B, 2] valid sizes) -> the
# model's outputs by reference name.
RunOutputs = Callable[[np.ndarray, Optional[np.ndarray]], Dict[str, Output]]
# (check name, reference name, our output of image i (batch of 1, cropped),
# i) -> the check against the folder's reference of image i, or None if the
# folder has none.
ReferenceCheck = Callable[[str, str, np.ndarray, int],
                          Optional[checks_lib.Result]]

# Encoder token sequences of Mask2Former, compared as per-level maps.
_M2F_TOKEN_KEYS = ('encoder_layer0_output', 'enc0_sampling_locations',
                   'enc0_attention_weights')


def region(array: np.ndarray, height_axis: Optional[int],
            size: Sequence[int]) -> np.ndarray:
  """The top-left `size` of the spatial axes (all of a non-spatial array)."""
  if height_axis is None:
    return array
  index = [slice(None)] * array.ndim
  index[height_axis] = slice(0, size[0])
  index[height_axis + 1] = slice(0, size[1])
  return array[tuple(index)]


def compare_outputs(name: str, ours: np.ndarray, expected: np.ndarray,
             tolerance: float) -> checks_lib.Result:
  """Floats within `tolerance`; booleans (attention masks) identical."""
  if expected.dtype == bool:
    mismatches = (int(np.sum(ours != expected))
                  if ours.shape == expected.shape else expected.size)
    return checks_lib.compare_count(name, mismatches, expected.size)
  return checks_lib.compare(name, ours, expected, tolerance)


def check_canvas_holds(canvas: Sequence[int], padded_size: Sequence[int]):
  """Raises ValueError unless the canvas holds the folder's padded input."""
  if len(canvas) != 2 or any(c < p for c, p in zip(canvas, padded_size)):
    raise ValueError(f'the canvas {list(canvas)} must be two sizes at least '
                     f'the folder\'s padded input {list(padded_size)}')


def canvas_checks(run_outputs: RunOutputs, images: np.ndarray,
                  image_sizes: np.ndarray, canvas: Sequence[int],
                  reference_check: ReferenceCheck
                  ) -> List[checks_lib.Result]:
  """The module docstring's checks of one model on one folder's images.

  Args:
    run_outputs: the folder's model as a `RunOutputs`.
    images: the float32 [B, H, W, 3] normalized images, zero-padded to the
      folder's padded input (H, W).
    image_sizes: an int [B, 2] array, each image's (height, width).
    canvas: the (height, width) of the canvas, at least (H, W).
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
    own = run_outputs(images[i:i + 1, :height, :width], None)
    on_canvas = run_outputs(batch[i:i + 1], sizes[i:i + 1])
    unpadded = (height, width) == tuple(padded_size)
    cropped = {}
    for name, (expected, axis) in own.items():
      size = None if axis is None else expected.shape[axis:axis + 2]
      ours = region(on_canvas[name][0], axis, size)
      cropped[name] = (ours, axis)
      results.append(compare_outputs(f'canvas.image{i}.{name}', ours, expected,
                              checks_lib.scaled_tolerance(expected)))
      check = (reference_check(f'canvas.image{i}.{name}.vs_reference', name,
                               ours, i) if unpadded else None)
      if check is not None:
        results.append(check)
    alone_on_canvas.append(cropped)
  together = run_outputs(batch, sizes)
  for i, alone in enumerate(alone_on_canvas):
    for name, (expected, axis) in alone.items():
      size = None if axis is None else expected.shape[axis:axis + 2]
      ours = region(together[name][0][i:i + 1], axis, size)
      results.append(compare_outputs(f'canvas.batch.image{i}.{name}', ours,
                              expected, checks_lib.scaled_tolerance(expected)))
  return results


def maskformer_outputs(model) -> RunOutputs:
  """A MaskFormer's outputs under their reference names and layouts."""

  def run(images, valid_sizes):
    outputs = model(tf.constant(images), training=False,
                    valid_sizes=None if valid_sizes is None else
                    tf.constant(valid_sizes))
    maps = {
        f'backbone_res{level}': features
        for level, features in outputs['backbone_features'].items()
    }
    maps['mask_features'] = outputs['mask_features']
    if 'transformer_encoder_features' in outputs:
      maps['transformer_encoder_output'] = outputs[
          'transformer_encoder_features']
    named = {name: (fixture_formats.nhwc_to_nchw(np.asarray(value)), 2)
             for name, value in maps.items()}
    predictions = [('', outputs)] + [
        (f'aux{i}_', aux) for i, aux in enumerate(outputs['aux_outputs'])]
    for prefix, prediction in predictions:
      named[prefix + 'pred_logits'] = (np.asarray(prediction['pred_logits']),
                                       None)
      named[prefix + 'pred_masks'] = (np.asarray(prediction['pred_masks']), 2)
    return named

  return run


def _level_maps(tokens: np.ndarray, shapes: Sequence[Tuple[int, int]]
                ) -> List[np.ndarray]:
  """[B, S, ...] tokens of concatenated levels -> [B, H_l, W_l, ...] each."""
  splits = np.cumsum([h * w for h, w in shapes])[:-1]
  return [np.reshape(level, (level.shape[0], h, w) + level.shape[2:])
          for level, (h, w) in zip(np.split(tokens, splits, axis=1), shapes)]


def mask2former_outputs(model) -> RunOutputs:
  """A Mask2Former's `m2f_model_checks.intermediates`, the encoder tokens
  split into per-level maps '<key>_l<level>' ([B, H_l, W_l, ...])."""

  def run(images, valid_sizes):
    if valid_sizes is not None:
      valid_sizes = tf.constant(valid_sizes)
    outputs = model(tf.constant(images), training=False,
                    valid_sizes=valid_sizes)
    arrays = m2f_model_checks.intermediates(model, outputs, valid_sizes)
    shapes = [tuple(f.shape[1:3]) for f in outputs['multi_scale_features']]
    named = {}
    for key, value in arrays.items():
      if key in _M2F_TOKEN_KEYS:
        for level, level_map in enumerate(_level_maps(value, shapes)):
          named[f'{key}_l{level}'] = (level_map, 1)
      else:
        named[key] = (value, None if key.endswith('pred_logits') else 2)
    return named

  return run


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

  return canvas_checks(maskformer_outputs(run.model),
                       model_checks.model_inputs(fixture),
                       fixture.arrays['image_sizes'], canvas,
                       reference_check)


def mask2former_canvas_checks(run: m2f_model_checks.Mask2FormerRun,
                              canvas: Sequence[int]
                              ) -> List[checks_lib.Result]:
  """`canvas_checks` of a Mask2Former model folder's run, the reference
  judged by its README's criteria (`m2f_model_checks.forward_checks`)."""
  fixture = run.fixture
  arrays = fixture.arrays
  level_shapes = []
  while f'multi_scale_l{len(level_shapes)}' in arrays:
    level_shapes.append(arrays[f'multi_scale_l{len(level_shapes)}'].shape[2:])

  def stored(name, i):
    """(stored key, image i's reference in our layout), or None."""
    for key in _M2F_TOKEN_KEYS:
      if name.startswith(key + '_l') and key in arrays and i < len(
          arrays[key]):
        level = int(name[len(key) + 2:])
        return key, _level_maps(arrays[key][i:i + 1], level_shapes)[level]
    if name in arrays and i < len(arrays[name]):
      return name, arrays[name][i:i + 1]
    return None

  def reference_check(check_name, name, ours, i):
    found = stored(name, i)
    if found is None:
      return None
    key, reference = found
    return compare_outputs(check_name, ours, reference,
                    0.0 if reference.dtype == bool else
                    m2f_model_checks.bound(fixture, key))

  images = fixture_formats.nchw_to_nhwc(
      arrays['padded_normalized_images']).astype(np.float32)
  return canvas_checks(mask2former_outputs(run.model), images,
                       arrays['image_sizes'], canvas, reference_check)
