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

"""The chunked full-size mask loss: values, gradient, bounded memory.

Truth is a float64 NumPy transcription of the original's loss (PyTorch's
bilinear upsampling, sigmoid focal and dice) and central finite differences
of it; the fixture parity of the same terms lives in test_criterion.py.
"""
import re

import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.losses import mask_loss

ALPHA, GAMMA = 0.25, 2.0
PRED_HW, TARGET_HW = (5, 6), (20, 22)


def _bilinear_matrix(in_size, out_size):
  """[out, in] weights of PyTorch's bilinear, align_corners=False."""
  source = np.maximum((np.arange(out_size) + 0.5) * in_size / out_size - 0.5,
                      0.0)
  lower = np.minimum(np.floor(source).astype(int), in_size - 1)
  upper = np.minimum(lower + 1, in_size - 1)
  weight = source - lower
  matrix = np.zeros((out_size, in_size))
  np.add.at(matrix, (np.arange(out_size), lower), 1.0 - weight)
  np.add.at(matrix, (np.arange(out_size), upper), weight)
  return matrix


def _numpy_sums(pred_masks, segment_map, valid, query_for_target):
  """float64 (focal sum, dice sum) over the valid matched pairs."""
  rows = _bilinear_matrix(pred_masks.shape[2], segment_map.shape[1])
  cols = _bilinear_matrix(pred_masks.shape[3], segment_map.shape[2])
  focal_sum = dice_sum = 0.0
  for b, t in zip(*np.nonzero(valid)):
    x = rows @ pred_masks[b, query_for_target[b, t]].astype(np.float64) @ cols.T
    target = (segment_map[b] == t).astype(np.float64)
    p = 1.0 / (1.0 + np.exp(-x))
    ce = np.logaddexp(0.0, x) - x * target
    p_t = p * target + (1 - p) * (1 - target)
    alpha_t = ALPHA * target + (1 - ALPHA) * (1 - target)
    focal_sum += (alpha_t * ce * (1 - p_t)**GAMMA).mean()
    dice_sum += 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
  return focal_sum, dice_sum


def _case(seed=0, batch=2, queries=11, slots=9):
  """Predictions, a segment map with a non-prefix valid subset, matchings."""
  rng = np.random.default_rng(seed)
  pred_masks = rng.normal(size=(batch, queries) + PRED_HW) * 2.0
  segment_map = rng.integers(-1, slots, size=(batch,) + TARGET_HW)
  valid = np.zeros((batch, slots), bool)
  valid[0, [0, 2, 3, 7]] = True
  valid[1, [1, 4, 5, 6, 8]] = True
  query_for_target = np.stack([rng.permutation(queries)[:slots]
                               for _ in range(batch)]).astype(np.int32)
  query_for_target[~valid] = -1
  targets = {'segment_map': segment_map.astype(np.int32),
             'classes': np.zeros((batch, slots), np.int32), 'valid': valid}
  return pred_masks, targets, query_for_target


def _sums(pred_masks, targets, query_for_target, chunk_size, jit=True):
  fn = tf.function(
      lambda x: mask_loss.matched_mask_losses(x, targets, query_for_target,
                                              chunk_size, ALPHA, GAMMA),
      jit_compile=jit)
  return [float(v) for v in fn(pred_masks)]


@pytest.mark.parametrize('chunk_size', [1, 2, 4, 16])
def test_sums_equal_the_float64_transcription(chunk_size):
  """Chunks that do and do not divide the 9 valid pairs, and one past them."""
  pred_masks, targets, query_for_target = _case()
  expected = _numpy_sums(pred_masks, targets['segment_map'], targets['valid'],
                         query_for_target)
  ours = _sums(pred_masks.astype(np.float32), targets, query_for_target,
               chunk_size)
  # float32 sums over 440 pixels per pair: measured relative error <= 5.2e-8.
  np.testing.assert_allclose(ours, expected, rtol=2e-7)
  exact = _sums(pred_masks, targets, query_for_target, chunk_size)
  # The float64 exact mode: measured relative error <= 3e-16.
  np.testing.assert_allclose(exact, expected, rtol=1e-12)


def test_dense_masks_give_the_same_sums_as_the_segment_map():
  pred_masks, targets, query_for_target = _case(seed=1)
  slots = np.arange(targets['valid'].shape[1])
  dense = dict(targets, masks=(targets['segment_map'][:, None] ==
                               slots[None, :, None, None]))
  del dense['segment_map']
  pred_masks = pred_masks.astype(np.float32)
  assert (_sums(pred_masks, dense, query_for_target, 3) ==
          _sums(pred_masks, targets, query_for_target, 3))


