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

"""The Hungarian matching cost of MaskFormer: class, sigmoid focal and dice."""
from typing import Optional
from typing import Tuple

import tensorflow as tf

from projects.maskformer.ops import interpolation
from projects.maskformer.ops import valid_region


def class_cost(pred_logits: tf.Tensor, target_classes: tf.Tensor) -> tf.Tensor:
  """-softmax(pred_logits)[query, class of target] for every pair.

  Args:
    pred_logits: A float [B, N, K+1] tensor of class logits.
    target_classes: An int [B, T] tensor of class ids (out-of-range ids, as in
      padded slots, are clamped to [0, K]).

  Returns:
    A float32 [B, N, T] tensor.
  """
  probs = tf.nn.softmax(tf.cast(pred_logits, tf.float32), axis=-1)
  classes = tf.clip_by_value(tf.cast(target_classes, tf.int32), 0,
                             tf.shape(probs)[-1] - 1)
  return -tf.gather(probs, classes, axis=2, batch_dims=1)


def mask_costs(mask_logits: tf.Tensor, target_masks: tf.Tensor,
               alpha: float = 0.25, gamma: float = 2.0,
               target_valid: Optional[tf.Tensor] = None,
               chunk_size: int = 16,
               pixel_valid: Optional[tf.Tensor] = None
               ) -> Tuple[tf.Tensor, tf.Tensor]:
  """Pairwise sigmoid focal and dice costs, from one matrix product.

  For prediction n and target t, with s = sigmoid(x):
    focal: `mean_p [t_p * pos_p + (1 - t_p) * neg_p]`, where
      `pos = alpha * (1 - s)^gamma * softplus(-x)` and
      `neg = (1 - alpha) * s^gamma * softplus(x)`;
    dice: `1 - (2 sum_p(s t) + 1) / (sum_p(s) + sum_p(t) + 1)`.
  The original computes the focal cost as `pos @ t + neg @ (1 - t)`; here it
  is `(pos - neg) @ t + sum_p(neg)`, equal in exact arithmetic, and the
  products with t of `pos - neg` and of `s` are one matrix product: two
  [N, P] x [P, T] products per image where the original has three, the cost
  of the matcher being mostly these products.

  With `target_valid`, the cost follows the real targets, not the padded
  slots: the products are computed per chunk of `chunk_size` slots, only for
  the chunks that hold a valid target of some image of the batch (each chunk
  a static-shape branch of a `tf.cond`), and nothing at all is computed for a
  batch without valid targets. The other columns are finite but meaningless
  (their products are taken as 0; both costs are 0 for a batch without
  targets).

  Args:
    mask_logits: A float32 [B, N, P] tensor of mask logits (P pixels).
    target_masks: A bool or float [B, T, P] tensor of 0/1 targets (T
      static), made float32 one chunk at a time.
    alpha: The focal cost's positive-class weight.
    gamma: The focal cost's focusing exponent.
    target_valid: Optional bool [B, T] tensor: the slots that hold a target.
    chunk_size: Slots per chunk (with `target_valid`).
    pixel_valid: Optional bool [B, P] tensor: the pixels of each image's own
      region (padding-exact computation); the means and sums then run over
      them only, as for the image alone. The targets are cut to the region,
      so their products need no weights: only the sums over pixels take
      them, as products with the region, which keeps the [B, N, P] rows
      free of per-pixel weights (weighted copies of them raised the train
      step's peak, docs/memory.md).

  Returns:
    (focal, dice): float32 [B, N, T] tensors.
  """
  batch_size, num_queries = tf.shape(mask_logits)[0], mask_logits.shape[1]
  num_targets = target_masks.shape[1]
  if pixel_valid is None:
    num_pixels = tf.cast(tf.shape(mask_logits)[-1], tf.float32)
    target_masks = tf.convert_to_tensor(target_masks)
  else:
    pixel_weights = tf.cast(pixel_valid, tf.float32)
    num_pixels = tf.reduce_sum(pixel_weights, axis=-1)[:, tf.newaxis,
                                                       tf.newaxis]
    target_masks = tf.logical_and(tf.cast(target_masks, tf.bool),
                                  pixel_valid[:, tf.newaxis])

  def pixel_sums(values):
    """[B, N, P] -> [B, N]: sums over the pixels (of the regions)."""
    if pixel_valid is None:
      return tf.reduce_sum(values, axis=-1)
    return tf.einsum('bnp,bp->bn', values, pixel_weights)

  def chunk_products(rows, start, end):
    return tf.einsum('bnp,btp->bnt', rows,
                     tf.cast(target_masks[:, start:end], tf.float32))

  def costs():
    probs = tf.sigmoid(mask_logits)
    positive = alpha * tf.pow(1.0 - probs, gamma) * tf.nn.softplus(
        -mask_logits)
    negative = (1.0 - alpha) * tf.pow(probs, gamma) * tf.nn.softplus(
        mask_logits)
    rows = tf.concat([positive - negative, probs], axis=1)
    if target_valid is None:
      products = chunk_products(rows, 0, num_targets)
    else:
      chunks = []
      for start in range(0, num_targets, chunk_size):
        end = min(start + chunk_size, num_targets)
        chunks.append(tf.cond(
            tf.reduce_any(target_valid[:, start:end]),
            lambda s=start, e=end: chunk_products(rows, s, e),
            lambda s=start, e=end: tf.zeros(
                [batch_size, 2 * num_queries, e - s], tf.float32)))
      products = tf.concat(chunks, axis=2)
    focal = (products[:, :num_queries] +
             pixel_sums(negative)[:, :, tf.newaxis]) / num_pixels
    target_sizes = tf.reduce_sum(tf.cast(target_masks, tf.float32), axis=-1)
    denominator = (pixel_sums(probs)[:, :, tf.newaxis] +
                   target_sizes[:, tf.newaxis, :])
    dice = 1.0 - (2.0 * products[:, num_queries:] + 1.0) / (denominator + 1.0)
    return focal, dice

  if target_valid is None:
    return costs()
  zeros = tf.zeros([batch_size, num_queries, num_targets], tf.float32)
  return tf.cond(tf.reduce_any(target_valid), costs, lambda: (zeros, zeros))


