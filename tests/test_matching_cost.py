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

"""The matching cost and the legacy-nearest target downsampling.

The PyTorch fixture parity of the cost lives in test_criterion.py; here the
formulas are checked against a float64 NumPy transcription of the original
`batch_sigmoid_focal_loss` / `batch_dice_loss` / class cost.
"""
import numpy as np
import pytest
import tensorflow as tf

from projects.maskformer.losses import matching_cost
from projects.maskformer.ops import interpolation


@pytest.mark.parametrize('in_size,out_size,expected', [
    (16, 4, [0, 4, 8, 12]),  # 4x reduction: pixel 4i
    (10, 4, [0, 2, 5, 7]),  # scale 2.5
    (5, 3, [0, 1, 3]),  # scale 5/3
    (3, 6, [0, 0, 1, 1, 2, 2]),  # 2x enlargement
    (7, 7, [0, 1, 2, 3, 4, 5, 6]),
])
def test_resize_nearest_legacy_source_pixels(in_size, out_size, expected):
  """Hand-computed PyTorch legacy nearest indices floor(i * in / out)."""
  values = np.arange(in_size, dtype=np.float32)
  image = values[:, np.newaxis] * 100.0 + values[np.newaxis, :]
  resized = interpolation.resize_nearest_legacy(
      image[np.newaxis, np.newaxis], (out_size, out_size)).numpy()[0, 0]
  expected = np.array(expected)
  np.testing.assert_array_equal(
      resized, expected[:, np.newaxis] * 100.0 + expected[np.newaxis, :])


def test_resize_nearest_legacy_is_not_tf_half_pixel_nearest():
  """The trap: TF's nearest picks pixel 4i + 2 for a 4x reduction."""
  masks = np.random.default_rng(0).random((2, 3, 32, 48)) > 0.5
  ours = interpolation.resize_nearest_legacy(masks, (8, 12)).numpy()
  np.testing.assert_array_equal(ours, masks[:, :, ::4, ::4])
  half_pixel = tf.image.resize(
      np.moveaxis(masks, 1, -1).astype(np.float32), (8, 12),
      method='nearest').numpy()
  np.testing.assert_array_equal(np.moveaxis(half_pixel, -1, 1),
                                masks[:, :, 2::4, 2::4])


def _numpy_cost(logits, mask_logits, classes, masks, alpha=0.25, gamma=2.0):
  """float64 transcription of the original matcher's cost, one image."""
  logits = logits.astype(np.float64)
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  cost_class = -probs[:, classes]
  out_h, out_w = mask_logits.shape[-2:]
  in_h, in_w = masks.shape[-2:]
  rows = np.minimum(np.floor(np.arange(out_h) * (in_h / out_h)), in_h - 1)
  cols = np.minimum(np.floor(np.arange(out_w) * (in_w / out_w)), in_w - 1)
  targets = masks[:, rows.astype(int)][:, :, cols.astype(int)]
  targets = targets.reshape(len(classes), -1).astype(np.float64)
  x = mask_logits.reshape(len(logits), -1).astype(np.float64)
  sig = 1.0 / (1.0 + np.exp(-x))
  focal_pos = (1 - sig)**gamma * np.logaddexp(0.0, -x) * alpha
  focal_neg = sig**gamma * np.logaddexp(0.0, x) * (1 - alpha)
  cost_mask = (focal_pos @ targets.T + focal_neg @ (1 - targets).T) / x.shape[1]
  numerator = 2 * sig @ targets.T
  denominator = sig.sum(-1)[:, None] + targets.sum(-1)[None, :]
  cost_dice = 1 - (numerator + 1) / (denominator + 1)
  return 20.0 * cost_mask + 1.0 * cost_class + 1.0 * cost_dice


@pytest.mark.parametrize('pred_hw,target_hw', [((8, 12), (32, 48)),
                                               ((8, 12), (30, 45))])
def test_matching_cost_matches_numpy_oracle(pred_hw, target_hw):
  rng = np.random.default_rng(1)
  batch, queries, targets, classes = 2, 10, 6, 5
  logits = rng.normal(size=(batch, queries, classes + 1)).astype(np.float32)
  mask_logits = (rng.normal(size=(batch, queries) + pred_hw) * 3).astype(
      np.float32)
  target_classes = rng.integers(0, classes, size=(batch, targets))
  masks = rng.random((batch, targets) + target_hw) > 0.6
  cost = tf.function(matching_cost.matching_cost, jit_compile=True)(
      logits, mask_logits, target_classes.astype(np.int32), masks).numpy()
  assert cost.dtype == np.float32 and cost.shape == (batch, queries, targets)
  for b in range(batch):
    np.testing.assert_allclose(
        cost[b], _numpy_cost(logits[b], mask_logits[b], target_classes[b],
                             masks[b]), rtol=1e-5, atol=1e-5)