@pytest.mark.parametrize('jit', [False, True])
def test_float64_gradient_equals_finite_differences(jit):
  """The custom gradient against central differences of the transcription."""
  pred_masks, targets, query_for_target = _case(seed=2)
  upstream = (3.0, -0.5)  # d total / d focal_sum, d total / d dice_sum
  variable = tf.Variable(pred_masks)

  @tf.function(jit_compile=jit)
  def gradient():
    with tf.GradientTape() as tape:
      focal, dice = mask_loss.matched_mask_losses(
          variable, targets, query_for_target, 3, ALPHA, GAMMA)
      total = upstream[0] * focal + upstream[1] * dice
    return tape.gradient(total, variable)

  ours = gradient().numpy()
  rng = np.random.default_rng(3)
  step = 1e-5
  for _ in range(4):
    direction = rng.normal(size=pred_masks.shape)
    plus, minus = (_numpy_sums(pred_masks + s * direction,
                               targets['segment_map'], targets['valid'],
                               query_for_target) for s in (step, -step))
    numeric = sum(u * (p - m) / (2 * step)
                  for u, p, m in zip(upstream, plus, minus))
    # Relative to the size of the summed terms: measured <= 1.2e-11 (the
    # finite differences' round-off and truncation).
    scale = np.sum(np.abs(ours * direction))
    assert abs(np.sum(ours * direction) - numeric) <= 1e-9 * scale
  # Unmatched queries get no gradient.
  matched = np.zeros(pred_masks.shape[:2], bool)
  for b, t in zip(*np.nonzero(targets['valid'])):
    matched[b, query_for_target[b, t]] = True
  assert np.all(ours[~matched] == 0.0) and np.all(ours[matched] != 0.0)


def test_no_valid_target_gives_zero_loss_and_gradient():
  pred_masks, targets, query_for_target = _case(seed=4)
  targets['valid'][:] = False
  variable = tf.Variable(pred_masks.astype(np.float32))
  with tf.GradientTape() as tape:
    focal, dice = mask_loss.matched_mask_losses(variable, targets,
                                                query_for_target, 4)
    total = focal + dice
  assert float(focal) == 0.0 and float(dice) == 0.0
  gradient = tape.gradient(total, variable)
  assert np.all(gradient.numpy() == 0.0)


def test_cross_entropy_gradient_is_finite_at_saturated_logits():
  # Mask2Former's point BCE is `pair_losses` with gamma 0 and alpha 0.5. At a
  # saturated logit (|x| = 30: sigmoid rounds to exactly 0 or 1) pow(0, 0)
  # had the gradient NaN. The gradient of the mean of 0.5 * CE over N points
  # is 0.5 * (sigmoid(x) - t) / N, whatever the logit.
  logits = tf.constant([[[30.0, -30.0, 30.0, 0.5]]])
  targets = tf.constant([[[1.0, 0.0, 0.0, 1.0]]])
  with tf.GradientTape() as tape:
    tape.watch(logits)
    half_bce, _ = mask_loss.pair_losses(logits, targets, 0.5, 0.0)
  gradient = tape.gradient(half_bce, logits).numpy()
  expected = 0.5 * (1.0 / (1.0 + np.exp(-np.array(
      [[[30.0, -30.0, 30.0, 0.5]]]))) - np.array([[[1.0, 0.0, 0.0, 1.0]]])) / 4
  np.testing.assert_allclose(gradient, expected, rtol=1e-6, atol=1e-12)
  # Its value is the plain cross-entropy's: log(1 + e^-30), ..., 30, ...
  ce = np.log1p(np.exp(-np.abs([30.0, -30.0, 30.0, 0.5]))) + np.array(
      [0.0, 0.0, 30.0, 0.0])
  np.testing.assert_allclose(half_bce.numpy(), [0.5 * np.mean(ce)],
                             rtol=1e-6)


def _largest_array(hlo_text):
  """Elements of the largest array shape in an HLO module's text."""
  sizes = [int(np.prod([int(d) for d in dims.split(',') if d]))
           for dims in re.findall(r'(?:f32|pred|s32|s8)\[([\d,]*)\]',
                                  hlo_text)]
  return max(sizes)


def _compiled_largest_array(slots, height, width):
  """The largest array of the compiled loss and gradient, 4 valid of T."""
  rng = np.random.default_rng(5)
  pred_masks = tf.constant(rng.normal(size=(1, 80, 8, 8)), tf.float32)
  valid = np.arange(slots)[None] < 4
  targets = {'segment_map': rng.integers(-1, 4, (1, height, width)).astype(
      np.int32), 'classes': np.zeros((1, slots), np.int32), 'valid': valid}
  matching = np.where(valid, np.arange(slots)[None], -1).astype(np.int32)

  @tf.function(jit_compile=True)
  def loss_and_gradient(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      focal, dice = mask_loss.matched_mask_losses(x, targets, matching, 2)
      total = focal + dice
    return total, tape.gradient(total, x)

  return _largest_array(loss_and_gradient.experimental_get_compiler_ir(
      pred_masks)(stage='optimized_hlo'))


def test_compiled_loss_and_gradient_hold_no_slots_times_pixels_array():
  """Memory follows the chunk, not the padded slots: with 64 slots (4
  valid) no array of the compiled forward and backward is larger than with
  8 slots, and none comes near T * H * W."""
  height = width = 64
  largest = _compiled_largest_array(64, height, width)
  assert largest == _compiled_largest_array(8, height, width)
  # The largest arrays are the [1, 64, 64] segment map and 2-pair chunks
  # of it: 2 * 64 * 64 = 8,192 elements, 32x fewer than 64 * 64 * 64.
  assert largest <= 2 * height * width