def matching_cost(pred_logits: tf.Tensor,
                  pred_masks: tf.Tensor,
                  target_classes: tf.Tensor,
                  target_masks: tf.Tensor,
                  target_valid: Optional[tf.Tensor] = None,
                  class_weight: float = 1.0,
                  mask_weight: float = 20.0,
                  dice_weight: float = 1.0,
                  focal_alpha: float = 0.25,
                  focal_gamma: float = 2.0,
                  valid_sizes: Optional[tf.Tensor] = None) -> tf.Tensor:
  """The matcher's cost: weighted sum of the focal, class and dice costs.

  As the original `HungarianMatcher.memory_efficient_forward`: the target
  masks are downsampled to the prediction size with PyTorch's legacy nearest
  rule (pixel 4i for a 4x reduction); the predictions are not resized. The
  N predictions may be the queries of several decoder layers concatenated,
  which shares the target masks between layers.

  Args:
    pred_logits: A float [B, N, K+1] tensor of class logits (any float dtype;
      computed in float32).
    pred_masks: A float [B, N, h, w] tensor of mask logits.
    target_classes: An int [B, T] tensor of class ids.
    target_masks: A bool or float [B, T, H, W] tensor of target masks at the
      padded image size (or already at the prediction size, [B, T, h, w]).
    target_valid: Optional bool [B, T] tensor of the slots holding a target:
      the mask costs are then computed only for chunks of slots that hold
      one (`mask_costs`).
    class_weight: Weight of the class cost.
    mask_weight: Weight of the focal cost.
    dice_weight: Weight of the dice cost.
    focal_alpha: Alpha of the focal cost.
    focal_gamma: Gamma of the focal cost.
    valid_sizes: None, or an int [B, 2] tensor: each image's region of the
      predictions (padding-exact computation); `target_masks` must then be at
      the prediction size, each image's region resized to it
      (`maskformer_input.resize_nearest_legacy`), and the mask costs cover
      the region only.

  Returns:
    A float32 [B, N, T] tensor. Entries of padded target slots are finite but
    meaningless; the matcher ignores them.
  """
  height, width = pred_masks.shape[-2], pred_masks.shape[-1]
  targets = target_masks
  if tuple(targets.shape[-2:]) != (height, width):
    targets = interpolation.resize_nearest_legacy(targets, (height, width))
  batch_size, num_targets = tf.shape(targets)[0], tf.shape(targets)[1]
  targets = tf.reshape(targets, [batch_size, num_targets, height * width])
  logits = tf.cast(pred_masks, tf.float32)
  logits = tf.reshape(logits, [batch_size, tf.shape(logits)[1], height * width])
  pixel_valid = None
  if valid_sizes is not None:
    pixel_valid = tf.reshape(
        valid_region.valid_mask(valid_sizes, (height, width)),
        [batch_size, height * width])
  focal, dice = mask_costs(
      logits, targets, focal_alpha, focal_gamma,
      None if target_valid is None else tf.cast(target_valid, tf.bool),
      pixel_valid=pixel_valid)
  return (mask_weight * focal
          + class_weight * class_cost(pred_logits, target_classes)
          + dice_weight * dice)