def test_cost_weights_and_focal_parameters():
  rng = np.random.default_rng(2)
  logits = rng.normal(size=(1, 4, 3)).astype(np.float32)
  mask_logits = rng.normal(size=(1, 4, 4, 4)).astype(np.float32)
  classes = np.array([[0, 2]], np.int32)
  masks = rng.random((1, 2, 8, 8)) > 0.5
  flat_masks = tf.reshape(tf.cast(masks[:, :, ::2, ::2], tf.float32),
                          [1, 2, 16])
  flat_logits = tf.reshape(mask_logits, [1, 4, 16])
  combined = matching_cost.matching_cost(
      logits, mask_logits, classes, masks, class_weight=2.0, mask_weight=3.0,
      dice_weight=5.0, focal_alpha=0.5, focal_gamma=1.0)
  focal, dice = matching_cost.mask_costs(flat_logits, flat_masks, 0.5, 1.0)
  expected = (2.0 * matching_cost.class_cost(logits, classes) + 3.0 * focal
              + 5.0 * dice)
  np.testing.assert_allclose(combined.numpy(), expected.numpy(), rtol=1e-6)
  # gamma = 1, alpha = 0.5: focal = 0.5 * mean(|t - sigmoid|-weighted BCE).
  x = flat_logits.numpy().astype(np.float64)
  t = flat_masks.numpy().astype(np.float64)
  sig = 1 / (1 + np.exp(-x))
  bce = np.logaddexp(0, x)[:, :, None, :] - x[:, :, None, :] * t[:, None]
  weight = np.abs(t[:, None] - sig[:, :, None, :])
  np.testing.assert_allclose(
      focal.numpy(),
      0.5 * (weight * bce).mean(-1), rtol=1e-5)


def test_padded_target_slots_and_bfloat16_inputs():
  """Out-of-range padded classes are clamped; bf16 inputs give float32."""
  rng = np.random.default_rng(3)
  logits = rng.normal(size=(1, 5, 4)).astype(np.float32)
  mask_logits = rng.normal(size=(1, 5, 4, 4)).astype(np.float32)
  classes = np.array([[1, -1, 7]], np.int32)
  masks = rng.random((1, 3, 16, 16)) > 0.5
  cost = matching_cost.matching_cost(
      tf.cast(logits, tf.bfloat16), tf.cast(mask_logits, tf.bfloat16), classes,
      masks)
  assert cost.dtype == tf.float32
  assert np.all(np.isfinite(cost.numpy()))
  rounded = [tf.cast(tf.cast(x, tf.bfloat16), tf.float32)
             for x in (logits, mask_logits)]
  expected = matching_cost.matching_cost(rounded[0], rounded[1], classes, masks)
  np.testing.assert_array_equal(cost.numpy(), expected.numpy())


@pytest.mark.parametrize('valid_slots', [(), (0,), (3, 17), (5, 6, 40)])
def test_cost_follows_the_valid_targets(valid_slots):
  """With `target_valid`, the columns of chunks (16 slots) that hold a valid
  target are the full computation's; the rest are finite (the matcher
  ignores them), and a batch without valid targets computes no mask cost."""
  rng = np.random.default_rng(4)
  batch, queries, slots, chunk = 2, 6, 41, 16
  logits = rng.normal(size=(batch, queries, slots + 1)).astype(np.float32)
  mask_logits = (rng.normal(size=(batch, queries, 8, 8)) * 3).astype(
      np.float32)
  masks = rng.random((batch, slots, 8, 8)) > 0.6
  classes = rng.integers(0, slots, size=(batch, slots)).astype(np.int32)
  valid = np.zeros((batch, slots), bool)
  valid[1, list(valid_slots)] = True
  full = matching_cost.matching_cost(logits, mask_logits, classes,
                                     masks).numpy()
  masked = tf.function(matching_cost.matching_cost, jit_compile=True)(
      logits, mask_logits, classes, masks, valid).numpy()
  computed = np.zeros(slots, bool)
  for s in valid_slots:
    computed[s // chunk * chunk:(s // chunk + 1) * chunk] = True
  np.testing.assert_allclose(masked[:, :, computed], full[:, :, computed],
                             rtol=1e-6, atol=1e-6)
  assert np.isfinite(masked).all()
  if not valid_slots:  # The class cost only (XLA's softmax vs TF's: 1 ulp).
    np.testing.assert_allclose(
        masked, matching_cost.class_cost(logits, classes).numpy(),
        rtol=1e-6, atol=1e-7)


def test_padding_exact_cost_is_the_numpy_oracle_of_each_region():
  """With `valid_sizes`, each image's cost is the float64 oracle's on its own
  region (predictions and targets cut to it), whatever the finite logits
  outside it, extreme ones included."""
  rng = np.random.default_rng(5)
  batch, queries, targets, classes = 2, 7, 4, 5
  regions = [(5, 9), (8, 4)]  # (height, width) on an 8 x 12 prediction.
  logits = rng.normal(size=(batch, queries, classes + 1)).astype(np.float32)
  mask_logits = (rng.normal(size=(batch, queries, 8, 12)) * 3).astype(
      np.float32)
  target_classes = rng.integers(0, classes, size=(batch, targets))
  masks = np.zeros((batch, targets, 8, 12), bool)
  for b, (h, w) in enumerate(regions):
    masks[b, :, :h, :w] = rng.random((targets, h, w)) > 0.6
    outside = np.ones((8, 12), bool)
    outside[:h, :w] = False
    mask_logits[b][:, outside] = rng.choice([-80.0, 60.0, 0.0],
                                            (queries, outside.sum()))
  cost = tf.function(matching_cost.matching_cost, jit_compile=True)(
      logits, mask_logits, target_classes.astype(np.int32), masks,
      valid_sizes=np.array(regions, np.int32)).numpy()
  for b, (h, w) in enumerate(regions):
    np.testing.assert_allclose(
        cost[b], _numpy_cost(logits[b], mask_logits[b, :, :h, :w],
                             target_classes[b], masks[b, :, :h, :w]),
        rtol=1e-5, atol=1e-5)
